"""Helpers shared by the seq2seq experiments: train through the one loop, decode from its final state,
and format markdown tables."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from research.config import override
from research.errors import UserError
from research.train.loop import Trainer


def train(config: ConfigDict, workdir: str) -> Trainer:
  """Trains `config` in `workdir` with research.train.loop.Trainer (resuming, or only re-evaluating a finished
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


# ----------------------------------------------------------------------------------------------------
# The zh→en Bible budget shared by experiments/seq2seq/bible.py (search comparison on the plain LSTM) and
# experiments/attention/bible.py (plain LSTM vs Luong vs Transformer): one trained run per model, so the
# search sweep decodes the very checkpoint the model comparison scored instead of training it twice.

# BLEU by source length: Chinese characters of the source verse, inclusive ranges (every Bible table uses these).
BUCKETS = ((1, 20), (21, 40), (41, 60), (61, 1000))


def bucket_name(lo: int, hi: int) -> str:
  return f"{lo}–{hi}" if hi < 1000 else f"≥{lo}"


def bleu_by_bucket(score: Callable[[list[str], list[str]], Any], texts: Sequence[str], refs: Sequence[str],
                   sources: Sequence[Any]) -> dict[str, dict[str, float]]:
  """{bucket name: {'bleu', 'n'}} of the non-empty BUCKETS, by len(source); `score(hyps, refs)` → a BLEU result."""
  src_len = np.array([len(s) for s in sources])
  out = {}
  for lo, hi in BUCKETS:
    idx = np.flatnonzero((src_len >= lo) & (src_len <= hi))
    if len(idx):
      out[bucket_name(lo, hi)] = {"bleu": float(score([texts[i] for i in idx], [refs[i] for i in idx]).score),
                                  "n": len(idx)}
  return out


BIBLE_MODELS = ("lstm", "luong_dot", "luong_general", "transformer")
BIBLE_WORKDIRS = os.environ.get("BIBLE_WORKDIRS", "/tmp/bible_runs")
# Every model: the same steps, batch, data, vocabularies and schedule shape (configs/seq2seq.py, task=bible).
# The Transformer gets its own width (configs/attention.py's default is sized for the synthetic tasks) and
# peak learning rate; the LSTMs keep configs/seq2seq.py's.
BIBLE_TRANSFORMER = {"model.d_model": 256, "model.num_heads": 4, "model.d_ff": 1024,
                     "model.num_encoder_layers": 2, "model.num_decoder_layers": 2,
                     "optimizer.learning_rate": 1.5e-3}
# Evaluation inside the training run: teacher-forced NLL/accuracy on the test split only; the scripts
# decode themselves (bible_test_set), on untruncated sources.
BIBLE_EVAL = {"dataset.eval_splits": ("test",), "decode.num_sentences": 0, "eval_every_steps": -1}
BIBLE_QUICK = {"dataset.train_limit": 2000, "dataset.eval_limit": 100, "num_train_steps": 30,
               "optimizer.warmup_steps": 5, "log_every_steps": 10}


def bible_overrides(model: str, quick: bool = False) -> dict[str, Any]:
  """The dotted overrides of configs/attention.py:model=<model>,task=bible for the shared Bible budget."""
  if model not in BIBLE_MODELS:
    raise UserError(f"--model={model!r}: use one of {', '.join(BIBLE_MODELS)}")
  out = dict(BIBLE_EVAL)
  if model == "transformer":
    out.update(BIBLE_TRANSFORMER)
  if quick:
    out.update(BIBLE_QUICK)
  return out


def bible_config(model: str, quick: bool = False) -> ConfigDict:
  """configs/attention.py:model=<model>,task=bible with the shared budget's overrides (its `lstm` is
  configs/seq2seq.py's Bible model unchanged)."""
  from configs import attention  # noqa: PLC0415  (configs/attention.py builds on configs/seq2seq.py)
  return override(attention.get_config(f"model={model},task=bible"), bible_overrides(model, quick))


def bible_workdir(model: str, quick: bool = False) -> str:
  return os.path.join(BIBLE_WORKDIRS, f"{model}{'_quick' if quick else ''}")


def bible_test_set(trainer: Trainer, limit: int = 0) -> dict[str, list[Any]]:
  """The test verses for BLEU: ids of the *untruncated* source (the training run's test split holds
  sources truncated to config.dataset.max_len), the Chinese text and the KJV reference.

  The vocabularies depend only on the training texts, so re-encoding `src_text` gives the ids the model
  knows. `limit` > 0: the first `limit` verses. Returns {'src': [int32[S_i]], 'src_text': [...],
  'ref': [...]}.
  """
  test = trainer.eval_sources["test"]
  n = len(test) if limit <= 0 else min(limit, len(test))
  vocab = trainer.dataset.info["src_vocab"]
  texts = [str(t) for t in test.columns["src_text"][:n]]
  return {"src": [vocab.encode(t) for t in texts], "src_text": texts,
          "ref": [str(t) for t in test.columns["tgt_text"][:n]]}
