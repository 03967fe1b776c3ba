"""Where metrics go: WORKDIR/metrics.jsonl, TensorBoard events (tensorboardX), a console line,
learning-curve PNGs in WORKDIR/plots/ and the WORKDIR/results.md summary. Only process 0 writes."""

from __future__ import annotations

import collections
import datetime
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax


class MetricWriter:
  """Appends one JSON line per (step, split) and mirrors it to TensorBoard and the console."""

  def __init__(self, workdir: str, total_steps: int | None = None, *, tensorboard: bool = True):
    self.workdir = workdir
    self.total_steps = total_steps
    self.enabled = jax.process_index() == 0
    self._t0 = time.time()
    self._last = (None, None)  # (step, time) of the previous train log, for steps/s
    self._tb = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
      if tensorboard:
        from tensorboardX import SummaryWriter
        self._tb = SummaryWriter(logdir=workdir, flush_secs=30)

  def write(self, step: int, split: str, metrics: Mapping[str, float], *, console: bool = True) -> None:
    if not self.enabled:
      return
    now = time.time()
    row = {"step": int(step), "split": split, "time": round(now - self._t0, 3)}
    row.update({k: float(v) for k, v in metrics.items()})
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()
    if self._tb is not None:
      for k, v in metrics.items():
        if math.isfinite(float(v)):
          self._tb.add_scalar(f"{split}/{k}", float(v), int(step))
    if console:
      print(self._console_line(step, split, metrics, now), flush=True)

  def _console_line(self, step: int, split: str, metrics: Mapping[str, float], now: float) -> str:
    total = f"/{self.total_steps}" if self.total_steps else ""
    parts = [f"[{split}] step {step}{total}"]
    parts += [f"{k} {v:.4g}" for k, v in metrics.items() if not k.startswith("_")]
    if split == "train":
      prev_step, prev_time = self._last
      if prev_step is not None and step > prev_step:
        rate = (step - prev_step) / max(now - prev_time, 1e-9)
        parts.append(f"{rate:.1f} steps/s")
        if self.total_steps:
          eta = (self.total_steps - step) / max(rate, 1e-9)
          parts.append(f"ETA {datetime.timedelta(seconds=round(eta))}")
      self._last = (step, now)
    return " | ".join(parts)

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      if self._tb is not None:
        self._tb.close()


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def plot_learning_curves(workdir: str, rows: Sequence[dict[str, Any]] | None = None) -> list[str]:
  """One PNG per metric in WORKDIR/plots/, every split on the same axes. Returns the files written."""
  if jax.process_index() != 0:
    return []
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  rows = read_metrics(workdir) if rows is None else rows
  series: dict[str, dict[str, dict[int, float]]] = collections.defaultdict(lambda: collections.defaultdict(dict))
  for r in rows:
    if r.get("split") == "diagnostics":  # many per-layer series: research.train.diagnostics plots those
      continue
    for k, v in r.items():
      if k in ("step", "split", "time") or not isinstance(v, (int, float)):
        continue
      series[k][r["split"]][r["step"]] = v  # a resumed run overwrites the replayed steps
  out_dir = os.path.join(workdir, "plots")
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for name, by_split in sorted(series.items()):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for split, points in sorted(by_split.items()):
      steps = sorted(points)
      ax.plot(steps, [points[s] for s in steps], marker="o" if len(steps) < 20 else None, label=split)
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, f"{name.replace('/', '_')}.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
  return written


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  def fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def write_results(workdir: str, title: str, sections: Mapping[str, str]) -> str:
  """WORKDIR/results.md: a title and named markdown sections (tables, notes)."""
  path = os.path.join(workdir, "results.md")
  if jax.process_index() == 0:
    with open(path + ".tmp", "w") as f:
      f.write(f"# {title}\n\n")
      for heading, body in sections.items():
        f.write(f"## {heading}\n\n{body.rstrip()}\n\n")
    os.replace(path + ".tmp", path)
  return path
