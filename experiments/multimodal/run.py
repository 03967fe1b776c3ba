"""Multimodal experiments: captioning with vs without attention (greedy vs beam BLEU-1..4, alignment),
the per-word attention figure, text→image samples and the fixed classifier's accuracy on them.

  python -m experiments.multimodal.run --out=/tmp/mm_runs --seeds=0,1,2 --scratch_seeds=0,1,2 --t2i_seeds=0,1,2
  python -m experiments.multimodal.run --out=/tmp/mm_runs --seeds=0,1,2 --t2i_seeds=0,1,2 --report-only  # tables/figures

Runs (each a normal workdir; a finished one is not re-run):
  OUT/cnn                        configs/cnn.py (the fixed classifier, and the captioning encoder init)
  OUT/t2i_s{S}                   configs/text_to_image.py:classifier=OUT/cnn,seed=S (S in --t2i_seeds)
  OUT/t2i_cvae_s0                configs/text_to_image.py:classifier=OUT/cnn,latent=16
  OUT/cap_{attention,plain}_s{S} configs/captioning.py:attention=...,seed=S,init_from=OUT/cnn
  OUT/cap_scratch_s{S}           configs/captioning.py:attention=true,seed=S (CNN from scratch)
Writes experiments/multimodal/{README.md, results.json, attention.png, generated.png, cvae_samples.png};
the README's diagnosis table comes from results/t2i_diagnosis.json (diagnose_t2i.py).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _import_registrations() -> None:
  # Until research/*/__init__.py import these, load them here so their registry entries exist.
  for mod in ("research.data.scenes", "research.models.cnn", "research.models.captioning",
              "research.models.text_to_image", "research.tasks.multimodal"):
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


def mean_std(values: list[float], fmt: str = "") -> str:
  if not values:
    return "—"
  fmt = fmt or ("{:.2f}" if abs(float(np.mean(values))) >= 1 else "{:.4f}")
  if len(values) == 1:
    return fmt.format(values[0])
  return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))}"


def load_model(workdir: str, name: str, arg: str, data_dir: str):
  from research.data import get_dataset
  from research.train.checkpoint import load_state
  from research.train.loop import build_model
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

  from research.tasks.multimodal import CaptioningTask
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


CVAE_LATENT = 16

CHOSEN = ("a sneaker at the top left", "a bag in the middle", "a pair of trousers on the right",
          "a dress at the bottom left and a boot at the top right", "a sandal above a coat",
          "there is a pullover to the left of a shirt", "a tshirt at the bottom", "a bag below and to the right of "
          "a sneaker")


def caption_tokens(vocab, captions) -> tuple[np.ndarray, np.ndarray]:
  """Captions (strings) → (words + <eos> int32[N, T], mask float32[N, T]) as the text→image model reads them."""
  lengths = [len(vocab.encode(c, add_eos=True)) for c in captions]
  tokens = np.zeros((len(captions), max(lengths)), np.int32)
  mask = np.zeros(tokens.shape, np.float32)
  for i, c in enumerate(captions):
    ids = list(vocab.encode(c, add_eos=True))
    tokens[i, :len(ids)] = ids
    mask[i, :len(ids)] = 1.0
  return tokens, mask


def t2i_models(out: str, data_dir: str, seeds: tuple[int, ...] = (0,)) -> dict[str, tuple[Any, Any, Any]]:
  """{run name: (config, model, variables)} of the finished text→image runs: the deterministic decoder of
  each seed (t2i_s{seed}) and the conditional VAE of seed 0."""
  runs = {}
  named = [(f"t2i_s{seed}", f",seed={seed}") for seed in seeds] + [("t2i_cvae_s0", f",latent={CVAE_LATENT}")]
  for name, arg in named:
    wd = os.path.join(out, name)
    if os.path.exists(os.path.join(wd, "results.md")):
      cfg, _, model, variables = load_model(wd, "text_to_image", f"classifier={os.path.join(out, 'cnn')}{arg}",
                                            data_dir)
      runs[name] = (cfg, model, variables)
  return runs


def t2i_table(out: str, data_dir: str, seeds: tuple[int, ...] = (0,)) -> list[dict[str, Any]]:
  """Text→image scores of the trained models and of two references on the first 500 test scenes, each
  drawn from reference caption 0: pixel MSE/MAE and the fixed classifier's accuracy on the captioned items'
  cells, over all scenes and split by whether the caption names every item's cell ("at the top left") or
  only a relation ("a sandal above a coat", which leaves the cells open). One row per drawer and seed
  ("seed" is None for the references); the deterministic decoder has a row for each of `seeds` trained."""
  import jax
  import jax.numpy as jnp

  from research.data import get_dataset
  from research.tasks.multimodal import TextToImageTask, scene_cells
  cnn = os.path.join(out, "cnn")
  cfg = get_config("text_to_image", f"classifier={cnn}", data_dir)
  ds = get_dataset(cfg.dataset, cfg.data_dir)
  task = TextToImageTask(cfg, ds.info)
  test_src, train_src = ds.split("test"), ds.split("train")
  n = min(int(cfg.decode.max_examples), len(test_src))
  test = task.collate(test_src.__getitems__(np.arange(n)))
  target = np.asarray(test["image"], np.float32) / 255.0
  vocab, grid = ds.info["vocab"], int(ds.info["grid"])
  relational = np.array([any(vocab.tokens[t] in ("above", "below", "of") for t in row) for row in test["caption_out"]])

  # References: the mean training scene, and each named class's mean training article pasted into the
  # item's true cell (it is given the cells, which a relational caption does not say).
  first = np.unique(np.asarray(train_src.columns["image_index"]), return_index=True)[1]
  images = np.asarray(train_src.images, np.float32) / 255.0
  labels, cells = np.asarray(train_src.columns["labels"])[first], np.asarray(train_src.columns["cells"])[first]
  cut = np.asarray(scene_cells(jnp.asarray(images), grid))
  class_mean = np.stack([cut[np.nonzero(labels == k)[0], cells[labels == k]].mean(0) for k in range(10)])
  pasted = np.zeros((n, grid * grid) + class_mean.shape[1:], np.float32)
  for i in range(n):
    for k, c in zip(test["labels"][i], test["cells"][i], strict=True):
      if 0 <= k < 10:
        pasted[i, c] = class_mean[k]
  side = class_mean.shape[1]
  pasted = pasted.reshape(n, grid, grid, side, side, 1).transpose(0, 1, 3, 2, 4, 5).reshape(target.shape)
  # (drawn by, seed) → images; seed None for the references.
  drawn = {("mean training scene (reference)", None): np.broadcast_to(images.mean(0), target.shape),
           ("class-mean article in the true cell (reference, told the cells)", None): pasted}
  caption, mask = jnp.asarray(test["caption_out"]), jnp.asarray(test["caption_mask"])
  for run, (_, model, variables) in t2i_models(out, data_dir, seeds).items():
    seed = int(run.rsplit("_s", 1)[1])
    gen = jax.jit(lambda v, c, m, z, model=model: model.apply(v, c, m, z, method="generate"))
    if model.latent_dim:
      drawn["conditional VAE, z = 0", seed] = np.asarray(gen(variables, caption, mask, None))
      z = jax.random.normal(jax.random.key(0), (n, model.latent_dim))
      drawn["conditional VAE, z ~ N(0, I)", seed] = np.asarray(gen(variables, caption, mask, z))
    else:
      drawn["deterministic decoder", seed] = np.asarray(gen(variables, caption, mask, None))
  drawn["real scenes (classifier ceiling)", None] = target
  rows = []
  for (name, seed), img in drawn.items():
    row: dict[str, Any] = {"drawn by": name, "seed": seed, "pixel_mse": float(np.square(img - target).mean()),
                           "pixel_mae": float(np.abs(img - target).mean())}
    for part, keep in (("all", np.ones(n, bool)), ("cells named", ~relational), ("relation only", relational)):
      lab = np.where(keep[:, None], test["labels"], -1)
      ok, total = task.classify_cells(jnp.asarray(img), lab, test["cells"])
      row[f"classifier_accuracy_{part}"] = ok / max(total, 1)
      row[f"items_{part}"] = total
    rows.append(row)
  return rows


def generated_figure(out: str, data_dir: str, path: str, samples_path: str) -> list[str]:
  """Scenes drawn by the text→image models from chosen captions (not necessarily seen in training), and
  conditional-VAE samples z ~ N(0, I) for two captions. Returns the figure files written."""
  import jax
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  runs = t2i_models(out, data_dir)
  if not runs:
    return []
  from research.data import get_dataset
  cfg = next(iter(runs.values()))[0]
  vocab = get_dataset(cfg.dataset, cfg.data_dir).info["vocab"]
  tokens, mask = caption_tokens(vocab, CHOSEN)
  rows = []
  for _, model, variables in runs.values():
    label = "cVAE, z = 0" if model.latent_dim else "deterministic"
    rows.append((label, np.asarray(model.apply(variables, tokens, mask, method="generate"))))
  fig, axes = plt.subplots(len(rows), len(CHOSEN), figsize=(1.9 * len(CHOSEN), 2.7 * len(rows)), squeeze=False)
  for r, (label, images) in enumerate(rows):
    for ax, img, cap in zip(axes[r], images, CHOSEN, strict=True):
      ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
      ax.set_title(f"{label}\n" + ("\n".join([cap[:24], cap[24:]]) if len(cap) > 24 else cap), fontsize=7)
      ax.axis("off")
  fig.suptitle("Text → image (LSTM → vector → transposed CNN), drawn from each caption alone", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  written = [path]
  if "t2i_cvae_s0" in runs:
    _, model, variables = runs["t2i_cvae_s0"]
    picks, k = (CHOSEN[0], CHOSEN[4]), 8
    tokens, mask = caption_tokens(vocab, [c for c in picks for _ in range(k)])
    z = jax.random.normal(jax.random.key(1), (len(tokens), model.latent_dim))
    images = np.asarray(model.apply(variables, tokens, mask, z, method="generate"))
    fig, axes = plt.subplots(len(picks), k, figsize=(1.5 * k, 1.8 * len(picks)), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
      ax.imshow(images[i, ..., 0], cmap="gray", vmin=0, vmax=1)
      ax.axis("off")
      if i % k == 0:
        ax.set_title(picks[i // k], fontsize=8, loc="left")
    fig.suptitle("Conditional VAE: 8 samples z ~ N(0, I) per caption", fontsize=10)
    fig.tight_layout()
    fig.savefig(samples_path, dpi=90)
    plt.close(fig)
    written.append(samples_path)
  return written


MODELS = (("plain", "show_tell", "yes"), ("attention", "show_attend_tell", "yes"),
          ("scratch", "show_attend_tell", "no (CNN from scratch)"))


def t2i_markdown(t2i_rows: list[dict[str, Any]], results: dict[str, dict[str, float]]) -> str:
  """The text→image table: one line per drawer, mean ± sample std over its seeds (rows of t2i_table)."""
  from research.train.metric_writers import markdown_table
  if not t2i_rows:
    return "(not run)"
  groups: dict[str, list[dict[str, Any]]] = {}
  for r in t2i_rows:
    groups.setdefault(r["drawn by"], []).append(r)
  lines = []
  for name, rs in groups.items():
    seeds = [r["seed"] for r in rs if r.get("seed") is not None]
    run = "t2i_cvae_s{}" if name.startswith("conditional VAE") else "t2i_s{}"
    walls = [results.get(run.format(s), {}).get("wall_seconds") for s in seeds]

    def acc(part: str, rs=rs) -> str:
      return f"{mean_std([100 * r[f'classifier_accuracy_{part}'] for r in rs])} (n={rs[0][f'items_{part}']})"
    lines.append([name, ",".join(str(s) for s in seeds) or "—", mean_std([r["pixel_mse"] for r in rs]),
                  mean_std([r["pixel_mae"] for r in rs]), acc("all"), acc("cells named"), acc("relation only"),
                  mean_std([w for w in walls if w], "{:.0f}")])
  return markdown_table(["drawn by", "seeds", "pixel MSE", "pixel MAE", "classifier acc. % (all items)",
                         "… caption names the cells", "… caption gives only a relation", "wall s (training)"],
                        lines)


def interval_markdown(out: str, seeds: list[int]) -> str:
  """BLEU-4 and chrF of every captioner with intervals and paired tests against show_tell, from the runs' test
  decodes (WORKDIR/decodes/test.<method>.jsonl: 1-best and BLEU/chrF statistics against all 5 references)."""
  from research.evaluation import outputs
  from research.tools import compare
  from research.train.metric_writers import markdown_table
  sections = []
  for method, label in (("greedy", "greedy"), ("beam", "beam k=3")):
    groups, names = [], []
    for kind, model, warm in MODELS:
      paths = [os.path.join(out, f"cap_{kind}_s{s}", "decodes", f"test.{method}.jsonl") for s in seeds]
      paths = [p for p in paths if os.path.exists(p)]
      if paths:
        groups.append([outputs.read_decodes(p) for p in paths])
        names.append(f"{model}, warm start {warm.split(' ')[0]}")
    if len(groups) > 1:
      sections.append(f"{label}:\n\n" + markdown_table(compare.SEEDS_CORPUS_HEADER,
                                                        [r.row() for r in compare.seeds_corpus(groups, names)]))
  return "\n\n".join(sections) or "(no decodes files in the runs)"


def report(out: str, seeds: list[int], data_dir: str, command: str, note: str = "",
           t2i_seeds: tuple[int, ...] = (0,)) -> None:
  from research.train.metric_writers import markdown_table
  results: dict[str, Any] = {}
  for name in sorted(os.listdir(out)):
    wd = os.path.join(out, name)
    if os.path.exists(os.path.join(wd, "results.md")):
      results[name] = final_test(wd)
      secs = os.path.join(wd, "wall_seconds.txt")
      if os.path.exists(secs):
        results[name]["wall_seconds"] = float(open(secs).read())
  t2i_rows = t2i_table(out, data_dir, t2i_seeds) if os.path.exists(os.path.join(out, "cnn", "results.md")) else []
  with open(os.path.join(HERE, "results.json"), "w") as f:
    json.dump({"runs": results, "text_to_image_table": t2i_rows}, f, indent=1, sort_keys=True)

  def runs(kind: str) -> list[dict[str, float]]:
    return [results[f"cap_{kind}_s{s}"] for s in seeds if f"cap_{kind}_s{s}" in results]

  def seed_list(kind: str) -> str:
    return ",".join(str(s) for s in seeds if f"cap_{kind}_s{s}" in results)

  rows = []
  for kind, model, warm in MODELS:
    rs = runs(kind)
    for decode, prefix in (("greedy", ""), ("beam k=3", "beam_")):
      if rs:
        rows.append([model, warm, decode, seed_list(kind)]
                    + [mean_std([r[f"{prefix}bleu{n}"] for r in rs]) for n in range(1, 5)])
  bleu_table = markdown_table(["model", "encoder warm start", "decoding", "seeds", "BLEU-1", "BLEU-2", "BLEU-3",
                               "BLEU-4"], rows)
  rows = []
  for kind, model, warm in MODELS:
    rs = runs(kind)
    if rs:
      rows.append([model, warm, seed_list(kind),
                   mean_std([r["loss"] for r in rs]), mean_std([100 * r["token_accuracy"] for r in rs]),
                   mean_std([100 * r["object_precision"] for r in rs if "object_precision" in r]),
                   mean_std([100 * r["object_recall"] for r in rs if "object_recall" in r]),
                   mean_std([100 * r["alignment"] for r in rs if "alignment" in r]),
                   mean_std([100 * r["alignment_greedy"] for r in rs if "alignment_greedy" in r]),
                   mean_std([r["wall_seconds"] for r in rs if "wall_seconds" in r])])
  other_table = markdown_table(["model", "encoder warm start", "seeds", "test token CE", "token acc. %",
                                "object precision %", "object recall %", "alignment % (teacher-forced)",
                                "alignment % (greedy)", "wall s / run"], rows)
  t2i_md = t2i_markdown(t2i_rows, results)
  diag_path = os.path.join(HERE, "results", "t2i_diagnosis.json")
  diag_md = "(not run: `python -m experiments.multimodal.diagnose_t2i`)"
  if os.path.exists(diag_path):
    diag = json.load(open(diag_path))
    diag_md = markdown_table(
        ["run", "caption vector", "steps", "vector std across captions / mean abs entry",
         "probe: first item's class %", "probe: first item's cell %", "drawn pixel std across captions (real scenes)"],
        [[name, f"{'LayerNorm(' if d['model'].get('text_norm') else '('}"
          f"{d['model'].get('text_pool') or 'last'}) {d['vector_dim']}-d", d["steps"],
          f"{d['vector_std_across_captions']:.3f} / {d['vector_mean_abs']:.3f}",
          f"{100 * d['probe_labels_accuracy']:.1f}", f"{100 * d['probe_cells_accuracy']:.1f}",
          f"{d['drawn_pixel_std_across_captions']:.4f} ({d['real_pixel_std_across_scenes']:.4f})"]
         for name, d in diag.items()])
  cnn = results.get("cnn", {})
  t2i_steps = get_config("text_to_image", "", data_dir).num_train_steps
  cap_steps = get_config("captioning", "", data_dir).num_train_steps

  captions = []
  att_wd = os.path.join(out, f"cap_attention_s{seeds[0]}")
  if os.path.exists(os.path.join(att_wd, "results.md")):
    captions = attention_figure(att_wd, f"attention=true,seed={seeds[0]},init_from={os.path.join(out, 'cnn')}",
                                data_dir, os.path.join(HERE, "attention.png"))
  figures = generated_figure(out, data_dir, os.path.join(HERE, "generated.png"), os.path.join(HERE, "cvae_samples.png"))
  figure_md = "\n\n".join(f"![{os.path.splitext(os.path.basename(f))[0]}]({os.path.basename(f)})" for f in figures)

  cpu = platform.processor() or platform.machine()
  cores = os.cpu_count()
  text = f"""# Multimodal: captioning with and without attention, text → image

