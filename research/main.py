"""The one entry point: `python -m research.main --config=configs/X.py[:arg] --workdir=DIR [--config.k=v ...]`.

The config (locked, so a misspelled override fails) says what to run: `config.trainer` picks the
loop and `config.mode` the mode. Problems the user can fix are printed as one `error:` line on
stderr with a non-zero exit.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from research import cli
from research.errors import UserError

FLAGS = flags.FLAGS
_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file (configs/<family>.py[:arg]).",
                                          lock_config=True)
flags.DEFINE_string("workdir", None, "Folder for this run: config.json, metrics.jsonl, checkpoints/, plots/, "
                    "TensorBoard events and results.md. A run resumes from the checkpoints it finds there.")
flags.DEFINE_bool("allow_config_change", False, "Continue a workdir whose config.json differs from --config "
                  "(the old config.json is kept as config.<time>.json).")


def _config_path(argv: list[str]) -> str | None:
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _unknown_override(argv: list[str]) -> str | None:
  """The first `--config.a.b=v` whose key the config file does not define, with a suggestion."""
  path = _config_path(argv)
  if not path:
    return None
  file, _, arg = path.partition(":")
  spec = importlib.util.spec_from_file_location("_research_config_probe", file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg or None)
  for a in argv:
    if not a.startswith("--config."):
      continue
    key = a[len("--config."):].split("=", 1)[0]
    node = config
    for i, part in enumerate(key.split(".")):
      if not hasattr(node, "keys") or part not in node:
        options = list(node.keys()) if hasattr(node, "keys") else []
        close = difflib.get_close_matches(part, options, n=1)
        hint = f" (did you mean config.{'.'.join(key.split('.')[:i] + [close[0]])}?)" if close else ""
        return f"unknown config key config.{key}{hint}; the config file defines no such field"
      node = node[part]
  return None


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's parser, with every problem (unknown key, wrong type, bad config file) reduced to one line."""
  path = _config_path(argv)
  if path and not os.path.isfile(path.partition(":")[0]):
    _fail(f"config file {path.partition(':')[0]} not found; pass --config=configs/<family>.py (see configs/)")
  try:
    rest = FLAGS(argv)
    if FLAGS.config is None:
      raise UserError("--config is required, e.g. --config=configs/quickstart.py")
    FLAGS.config.get("trainer")  # config_flags loads lazily: surface loading errors here
    return rest
  except UserError as e:
    _fail(str(e))
  except flags.Error as e:
    _fail(cli.one_line(e))
  except Exception as e:  # an override of a missing key, or a config file raising while it loads
    try:
      unknown = _unknown_override(argv)
    except Exception:
      unknown = None
    _fail(unknown or f"could not load --config ({type(e).__name__}: {cli.one_line(e)})")
  return []


def _fail(message: str) -> None:
  sys.exit(cli.print_error(message))


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    _fail(f"unexpected arguments {' '.join(argv[1:])}; use --flag=value")
  config = FLAGS.config
  if not FLAGS["verbosity"].present:  # keep the console to our progress lines unless asked otherwise
    logging.set_verbosity(logging.WARNING)
  try:
    import jax

    from research import registry
    from research.train import distributed
    distributed.maybe_initialize(config)
    trainer = registry.trainers.get(config.get("trainer", "supervised"))
    trainer(config, FLAGS.workdir, allow_config_change=FLAGS.allow_config_change)
    del jax
  except UserError as e:
    _fail(cli.one_line(e))


def run() -> None:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
