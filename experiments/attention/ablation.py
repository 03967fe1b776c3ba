"""Ablation: the Transformer with and without the 1/sqrt(d_k) attention scale (d_k = 64, so 1/8).

  python -m experiments.attention.ablation [--quick] [--force] [--length L]

Trains configs/attention.py:model=transformer,task=reverse,length=L,scale=True|False with the reversal
experiment's settings (the scale=True run is shared with reversal.py when its length is in that sweep)
and plots both training-loss curves into results/ablation_scale.png.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.attention import common, reversal  # noqa: E402


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--quick", action="store_true")
  p.add_argument("--force", action="store_true")
  p.add_argument("--length", type=int, default=25)
  a = p.parse_args()
  overrides = dict(reversal.OVERRIDES, num_train_steps=60) if a.quick else dict(reversal.OVERRIDES)
  runs = {}
  for scale in (True, False):
    arg = f"model=transformer,task=reverse,length={a.length},scale={scale}"
    name = common.run_name(arg, overrides)
    summary = None if a.force else common.load_run(name)
    if summary is None:
      if scale:  # the same run as reversal.py's transformer at this length
        summary = reversal.run_one("transformer", a.length, overrides, a.force)
      else:
        trainer, workdir = common.train(arg, overrides, force=a.force)
        hyps, examples = common.greedy_decode(trainer, "test", 500, trainer.config.decode.max_decode_len)
        steps, losses = common.loss_curve(workdir)
        summary = {"arg": arg, "exact_match": common.exact_match(hyps, list(examples["tgt"])),
                   "token_accuracy": float(trainer.final["test"]["token_accuracy"]),
                   "test_loss": float(trainer.final["test"]["loss"]), "loss_steps": steps, "losses": losses,
                   "steps": int(trainer.config.num_train_steps), "wall_s": trainer.wall_seconds}
        common.save_run(name, summary)
    runs[scale] = summary

  suffix = "_quick" if a.quick else ""
  png = f"ablation_scale{suffix}.png"
  fig, ax = plt.subplots(figsize=(6, 4))
  for scale, label in ((True, "q·k / sqrt(d_k)  (scaled)"), (False, "q·k  (no scale)")):
    ax.plot(runs[scale]["loss_steps"], runs[scale]["losses"], label=label)
  ax.set_xlabel("training step")
  ax.set_ylabel("training loss (cross-entropy / token)")
  ax.set_title(f"Transformer, reversal L≤{a.length}: attention scale ablation")
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(common.RESULTS, png), dpi=110)
  plt.close(fig)

  def at(summary, frac):
    losses = summary["losses"]
    return losses[min(len(losses) - 1, int(frac * (len(losses) - 1)))]
  rows = [["with 1/sqrt(d_k)" if s else "without", at(runs[s], 0.25), at(runs[s], 0.5), runs[s]["losses"][-1],
           runs[s]["token_accuracy"], runs[s]["exact_match"]] for s in (True, False)]
  text = f"""## 2. Ablation: Transformer attention with and without 1/sqrt(d_k)

```
{common.command_line()}
```

Reversal with sources of up to {a.length} symbols, {runs[True]['steps']} steps, d_k = 64 (scale 1/8), one seed.
Training loss is the mean over each 10-step logging interval.

![loss curves](results/{png})

{common.table(["attention", "train loss @25%", "train loss @50%", "final train loss", "test token acc",
               "test exact match"], rows)}
"""
  common.write_section("ablation" + suffix, text)


if __name__ == "__main__":
  main()