{note + chr(10) + chr(10) if note else ""}Everything below was produced by `{command}` (tables, figures and `results.json` are written by
`experiments/multimodal/run.py`; numbers are the final test-split evaluation of each run). Machine:
{cores} CPU cores ({cpu}), no accelerator — so models and runs are small
({cap_steps} captioning steps, {t2i_steps} text→image steps, batch 32) and these are short-training results, not
converged ones.

Data: `fashion_scenes` (research/data/scenes.py) — 84×84 scenes, 3×3 grid of 28×28 cells holding 1–2
Fashion-MNIST articles of distinct classes; 5 grammar references per image; 5,000 train scenes
(25,000 image–reference pairs), test scenes built from Fashion-MNIST's *test* images. BLEU is
cumulative BLEU-n (0–100) of research/evaluation/bleu.py against all 5 references of 500 test images.

## Fixed classifier (configs/cnn.py, Fashion-MNIST 28×28)
Test accuracy {100 * cnn.get('accuracy', float('nan')):.2f}% after {get_config('cnn', '', data_dir).num_train_steps} steps
({cnn.get('wall_seconds', float('nan')):.0f} s). Its conv trunk initializes the captioning encoders
(`init_from`; the "no" rows below start from random weights instead), and it scores the text→image samples.

## Captioning: BLEU, with vs without attention, greedy vs beam, with vs without the warm start
Mean ± sample std over the seeds listed.

