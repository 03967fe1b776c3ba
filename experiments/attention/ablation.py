"""Ablation: the Transformer with and without the 1/sqrt(d_k) attention scale (d_k = 64, so 1/8).

  python -m experiments.attention.ablation [--seeds 0,1,2] [--length 25] [--force]

Trains configs/attention.py:model=transformer,task=reverse,length=L,scale=True|False with the reversal
grid's budget and the Transformer's learning rate chosen there on the validation split (results/reversal_lr.json;
the scale=True runs are the grid's own runs when they exist), for every seed, and plots the training-loss
curves (mean over seeds, shaded min–max) into results/ablation_scale.png.
"""

from __future__ import annotations

import argparse
import os

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.attention import common, reversal  # noqa: E402
from research import cli  # noqa: E402


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--force", action="store_true")
  p.add_argument("--length", type=int, default=25)
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--steps", type=int, default=reversal.STEPS)
  p.add_argument("--batch", type=int, default=reversal.BATCH)
  p.add_argument("--warmup", type=int, default=reversal.WARMUP)
  a = p.parse_args(argv)
  seeds = tuple(int(x) for x in a.seeds.split(","))
  budget = {"steps": a.steps, "batch": a.batch, "warmup": a.warmup}
  lr = reversal.chosen_lrs(budget)["transformer"]
  runs: dict[bool, list[dict]] = {True: [], False: []}
  for seed in seeds:
    for scale in (True, False):
      overrides = reversal.overrides_for(lr=lr, seed=seed, **budget)
      runs[scale].append(reversal.run_one("transformer", a.length, overrides, force=a.force, scale=scale))

  png = "ablation_scale.png"
  fig, ax = plt.subplots(figsize=(6, 4))
  for scale, label, color in ((True, "q·k / sqrt(d_k)  (scaled)", "C0"), (False, "q·k  (no scale)", "C3")):
    steps = runs[scale][0]["loss_steps"]
    curves = np.array([r["losses"] for r in runs[scale]])  # [seeds, logs]
    ax.plot(steps, curves.mean(0), color=color, label=f"{label}, mean of {len(curves)} seeds")
    ax.fill_between(steps, curves.min(0), curves.max(0), color=color, alpha=0.25, linewidth=0)
  ax.set_xlabel("training step")
  ax.set_ylabel("training loss (cross-entropy / token)")
  ax.set_yscale("log")
  ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
  ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
  ax.set_title(f"Transformer, reversal L≤{a.length}: attention scale ablation")
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(common.RESULTS, png), dpi=110)
  plt.close(fig)

  def at(summary: dict, frac: float) -> float:
    losses = summary["losses"]
    return losses[min(len(losses) - 1, int(frac * (len(losses) - 1)))]

  def ms(values: list[float]) -> str:
    return reversal.mean_std(values)
  rows = [["with 1/sqrt(d_k)" if s else "without", ms([at(r, 0.25) for r in runs[s]]),
           ms([at(r, 0.5) for r in runs[s]]), ms([r["losses"][-1] for r in runs[s]]),
           ms([r["token_accuracy"] for r in runs[s]]), ms([r["exact_match"] for r in runs[s]])] for s in (True, False)]
  loads = [r["load_average_1min_end"] for s in runs for r in runs[s]]
  text = f"""## 2. Ablation: Transformer attention with and without 1/sqrt(d_k)

```
{common.command_line()}
```

Reversal with sources of {a.length // 2} … {a.length} symbols, the grid's budget ({a.steps} steps of batch {a.batch},
{a.warmup} warmup steps, cosine decay, peak lr {lr:g} as chosen for the scaled model in 1a; the unscaled one gets
the same rate), d_k = 64 (scale 1/8), seeds {', '.join(map(str, seeds))}. Training loss is the mean over each
10-step logging interval; the curves are the mean over seeds, the shading the min–max. Cells: mean ± sample std
(seeds). Load average (1 min) at the end of the runs: {min(loads):.1f}–{max(loads):.1f}.

![loss curves](results/{png})

{common.table(["attention", "train loss @25%", "train loss @50%", "final train loss", "test token acc",
               "test exact match"], rows)}
"""
  common.write_section("ablation", text)


if __name__ == "__main__":
  cli.run_main(main)
