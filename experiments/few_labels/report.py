"""experiments/few_labels/README.md from results/*.json and results/examples/ (written by run_all.py).

  python -m experiments.few_labels.report

Each cell is the seed-averaged test accuracy with its 95% bootstrap interval over the 10,000 test images and the
paired bootstrap p-value against the row's reference (research.tools.compare.seeds_accuracy, 1,000 resamples).
"""

from __future__ import annotations

import json
import os

from experiments.few_labels import run_all
from research.evaluation import outputs, stats
from research.tools import compare
from research.tools.report import mean_std

HERE = run_all.HERE
RESULTS = run_all.RESULTS


def _runs(name_of, variant: str, n: int) -> list[dict]:
  out = []
  for seed in range(10):
    path = os.path.join(RESULTS, f"{name_of(variant, n, seed)}.json")
    if os.path.exists(path):
      with open(path) as f:
        out.append(json.load(f))
  return out


def _examples(runs: list[dict]) -> list[outputs.Examples]:
  return [outputs.read_examples(os.path.join(RESULTS, r["examples"])) for r in runs]


def _table(header: list[str], rows: list[list[str]]) -> str:
  return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                   + ["| " + " | ".join(r) + " |" for r in rows])


def section(name_of, variants: list[str], references: list[str]) -> tuple[str, dict]:
  """A table with a row per (size, variant) and p-values against each reference; {(variant, n): SeedsAccuracy}
  and {(variant, reference, n): p} for the verdicts."""
  rows, acc, pvals = [], {}, {}
  for n in run_all.SIZES:
    runs = {v: _runs(name_of, v, n) for v in variants}
    if any(not r for r in runs.values()):
      continue
    for ref in references:
      others = [v for v in variants if v != ref]
      res = compare.seeds_accuracy([_examples(runs[ref])] + [_examples(runs[v]) for v in others], [ref] + others)
      acc[ref, n] = res[0]
      for v, r in zip(others, res[1:], strict=True):
        acc[v, n] = r
        pvals[v, ref, n] = (r.test.p_value, r.interval.estimate - res[0].interval.estimate)
    for v in variants:
      a = acc[v, n]
      train = mean_std([r["final"]["train_subset"]["accuracy"] for r in runs[v]])[0]
      ps = [("—" if v == ref else f"{pvals[v, ref, n][1]:+.4f}, {stats.format_p(pvals[v, ref, n][0])}")
            for ref in references]
      rows.append([f"{n:,}", v, str(len(runs[v])), f"{train:.4f}", a.row()[3], *ps])
  header = ["labels", "variant", "seeds", "train accuracy (mean)", "test accuracy [95% CI]",
            *[f"Δ, p vs {ref}" for ref in references]]
  return _table(header, rows), pvals


def verdict(pvals: dict, variant: str, ref: str) -> str:
  better = [f"{n:,}" for (v, r, n), (p, d) in sorted(pvals.items(), key=lambda kv: kv[0][2])
            if v == variant and r == ref and p < 0.05 and d > 0]
  worse = [f"{n:,}" for (v, r, n), (p, d) in sorted(pvals.items(), key=lambda kv: kv[0][2])
           if v == variant and r == ref and p < 0.05 and d < 0]
  return (f"{variant} vs {ref}: better at {', '.join(better) or 'no size'}, worse at {', '.join(worse) or 'no size'}"
          " (p < 0.05)")


def _plot(name_of, variants: list[str], path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5.5, 3.6))
  for v in variants:
    xs, ys = [], []
    for n in run_all.SIZES:
      runs = _runs(name_of, v, n)
      if runs:
        xs.append(n)
        ys.append(compare.seeds_accuracy([_examples(runs)], [v])[0].interval)
    ax.errorbar(xs, [i.estimate for i in ys], yerr=[[i.estimate - i.low for i in ys], [i.high - i.estimate for i in ys]],
                marker="o", capsize=3, label=v)
  ax.set_xscale("log")
  ax.set_xlabel("labelled training images")
  ax.set_ylabel("test accuracy (seed-averaged, 95% CI)")
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main() -> None:
  pre_variants = list(run_all.PRETRAIN_VARIANTS)
  pre_table, pre_p = section(run_all.pretrain_name, pre_variants, ["random", "relu"])
  reg_table, reg_p = section(run_all.regularize_name, list(run_all.REGULARIZERS), ["none"])
  _plot(run_all.pretrain_name, pre_variants, os.path.join(RESULTS, "pretrain_curve.png"))
  _plot(run_all.regularize_name, list(run_all.REGULARIZERS), os.path.join(RESULTS, "regularize_curve.png"))
  wall, count = 0.0, 0
  for f in sorted(os.listdir(RESULTS)):
    if f.endswith(".json"):
      with open(os.path.join(RESULTS, f)) as fh:
        wall, count = wall + json.load(fh)["wall_s"], count + 1
  text = f"""# Few labels: layer-wise pretraining and regularization over labelled-set size

Fashion-MNIST (Debian `dataset-fashion-mnist`, `/usr/share/datasets/fashion-mnist`). Both remedies of
docs/course_notes.md §1–2 are claimed to matter most when labels are few, so each runs on the first N = 100, 300,
1,000 and 3,000 images of one fixed permutation of the training split (`dataset.train_examples`: smaller sets nest in
larger ones, the same images for every seed and variant), with a fixed step budget at every N, 3 seeds, evaluated on
all 10,000 test images. Designs and budgets: experiments/few_labels/run_all.py. All {count}
runs took {wall / 60:.0f} minutes of wall time in total on the 2-core CPU.

    python -m experiments.few_labels.run_all      # trains every run, results/<run>.json + results/examples/
    python -m experiments.few_labels.report       # this README and the plots

Cells: seed-averaged test accuracy with its 95% bootstrap interval over the test images, and the paired bootstrap
difference and p-value against a reference (research.tools.compare.seeds_accuracy, 1,000 resamples). "train
accuracy" is the N training images evaluated with dropout and noise off.

## Greedy layer-wise pretraining (6×128 sigmoid MLP, SGD 0.1, 940 steps of 64)

Pretraining (`pretrain.data=train_split`) reads every training image, labels unused: the semi-supervised setting
the method was proposed for. `relu` is the same net with relu units from random weights (the activation remedy).

{pre_table}

![pretraining curve](results/pretrain_curve.png)

What the evidence supports: {verdict(pre_p, "autoencoder", "relu")}; {verdict(pre_p, "rbm", "relu")};
{verdict(pre_p, "autoencoder", "random")}; {verdict(pre_p, "rbm", "random")}.

## Regularization (2×512 relu MLP, Adam 1e-3, 400 steps of 100)

Strengths as in experiments/deep_nets/overfitting/sweep.py: L2 1e-3, dropout 0.5, Gaussian input noise σ 0.3.

{reg_table}

![regularization curve](results/regularize_curve.png)

What the evidence supports: {verdict(reg_p, "l2", "none")}; {verdict(reg_p, "dropout", "none")};
{verdict(reg_p, "input_noise", "none")}. The strengths are fixed, tuned at no size.
"""
  with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
