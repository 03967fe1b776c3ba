"""The experiment runner the result-caching experiment families share: train one config through the registered
trainer (the same path as `python -m research.main`), keep its numbers as RESULTS/<name>.json and its per-example
test outputs as RESULTS/examples/<name>.test.jsonl.gz, so the README generators rebuild every table, CI and
p-value from the repository alone.

  record = run("fl_reg_none_n100_s0", "deep_nets.py", "experiment=overfitting",
               workroot="/tmp/few_labels", results=RESULTS, overrides={"dataset.train_examples": 100})

A run whose JSON exists is not retrained (delete the JSON to re-run it); a workdir trained earlier is resumed by
the trainer (its last checkpoint restored and evaluated), not retrained.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
from ml_collections import ConfigDict

from research import registry
from research.config import override
from research.errors import UserError
from research.evaluation import outputs
from research.train.metric_writers import read_metrics

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")


def chosen_stages(parser: argparse.ArgumentParser, a: argparse.Namespace, stages: Sequence[str],
                  results: str) -> list[str]:
  """The run_all scripts' shared flags: a.only ('all' or comma-separated stage names) → the stages to run, in that
  order (an unknown one is a parser error); sets a.results to `results`, or with a.quick moves a.workroot and
  a.results under WORKROOT/quick/ — a smoke test never resumes real workdirs or overwrites results/."""
  chosen = list(stages) if a.only == "all" else a.only.split(",")
  unknown = [s for s in chosen if s not in stages]
  if unknown:
    parser.error(f"unknown stage {unknown[0]!r}; use {', '.join(stages)}")
  if a.quick:
    a.workroot = os.path.join(a.workroot, "quick")
    a.results = os.path.join(a.workroot, "results")
  else:
    a.results = results
  print(f"workdirs under {a.workroot}, results in {a.results}", flush=True)
  return chosen


def load_config(file: str, arg: str) -> ConfigDict:
  """configs/<file>'s get_config(arg), loaded by path (configs/ is not a package)."""
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(CONFIGS, file))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def save_examples(workdir: str, name: str, results: str) -> str | None:
  """Keeps the run's per-example test outputs (WORKDIR/examples/test.jsonl, written by the classification tasks) as
  RESULTS/examples/<name>.test.jsonl.gz. Returns that path relative to RESULTS, or None when the task wrote none."""
  src = os.path.join(workdir, "examples", "test.jsonl")
  if not os.path.exists(src):
    return None
  rel = os.path.join("examples", f"{name}.test.jsonl.gz")
  ex = outputs.read_examples(src)
  outputs.write_examples(os.path.join(results, rel), ex.columns, header={**ex.header, "run": name})
  return rel


def run(name: str, file: str, arg: str, *, workroot: str, results: str,
        overrides: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
  """Trains (or resumes) configs/<file>:<arg> with `overrides` (dotted keys, as --config.KEY=VALUE) in
  WORKROOT/<name>; writes and returns RESULTS/<name>.json: {name, config, overrides?, final, last_train, examples?,
  history, wall_s, device, finished_utc}. None when the workdir is held by another process (it is left to it)."""
  out = os.path.join(results, f"{name}.json")
  if os.path.exists(out):
    with open(out) as f:
      return json.load(f)
  config = load_config(file, arg)
  if overrides:
    override(config, dict(overrides))
  workdir = os.path.join(workroot, name)
  # A resumed workdir's training time is the last logged time of the process that trained it.
  prior_s = max((r.get("time", 0.0) for r in read_metrics(workdir)), default=0.0)
  t0 = time.time()
  shown = "".join(f" --config.{k}={v}" for k, v in (overrides or {}).items())
  print(f"=== {name}: {file}:{arg}{shown}", flush=True)
  try:
    final = registry.trainers.get(config.trainer)(config, workdir)
  except UserError as e:  # e.g. another process holds this workdir's lock
    print(f"--- {name} skipped: {e}", flush=True)
    return None
  rows = read_metrics(workdir)
  train = [r for r in rows if r["split"] == "train"]
  examples = save_examples(workdir, name, results)
  record = {"name": name, "config": f"configs/{file}:{arg}", **({"overrides": dict(overrides)} if overrides else {}),
            "final": final, "last_train": train[-1] if train else {},
            **({"examples": examples} if examples else {}),
            "history": rows, "wall_s": round(time.time() - t0 + prior_s, 1), "device": jax.devices()[0].platform,
            "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
  os.makedirs(results, exist_ok=True)
  with open(out, "w") as f:
    json.dump(record, f, indent=1)
  return record