{bleu_table}

The same comparison with intervals, from each run's test decodes (research.tools.compare.seeds_corpus): BLEU-4
here is sacreBLEU's definition (exponential smoothing, the words as tokens) and chrF sacreBLEU's chrF, both
against all 5 references; per seed, mean ± the t-interval's half-width over the seeds; seed-pooled, the corpus
score of all seeds' captions together with a 95% bootstrap interval that resamples test images (with every
seed's caption of each), and the paired bootstrap p-value against show_tell on the same resamples (1,000).

{interval_markdown(out, seeds)}

## Captioning: loss, objects named, attention alignment
Object precision = fraction of class words in the greedy caption whose class is in the scene; recall =
fraction of the scene's items whose class word appears. Alignment = fraction of object words whose
attention peak argmax_i α_ti is the named item's cell, teacher-forced on the reference and on the
model's own greedy caption (chance is 1/9 = 11%; show_tell has no attention). Wall time depends on how
many other jobs shared the 2 cores at the time.

{other_table}

![per-word attention](attention.png)

Greedy captions in the figure (seed {seeds[0]}): {'; '.join(f'"{c}"' for c in captions) or '—'}.

## Text → image
LSTM caption encoder → caption vector = LayerNorm([last LSTM state, masked mean of the LSTM outputs])
(256-d) → dense → 21×21×16 → two 2× transposed convolutions → 84×84 pixel logits, per-pixel BCE. The
deterministic decoder's row is the mean ± sample std over the seeds listed; the conditional VAE and the
figures are seed 0. The conditional VAE (latent {CVAE_LATENT}) adds a CNN posterior q(z | image, caption) and the KL term;
it draws with z = 0 or z ~ N(0, I). Scored on the first 500 test scenes, each drawn from its first
reference caption alone: pixel errors (pixels in [0, 1]) and the accuracy of the fixed classifier on the
captioned items' cells of the drawn scene (chance 10%). Two references bracket the models: the mean
training scene (what a model that ignores the caption draws best under squared error), and each named
class's mean training article pasted into the item's *true* cell — it is told the cells, which a caption
that gives only a relation ("a sandal above a coat") does not say, so no caption-only model can match it
there. Items are split by whether the caption names every item's cell.

