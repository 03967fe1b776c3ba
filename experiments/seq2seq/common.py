"""Helpers shared by the seq2seq experiments: train through the one loop, decode from its final state,
and format markdown tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from research import seq2seq_task  # noqa: F401  (registers the 'seq2seq' task)
from research.errors import UserError
from research.train import Trainer


def run(main: Callable[[], None]) -> None:
  """Runs an experiment's main; a user-fixable problem is one `error:` line and exit status 2."""
  try:
    main()
  except UserError as e:
    print(f"error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
    sys.exit(2)


def train(config: ConfigDict, workdir: str) -> Trainer:
  """Trains `config` in `workdir` with research.train.Trainer (resuming, or only re-evaluating a finished
  run) and returns the trainer, whose `.state` is the final (checkpointed) state."""
  os.makedirs(os.path.dirname(os.path.abspath(workdir)), exist_ok=True)
  trainer = Trainer(config, workdir, allow_config_change=False)
  trainer.final = trainer.run()
  return trainer


def variables_of(trainer: Trainer) -> dict[str, Any]:
  state = trainer.state
  params = state.ema_params if state.ema_params is not None else state.params
  return {"params": params, **state.model_state}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  def fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
      return f"{v:.2f}" if abs(v) >= 0.1 or v == 0 else f"{v:.3g}"
    return str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)
