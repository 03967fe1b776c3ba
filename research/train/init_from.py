"""Starting a run from another run's weights: one mechanism for fine-tuning and warm starts.

    config.init_from = ConfigDict(dict(
        workdir="/tmp/pretrain",          # a finished run: its latest checkpoint's params are read
        subtrees=("encoder:bert",),       # 'target:source' pairs, '/'-separated paths; source '' = all its params
    ))

The trainer (registered as 'finetune', where init_from.workdir is required, and 'warm_start', where it may be
empty for a random init) builds the usual fresh state, replaces each target subtree of the model's params by
the source subtree of the checkpoint, and restarts the optimizer and the EMA at the result
(`TrainState.with_params`). Only a fresh run is initialized so: a resumed run restores its own checkpoint.
Extra entries in a source subtree (an LM's softmax a feature extractor never calls) are dropped; every leaf
the target needs must exist there with the same shape.

Alias: `init_from.source` / `init_from.target` (one pair, default 'trunk', the captioning configs' names)
mean `subtrees=("TARGET:SOURCE",)`. Layer-wise pretraining (`config.pretrain.kind`, research/train/pretraining_stage.py)
produces its weights inside the run instead and hands them over through the same `TrainState.with_params`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from research import registry
from research.data.vocab import load_vocab, vocab_filename
from research.errors import UserError
from research.train import sharding
from research.train.checkpoint import load_state
from research.train.loop import Trainer, TrainState


def parse_subtrees(spec: ConfigDict | dict | None) -> list[tuple[str, str]]:
  """config.init_from → [(target path, source path)], from `subtrees` or the `source`/`target` alias."""
  spec = spec or {}
  keys = spec.get("subtrees")
  if keys is None:
    keys = (f"{spec.get('target') or 'trunk'}:{spec.get('source') or 'trunk'}",)
  out = []
  for item in keys:
    target, sep, source = str(item).partition(":")
    if not sep or not target:
      raise UserError(f"config.init_from.subtrees entry {item!r} must be 'target:source' (source may be empty)")
    out.append((target, source))
  return out


def load_pretrained_params(workdir: str) -> dict[str, Any]:
  """The params of WORKDIR's latest checkpoint."""
  try:
    _, state, _ = load_state(os.path.expanduser(workdir))
  except FileNotFoundError:
    raise UserError(f"config.init_from.workdir={workdir!r} has no checkpoint; run the pretraining first") from None
  return state["params"]


def _get(tree: Any, path: str, what: str) -> Any:
  for part in [p for p in path.split("/") if p]:
    if not isinstance(tree, dict) or part not in tree:
      have = ", ".join(sorted(tree)) if isinstance(tree, dict) else "an array"
      raise UserError(f"config.init_from.subtrees: {what} has no parameter subtree {path!r} (it has {have})")
    tree = tree[part]
  return tree


def _put(tree: dict[str, Any], path: str, value: Any) -> Any:
  parts = [p for p in path.split("/") if p]
  if not parts:
    return value
  return {**tree, parts[0]: _put(tree[parts[0]], "/".join(parts[1:]), value)}


def _select(ours: Any, theirs: Any, path: str) -> Any:
  """`theirs` restricted to the structure of `ours`; every leaf must exist with the same shape."""
  if isinstance(ours, dict):
    if not isinstance(theirs, dict):
      raise UserError(f"pretrained {path} is an array where the model has a subtree")
    missing = sorted(set(ours) - set(theirs))
    if missing:
      raise UserError(f"pretrained {path} has no {missing[0]!r}; use the same model as the pretraining run")
    return {k: _select(ours[k], theirs[k], f"{path}/{k}") for k in ours}
  if np.shape(ours) != np.shape(theirs):
    raise UserError(f"pretrained {path} of shape {np.shape(theirs)} does not fit the model's {np.shape(ours)}; use "
                    "the same model sizes as the pretraining run")
  return theirs


def merge_params(params: dict[str, Any], pretrained: dict[str, Any], pairs: Sequence[tuple[str, str]]
                 ) -> dict[str, Any]:
  """params with each target subtree replaced by pretrained[source], cast to the model's dtypes."""
  for target, source in pairs:
    ours = _get(params, target, "the model")
    theirs = _select(ours, _get(pretrained, source, "the pretrained run"), source or "(all)")
    params = _put(params, target, jax.tree.map(lambda a, b: jnp.asarray(b, a.dtype), ours, theirs))
  return params


class InitFromTrainer(Trainer):
  """The supervised Trainer whose fresh state starts from config.init_from (see the module docstring)."""

  required = True  # 'finetune' needs init_from.workdir; 'warm_start' allows a random init

  def init_state(self) -> TrainState:
    state = super().init_state()
    spec = self.config.get("init_from")
    if spec is None or not spec.get("workdir"):
      if self.required:
        raise UserError("trainer 'finetune' needs config.init_from.workdir (a finished pretraining run)")
      return state
    src_dir = os.path.expanduser(spec.workdir)
    vocab = self.dataset.info.get("vocab")
    if vocab is not None and hasattr(vocab, "fingerprint"):
      saved = os.path.join(src_dir, vocab_filename(vocab))
      if os.path.exists(saved) and load_vocab(saved).fingerprint() != vocab.fingerprint():
        raise UserError(f"the vocabulary of {src_dir} differs from this dataset's; set "
                        f"config.dataset.vocab_path={saved}")
    params = merge_params(jax.device_get(state.params), load_pretrained_params(src_dir), parse_subtrees(spec))
    return jax.device_put(state.with_params(params, self.tx), sharding.replicated(self.mesh))


class WarmStartTrainer(InitFromTrainer):
  required = False


@registry.trainers.register("finetune")
def finetune(config: ConfigDict, workdir: str, *, allow_config_change: bool = False):
  return InitFromTrainer(config, workdir, allow_config_change=allow_config_change).run()


@registry.trainers.register("warm_start")
def warm_start(config: ConfigDict, workdir: str, *, allow_config_change: bool = False):
  return WarmStartTrainer(config, workdir, allow_config_change=allow_config_change).run()
