"""Rebuilds experiments/attention/README.md from the sections the experiment scripts wrote
(experiments/attention/results/*.md). `python -m experiments.attention.make_readme`."""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ("reversal", "ablation", "heatmaps", "bible")

HEADER = """# Attention experiments (issue 7; notes §5.2–5.3)

Models (configs/attention.py): `lstm` = plain LSTM encoder–decoder (no attention), `luong_dot` /
`luong_general` = LSTM decoder with Luong attention, `transformer` = 2+2-layer pre-LN Transformer,
d_model 128, 2 heads (d_k = 64, scale 1/8). Every table below was written by the command above it, on
2 CPU cores shared with other jobs, **one seed** (3 seeds did not fit the time budget), with small
training budgets: the numbers compare models at the *same short budget*, not at convergence.

Scripts: `reversal.py` (sequence accuracy vs length), `ablation.py` (1/sqrt(d_k) on/off loss curves),
`heatmaps.py` (attention PNGs), `bible.py` (zh→en BLEU, BLEU by source length, tokens/s).
Run summaries are cached in results/runs/*.json (pass `--force` to retrain).
"""


def main() -> None:
  parts = [HEADER]
  folder = os.path.join(HERE, "results")
  names = [n for n in ORDER if os.path.exists(os.path.join(folder, f"{n}.md"))]
  for name in names:
    with open(os.path.join(folder, f"{name}.md")) as f:
      parts.append(f.read())
  with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write("\n".join(parts))


if __name__ == "__main__":
  main()