{t2i_md}

{figure_md}

Reading the figures: where the caption names the cells, the deterministic decoder draws a blurred article of
the named class in the named cell (the squared-error optimum is the class's average look); where it gives
only a relation, the cells are not determined and it spreads a faint average over the possible cells. The
conditional VAE puts much of the scene into z (its KL stays well above 0, see results.json): with z = 0 it
draws fainter scenes, and its samples z ~ N(0, I) vary the look and, for a relation, the cells — at a
pixel MSE and classifier accuracy worse than the deterministic decoder's in this short training (its
lower MAE at z = 0 comes from drawing darker, emptier scenes).

### Diagnosis: why the first version drew only the mean scene
`python -m experiments.multimodal.diagnose_t2i` (results/t2i_diagnosis.json) on 500 test captions: the spread
of the caption vector across captions, linear probes (standardized logistic regression fitted on 5,000 training
captions' vectors) for the first item's class and cell, and the spread of the drawn pixels across captions.
The first version (`old`, trained by the previous session's code: the raw last LSTM state, 600 steps) kept
a vector that hardly moved between captions and a decoder that drew nearly the same picture for every
caption; the current one (`new`) layer-normalizes [last state, mean of the LSTM outputs].

{diag_md}

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
  p.add_argument("--t2i_seeds", default="0", help="seeds of the deterministic text→image model (the CVAE: seed 0)")
  p.add_argument("--scratch_seeds", default="", help="seeds of the attention captioner without the warm start")
  p.add_argument("--report-only", action="store_true")
  p.add_argument("--note", default="", help="a line for the README (e.g. how the runs were launched)")
  args = p.parse_args()
  sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
  _import_registrations()
  data_dir = os.path.expanduser(args.data_dir)
  seeds = [int(s) for s in args.seeds.split(",")]
  scratch_seeds = [int(s) for s in args.scratch_seeds.split(",") if s]
  t2i_seeds = [int(s) for s in args.t2i_seeds.split(",") if s]
  os.makedirs(args.out, exist_ok=True)
  command = "python -m experiments.multimodal.run " + " ".join(a for a in sys.argv[1:] if not a.startswith("--note"))
  timings: dict[str, float] = {}
  if not args.report_only:
    cnn = os.path.join(args.out, "cnn")
    train("cnn", "", cnn, data_dir, timings)
    if args.t2i:  # the deterministic decoder for each of --t2i_seeds, the conditional VAE for seed 0 only
      for seed in t2i_seeds:
        train("text_to_image", f"classifier={cnn},seed={seed}", os.path.join(args.out, f"t2i_s{seed}"), data_dir,
              timings)
      train("text_to_image", f"classifier={cnn},latent={CVAE_LATENT}", os.path.join(args.out, "t2i_cvae_s0"),
            data_dir, timings)
    for seed in seeds:
      for kind in ("attention", "plain"):
        train("captioning", f"attention={kind == 'attention'},seed={seed},init_from={cnn}",
              os.path.join(args.out, f"cap_{kind}_s{seed}"), data_dir, timings)
    for seed in scratch_seeds:  # the attention model with its CNN trained from scratch (no warm start)
      train("captioning", f"attention=true,seed={seed}", os.path.join(args.out, f"cap_scratch_s{seed}"), data_dir,
            timings)
  report(args.out, seeds, data_dir, command, args.note, tuple(t2i_seeds))
  print(json.dumps({"timings_s": timings}))


if __name__ == "__main__":
  main()
