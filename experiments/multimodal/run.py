"""Multimodal experiments: captioning with vs without attention (greedy vs beam BLEU-1..4, alignment),
the per-word attention figure, text→image samples and the fixed classifier's accuracy on them.

  python -m experiments.multimodal.run --out=/tmp/mm_runs --seeds=0,1,2
  python -m experiments.multimodal.run --out=/tmp/mm_runs --report-only     # tables/figures from finished runs

Runs (each a normal workdir, resumable; a finished one is not re-run):
  OUT/cnn                        configs/cnn.py (the fixed classifier, and the captioning encoder init)
  OUT/cap_{attention,plain}_s{S} configs/captioning.py:attention=...,seed=S,init_from=OUT/cnn
  OUT/t2i_s0                     configs/text_to_image.py:classifier=OUT/cnn
Writes experiments/multimodal/{README.md, results.json, attention.png, generated.png}.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _import_registrations() -> None:
  # Until research/*/__init__.py import these, load them here so their registry entries exist.
  for mod in ("research.data.scenes", "research.models.cnn", "research.models.captioning",
              "research.models.text_to_image", "research.multimodal_tasks"):
    importlib.import_module(mod)


def get_config(name: str, arg: str, data_dir: str):
  cfg = importlib.import_module(f"configs.{name}").get_config(arg)
  cfg.data_dir = data_dir
  return cfg


def final_test(workdir: str) -> dict[str, float]:
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl")) if line.strip()]
  test = [r for r in rows if r.get("split") == "test"]
  return {k: v for k, v in test[-1].items() if isinstance(v, (int, float))} if test else {}


def train(name: str, arg: str, workdir: str, data_dir: str, timings: dict[str, float]) -> None:
  from research import registry
  if os.path.exists(os.path.join(workdir, "results.md")):
    print(f"{workdir}: finished, kept", flush=True)
    return
  cfg = get_config(name, arg, data_dir)
  t = time.time()
  registry.trainers.get(cfg.trainer)(cfg, workdir)
  timings[os.path.basename(workdir)] = time.time() - t
  with open(os.path.join(workdir, "wall_seconds.txt"), "w") as f:
    f.write(f"{timings[os.path.basename(workdir)]:.0f}\n")


def mean_std(values: list[float]) -> str:
  if not values:
    return "—"
  fmt = "{:.2f}" if abs(float(np.mean(values))) >= 1 else "{:.4f}"
  if len(values) == 1:
    return fmt.format(values[0])
  return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))}"


def load_model(workdir: str, name: str, arg: str, data_dir: str):
  from research.checkpoint import load_state
  from research.data import get_dataset
  from research.train import build_model
  cfg = get_config(name, arg, data_dir)
  ds = get_dataset(cfg.dataset, cfg.data_dir)
  model = build_model(cfg, ds.info)
  _, state, _ = load_state(workdir)
  return cfg, ds, model, {"params": state["params"]}


def attention_figure(workdir: str, arg: str, data_dir: str, path: str, num_images: int = 3) -> list[str]:
  """Greedy captions of the first test images, each word over the image with its attention α_t."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from research.multimodal_tasks import CaptioningTask
  cfg, ds, model, variables = load_model(workdir, "captioning", arg, data_dir)
  task = CaptioningTask(cfg, ds.info)
  test = ds.split("test")
  cfg.decode.max_examples = 100
  out = task.decode_split(model, variables, test, cfg)
  vocab, grid = ds.info["vocab"], ds.info["grid"]
  picks = [i for i in range(len(out["greedy"])) if int((out["labels"][i] >= 0).sum()) == 2][:num_images]
  length = max(len(out["greedy"][i]) for i in picks) + 1
  alphas = task.attention_of(model, variables, out["image"][picks], [out["greedy"][i] for i in picks], length)
  cols = length
  fig, axes = plt.subplots(len(picks), cols, figsize=(1.6 * cols, 1.8 * len(picks)))
  captions = []
  for r, i in enumerate(picks):
    words = [vocab.tokens[t] for t in out["greedy"][i]] + ["<eos>"]
    captions.append(" ".join(words[:-1]))
    img = out["image"][i][..., 0].astype(np.float32) / 255.0
    side = img.shape[0] // grid
    for t in range(cols):
      ax = axes[r, t]
      ax.axis("off")
      if t >= len(words):
        continue
      ax.imshow(img, cmap="gray", vmin=0, vmax=1)
      heat = np.kron(alphas[r, t].reshape(grid, grid), np.ones((side, side)))
      ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)  # a fixed scale: uniform attention looks dark
      ax.set_title(words[t], fontsize=9)
  fig.suptitle("Show, Attend and Tell: attention α_t for each greedily decoded word (test scenes)", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return captions


CHOSEN = ("a sneaker at the top left", "a bag in the middle", "a pair of trousers on the right",
          "a dress at the bottom left and a boot at the top right", "a sandal above a coat",
          "there is a pullover to the left of a shirt", "a tshirt at the bottom", "a bag below and to the right of "
          "a sneaker")


def generated_figure(workdir: str, arg: str, data_dir: str, path: str) -> None:
  """Scenes drawn by the text→image model from chosen captions (not necessarily seen in training)."""
  import jax.numpy as jnp
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  cfg, ds, model, variables = load_model(workdir, "text_to_image", arg, data_dir)
  vocab = ds.info["vocab"]
  length = ds.info["max_caption_len"] + 1
  tokens = np.zeros((len(CHOSEN), length), np.int32)
  mask = np.zeros((len(CHOSEN), length), np.float32)
  for i, c in enumerate(CHOSEN):
    ids = list(vocab.encode(c, add_eos=True))
    tokens[i, :len(ids)] = ids
    mask[i, :len(ids)] = 1.0
  images = np.asarray(model.apply(variables, jnp.asarray(tokens), jnp.asarray(mask), method="generate"))
  fig, axes = plt.subplots(2, len(CHOSEN) // 2, figsize=(2.6 * len(CHOSEN) // 2, 6))
  for ax, img, cap in zip(axes.ravel(), images, CHOSEN, strict=True):
    ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title("\n".join([cap[:28], cap[28:]]) if len(cap) > 28 else cap, fontsize=8)
    ax.axis("off")
  fig.suptitle("Text → image (LSTM → vector → transposed CNN), drawn from each caption alone", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def report(out: str, seeds: list[int], data_dir: str, command: str, note: str = "") -> None:
  from research.metric_writers import markdown_table
  results: dict[str, dict[str, float]] = {}
  for name in sorted(os.listdir(out)):
    wd = os.path.join(out, name)
    if os.path.exists(os.path.join(wd, "results.md")):
      results[name] = final_test(wd)
      secs = os.path.join(wd, "wall_seconds.txt")
      if os.path.exists(secs):
        results[name]["wall_seconds"] = float(open(secs).read())
  with open(os.path.join(HERE, "results.json"), "w") as f:
    json.dump(results, f, indent=1, sort_keys=True)

  def runs(kind: str) -> list[dict[str, float]]:
    return [results[f"cap_{kind}_s{s}"] for s in seeds if f"cap_{kind}_s{s}" in results]

  rows = []
  for kind in ("plain", "attention"):
    rs = runs(kind)
    if not rs:
      continue
    for decode, prefix in (("greedy", ""), ("beam k=3", "beam_")):
      rows.append([("show_tell" if kind == "plain" else "show_attend_tell"), decode, len(rs)]
                  + [mean_std([r[f"{prefix}bleu{n}"] for r in rs]) for n in range(1, 5)])
  bleu_table = markdown_table(["model", "decoding", "seeds", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"], rows)
  rows = []
  for kind in ("plain", "attention"):
    rs = runs(kind)
    if rs:
      rows.append([("show_tell" if kind == "plain" else "show_attend_tell"), len(rs),
                   mean_std([r["loss"] for r in rs]), mean_std([100 * r["token_accuracy"] for r in rs]),
                   mean_std([100 * r["object_precision"] for r in rs if "object_precision" in r]),
                   mean_std([100 * r["object_recall"] for r in rs if "object_recall" in r]),
                   mean_std([100 * r["alignment"] for r in rs if "alignment" in r]),
                   mean_std([100 * r["alignment_greedy"] for r in rs if "alignment_greedy" in r]),
                   mean_std([r["wall_seconds"] for r in rs if "wall_seconds" in r])])
  other_table = markdown_table(["model", "seeds", "test token CE", "token acc. %", "object precision %",
                                "object recall %", "alignment % (teacher-forced)", "alignment % (greedy)",
                                "wall s / run"], rows)
  t2i = [results[k] for k in sorted(results) if k.startswith("t2i_")]
  t2i_table = markdown_table(
      ["runs", "pixel MSE", "pixel MAE", "classifier acc. on generated cells %", "same classifier on real cells %",
       "wall s / run"],
      [[len(t2i), mean_std([r["pixel_mse"] for r in t2i]), mean_std([r["pixel_mae"] for r in t2i]),
        mean_std([100 * r["classifier_accuracy"] for r in t2i if "classifier_accuracy" in r]),
        mean_std([100 * r["classifier_accuracy_real"] for r in t2i if "classifier_accuracy_real" in r]),
        mean_std([r["wall_seconds"] for r in t2i if "wall_seconds" in r])]]) if t2i else "(not run)"
  cnn = results.get("cnn", {})

  captions = []
  att_wd = os.path.join(out, f"cap_attention_s{seeds[0]}")
  if os.path.exists(os.path.join(att_wd, "results.md")):
    captions = attention_figure(att_wd, f"attention=true,seed={seeds[0]},init_from={os.path.join(out, 'cnn')}",
                                data_dir, os.path.join(HERE, "attention.png"))
  t2i_wd = os.path.join(out, "t2i_s0")
  if os.path.exists(os.path.join(t2i_wd, "results.md")):
    generated_figure(t2i_wd, f"classifier={os.path.join(out, 'cnn')}", data_dir, os.path.join(HERE, "generated.png"))

  cpu = platform.processor() or platform.machine()
  cores = os.cpu_count()
  text = f"""# Multimodal: captioning with and without attention, text → image

{note + chr(10) + chr(10) if note else ""}Everything below was produced by `{command}` (tables, figures and `results.json` are written by
`experiments/multimodal/run.py`; numbers are the final test-split evaluation of each run). Machine:
{cores} CPU cores ({cpu}), shared with other jobs, no accelerator — so models and runs are small
(600 steps of batch 32, a few minutes each) and these are short-training results, not converged ones.

Data: `fashion_scenes` (research/data/scenes.py) — 84×84 scenes, 3×3 grid of 28×28 cells holding 1–2
Fashion-MNIST articles of distinct classes; 5 grammar references per image; 5,000 train scenes
(25,000 image–reference pairs), test scenes built from Fashion-MNIST's *test* images. BLEU is
cumulative BLEU-n (0–100) of research/bleu.py against all 5 references of 500 test images.

## Fixed classifier (configs/cnn.py, Fashion-MNIST 28×28)
Test accuracy {100 * cnn.get('accuracy', float('nan')):.2f}% after {get_config('cnn', '', data_dir).num_train_steps} steps
({cnn.get('wall_seconds', float('nan')):.0f} s). Its conv trunk initializes both captioning encoders
(`init_from`), and it scores the text→image samples below.

## Captioning: BLEU, with vs without attention, greedy vs beam
Seeds {', '.join(map(str, seeds))} (mean ± sample std over seeds where more than one).

{bleu_table}

## Captioning: loss, objects named, attention alignment
Object precision = fraction of class words in the greedy caption whose class is in the scene; recall =
fraction of the scene's items whose class word appears. Alignment = fraction of object words whose
attention peak argmax_i α_ti is the named item's cell, teacher-forced on the reference and on the
model's own greedy caption (chance is 1/9 = 11%; show_tell has no attention).

{other_table}

![per-word attention](attention.png)

Greedy captions in the figure (seed {seeds[0]}): {'; '.join(f'"{c}"' for c in captions) or '—'}.

## Text → image
LSTM caption encoder → 128-d vector → dense → 21×21×16 → two 2× transposed convolutions → 84×84
pixel logits, per-pixel BCE. Pixel errors are of images drawn from the caption alone (pixels in
[0, 1]); the classifier accuracy is over the captioned items' cells of the drawn scene; the same
classifier on the real scenes' cells is its ceiling here; chance is 10% (10 classes). An accuracy near
chance means the model draws little more than the average scene (compare the figure): 600 steps of this
deterministic decoder were not enough to learn what and where from the caption vector.

{t2i_table}

![generated scenes](generated.png)

## Reproduce
```
{command}
```
Each run is a normal workdir (config.json, metrics.jsonl, checkpoints/, plots/, results.md) under the
`--out` folder; rerunning skips finished runs, and `--report-only` rebuilds this page from them.
"""
  with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write(text)
  print(text)


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--out", default="/tmp/mm_runs")
  p.add_argument("--data_dir", default="~/tensorflow_datasets")
  p.add_argument("--seeds", default="0")
  p.add_argument("--t2i", action=argparse.BooleanOptionalAction, default=True)
  p.add_argument("--report-only", action="store_true")
  p.add_argument("--note", default="", help="a line for the README (e.g. how the runs were launched)")
  args = p.parse_args()
  sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
  _import_registrations()
  data_dir = os.path.expanduser(args.data_dir)
  seeds = [int(s) for s in args.seeds.split(",")]
  os.makedirs(args.out, exist_ok=True)
  command = "python -m experiments.multimodal.run " + " ".join(a for a in sys.argv[1:] if not a.startswith("--note"))
  timings: dict[str, float] = {}
  if not args.report_only:
    cnn = os.path.join(args.out, "cnn")
    train("cnn", "", cnn, data_dir, timings)
    for seed in seeds:
      for kind in ("attention", "plain"):
        train("captioning", f"attention={kind == 'attention'},seed={seed},init_from={cnn}",
              os.path.join(args.out, f"cap_{kind}_s{seed}"), data_dir, timings)
      if args.t2i and seed == seeds[0]:
        train("text_to_image", f"classifier={cnn}", os.path.join(args.out, "t2i_s0"), data_dir, timings)
  report(args.out, seeds, data_dir, command, args.note)
  print(json.dumps({"timings_s": timings}))


if __name__ == "__main__":
  main()
