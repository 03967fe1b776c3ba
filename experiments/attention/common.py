"""Helpers shared by the attention experiments: train a configs/attention.py run through the one loop
(research.train.loop.Trainer), read its loss curve and training throughput from metrics.jsonl, decode with
the common `step_fn` searches, pull attention weights out of the trained model, and write tables.

Every run's summary is cached as JSON under experiments/attention/results/runs/<name>.json so the
README can be rebuilt without retraining (`--force` retrains).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from configs import attention as attention_config
from research.config import override
from research.decoding.decoder import Decoder, DecodeSettings
from research.train.loop import Trainer
from research.train.metric_writers import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
RUNS = os.path.join(RESULTS, "runs")
WORKDIRS = os.environ.get("ATTENTION_WORKDIRS", "/tmp/attention_runs")


def config_for(arg: str, **overrides: Any) -> ConfigDict:
  """configs/attention.py:<arg> with dotted-key overrides ('dataset.train_limit': 4000)."""
  return override(attention_config.get_config(arg), overrides)


def safe_name(text: str) -> str:
  """Only [A-Za-z0-9._-] in file names (values like ('test',) would add quotes and parentheses);
  long names keep a readable prefix and a hash of the whole."""
  clean = re.sub(r"[^A-Za-z0-9._-]", "", text)
  if len(clean) > 120:
    clean = clean[:100] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
  return clean


def run_name(arg: str, overrides: dict[str, Any]) -> str:
  text = arg.replace(",", "_").replace("=", "-")
  if overrides:
    text += "__" + "_".join(f"{k.split('.')[-1]}-{v}" for k, v in sorted(overrides.items()))
  return safe_name(text)


def train(arg: str, overrides: dict[str, Any], *, force: bool = False) -> tuple[Trainer, str]:
  """Trains (or resumes / re-opens a finished) run; returns (trainer, workdir)."""
  workdir = os.path.join(WORKDIRS, run_name(arg, overrides))
  if force and os.path.isdir(workdir):
    import shutil
    shutil.rmtree(workdir)
  os.makedirs(WORKDIRS, exist_ok=True)
  trainer = Trainer(config_for(arg, **overrides), workdir, allow_config_change=False)
  start = time.perf_counter()
  trainer.final = trainer.run()
  trainer.wall_seconds = time.perf_counter() - start
  return trainer, workdir


def variables_of(trainer: Trainer) -> dict[str, Any]:
  state = trainer.state
  params = state.ema_params if state.ema_params is not None else state.params
  return {"params": params, **state.model_state}


def loss_curve(workdir: str) -> tuple[list[int], list[float]]:
  """(steps, training loss averaged over each logging interval) from metrics.jsonl."""
  rows = [r for r in read_metrics(workdir) if r.get("split") == "train" and "loss" in r]
  last = {}
  for r in rows:  # a resumed run may log a step twice: keep the latest
    last[r["step"]] = r["loss"]
  steps = sorted(last)
  return steps, [float(last[s]) for s in steps]


def mean_target_tokens(trainer: Trainer, limit: int = 4000) -> float:
  """Mean real target tokens per training pair (eos included): what the loss is averaged over."""
  src = trainer.train_source
  n = min(limit, len(src))
  tgts = src.__getitems__(np.arange(n))["tgt"]
  return float(np.mean([len(t) + 1 for t in tgts]))


def train_tokens_per_second(trainer: Trainer, workdir: str) -> float:
  """Target tokens per second of training, from the wall clock of the train logs in metrics.jsonl.

  Measured between the first and last training log, so the first step's compilation is excluded;
  checkpoint writes in between are included. Runs evaluate only at the end (eval_every_steps=-1).
  """
  rows = [r for r in read_metrics(workdir) if r.get("split") == "train"]
  by_step = {}
  for r in rows:
    by_step.setdefault(r["step"], r["time"])
  steps = sorted(by_step)
  if len(steps) < 2 or by_step[steps[-1]] <= by_step[steps[0]]:
    return float("nan")
  tokens = (steps[-1] - steps[0]) * trainer.config.batch_size * mean_target_tokens(trainer)
  return tokens / (by_step[steps[-1]] - by_step[steps[0]])


def greedy_decode(trainer: Trainer, split: str, n: int, max_len: int) -> tuple[list[np.ndarray], dict[str, Any]]:
  """Greedy hypotheses (ids, no eos) for the first n pairs of `split`, and those pairs' columns."""
  info = trainer.dataset.info
  source = trainer.eval_sources[split]
  n = min(n, len(source))
  examples = source.__getitems__(np.arange(n))
  decoder = Decoder(trainer.model, bos_id=int(info["bos_id"]), eos_id=int(info["eos_id"]),
                    pad_id=int(info["pad_id"]))
  hyps, _, _ = decoder.translate(variables_of(trainer), list(examples["src"]),
                                 DecodeSettings("greedy", 1, 0.0, max_len), batch_size=256)
  return hyps, examples


