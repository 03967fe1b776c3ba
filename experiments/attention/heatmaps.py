"""Attention heatmaps (PNG) from trained runs: the Luong decoder's weights and every head of the
Transformer's last decoder layer (cross-attention), for sample test sentences.

  python -m experiments.attention.heatmaps

Reads the maps reversal.py and bible.py saved next to their run summaries
(results/runs/*.attention.json: teacher-forced on the model's own greedy output) and writes
results/heatmap_<run>.png. Rows = output tokens (the token being predicted), columns = source tokens.
"""

from __future__ import annotations

import glob
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from experiments.attention import common, reversal  # noqa: E402
from research.errors import UserError  # noqa: E402

# Chinese source characters need a CJK font; Debian's fonts-droid-fallback has one.
_CJK_FONTS = ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",)


def _font() -> font_manager.FontProperties:
  """DejaVu Sans (Latin, digits) with a CJK fallback font for the Chinese source characters."""
  families = ["DejaVu Sans"]
  for path in _CJK_FONTS:
    if os.path.exists(path):
      font_manager.fontManager.addfont(path)
      families.append(font_manager.FontProperties(fname=path).get_name())
  return font_manager.FontProperties(family=families, size=6)


def plot(path_json: str, out_png: str) -> tuple[str, int, int]:
  with open(path_json) as f:
    data = json.load(f)
  pairs = data["pairs"]
  heads = len(pairs[0]["weights"])
  font = _font()
  fig, axes = plt.subplots(len(pairs), heads, figsize=(3.6 * heads + 0.6, 3.4 * len(pairs)), squeeze=False)
  for r, pair in enumerate(pairs):
    w = np.asarray(pair["weights"], np.float32)  # [H, T, S]
    for h in range(heads):
      ax = axes[r, h]
      ax.imshow(w[h], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
      # Long reversal sequences (up to 100 symbols): label every k-th position so the labels stay legible.
      xs = range(0, len(pair["src"]), max(1, len(pair["src"]) // 40))
      ys = range(0, len(pair["tgt"]), max(1, len(pair["tgt"]) // 40))
      ax.set_xticks(list(xs))
      ax.set_xticklabels([pair["src"][i] for i in xs], fontproperties=font, fontsize=6, rotation=90)
      ax.set_yticks(list(ys))
      ax.set_yticklabels([pair["tgt"][i] for i in ys], fontproperties=font, fontsize=6)
      title = "Luong attention" if data["model_name"] == "luong_seq2seq" else f"last layer, head {h}"
      ax.set_title(f"{title} (sentence {r + 1})", fontsize=8)
  fig.suptitle(data["model"], fontsize=9)
  fig.tight_layout()
  fig.savefig(out_png, dpi=110)
  plt.close(fig)
  return data["model"], len(pairs), heads


def reported(path: str) -> bool:
  """Reversal maps only from the runs the reversal tables report (the chosen learning rate and the current
  budget; the learning-rate search's other runs save maps too); every other run's maps are plotted."""
  summary_path = path[:-len(".attention.json")] + ".json"
  if "task-reverse" not in os.path.basename(path) or not os.path.exists(summary_path):
    return True
  with open(summary_path) as f:
    s = json.load(f)
  budget = {"steps": reversal.STEPS, "batch": reversal.BATCH, "warmup": reversal.WARMUP}
  if {k: s.get(k) for k in budget} != budget:
    return False
  try:
    return s["lr"] == reversal.chosen_lrs(budget).get(s["model"])
  except UserError:
    return False


def main() -> None:
  files = [p for p in sorted(glob.glob(os.path.join(common.RUNS, "*.attention.json"))) if reported(p)]
  lines = []
  for path in files:
    with open(path) as f:
      png = f"heatmap_{json.load(f)['model']}.png"  # the run's config.name: short and path-safe
    model, n, heads = plot(path, os.path.join(common.RESULTS, png))
    lines.append(f"- `{model}` ({n} sentences × {heads} map{'s' if heads > 1 else ''}): "
                 f"![{model}](results/{png})")
  text = f"""## 3. Attention heatmaps

```
{common.command_line()}
```

Weights of trained runs of sections 1, 2 (seed 0) and 4, computed teacher-forced on each model's own greedy output
for test sentences (rows: the output token being predicted, `<eos>` last; columns: source tokens).
Luong: its single attention distribution; Transformer: every head of the last decoder layer's
cross-attention. On reversal a model that has learned the task attends along the anti-diagonal.

{chr(10).join(lines)}
"""
  common.write_section("heatmaps", text)


if __name__ == "__main__":
  main()