def exact_match(hyps: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> float:
  """Fraction of hypotheses equal to their target token for token (the decoded sequence accuracy)."""
  return float(np.mean([len(h) == len(t) and bool(np.all(np.asarray(h) == np.asarray(t)))
                        for h, t in zip(hyps, targets, strict=True)]))


def attention_maps(trainer: Trainer, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
  """Teacher-forced attention of one pair: src int[S], tgt int[T] (no bos/eos).

  Returns float32[H, T + 1, S]: row t is where the decoder looked while predicting output t (the last
  row predicts <eos>). Luong: H = 1 (its one attention); Transformer: every head of the last decoder
  layer's cross-attention.
  """
  info = trainer.dataset.info
  src_b = jnp.asarray(np.asarray(src, np.int32)[None])
  tgt_in = jnp.asarray(np.concatenate([[int(info["bos_id"])], np.asarray(tgt, np.int32)])[None].astype(np.int32))
  _, weights = trainer.model.apply(variables_of(trainer), src_b, tgt_in, train=False, return_attention=True)
  if "decoder_cross" in weights:  # Transformer: {'decoder_cross': [w[B, H, T, S]] per layer, ...}
    return np.asarray(jax.device_get(weights["decoder_cross"][-1][0]), np.float32)
  return np.asarray(jax.device_get(weights["attention"][0]), np.float32)[None]  # Luong: [B, T, S]


def save_run(name: str, summary: dict[str, Any]) -> None:
  os.makedirs(RUNS, exist_ok=True)
  with open(os.path.join(RUNS, f"{name}.json"), "w") as f:
    json.dump(summary, f, indent=1, sort_keys=True)


def load_run(name: str) -> dict[str, Any] | None:
  path = os.path.join(RUNS, f"{name}.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  def fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
      if v != v:
        return "–"
      return f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def write_section(name: str, text: str) -> None:
  """Writes results/<name>.md and rebuilds README.md from every section present."""
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
    f.write(text.rstrip() + "\n")
  from experiments.attention import make_readme
  make_readme.main()


def command_line() -> str:
  module = sys.modules["__main__"].__spec__.name if sys.modules["__main__"].__spec__ else "?"
  return " ".join(["python -m", module, *sys.argv[1:]])


def save_attention(name: str, trainer: Trainer, sources: Sequence[np.ndarray], hyps: Sequence[np.ndarray],
                   max_tgt: int = 40) -> None:
  """Saves the attention maps of (source, greedy hypothesis) pairs to results/runs/<name>.attention.json
  with the token strings, for heatmaps.py. Models without attention (lstm_seq2seq) are skipped."""
  if trainer.config.model_name not in ("luong_seq2seq", "transformer"):
    return
  info = trainer.dataset.info
  src_tokens, tgt_tokens = info["src_vocab"].tokens, info["tgt_vocab"].tokens
  out = []
  for src, hyp in zip(sources, hyps, strict=True):
    hyp = np.asarray(hyp, np.int32)[:max_tgt]
    maps = attention_maps(trainer, np.asarray(src, np.int32), hyp)
    out.append({"src": [src_tokens[i] for i in src], "tgt": [tgt_tokens[i] for i in hyp] + ["<eos>"],
                "weights": np.round(maps, 4).tolist()})  # [H, T + 1, S]
  os.makedirs(RUNS, exist_ok=True)
  with open(os.path.join(RUNS, f"{name}.attention.json"), "w") as f:
    json.dump({"model": trainer.config.name, "model_name": trainer.config.model_name, "pairs": out}, f)
