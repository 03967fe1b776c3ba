"""Captioned scenes: Fashion-MNIST items (optionally sklearn digits) placed on a G×G grid, with captions
from a small grammar that names the items and their positions or relations.

No image–caption corpus can be downloaded here, so this one is built; it is real enough to measure
what the notes' captioning models are about: the words are grounded (each object word names an item
whose grid cell is recorded, so attention can be scored), the images are real photographs of
articles (Fashion-MNIST), and every image has several reference captions for BLEU.

Registered datasets (config.dataset.name):
  'fashion_scenes'   the scenes (a TFDS GeneratorBasedBuilder writing array_record files).
  'coco_captions'    the official TFDS COCO captions, for users with internet (one-line UserError offline).

A scene with G = 3 and two items, and three of its five references:

    +-----+-----+-----+
    |     |     | bag |   "a bag at the top right and a sneaker on the left"
    +-----+-----+-----+   "a sneaker below and to the left of a bag"
    | snk |     |     |   "there is a bag above and to the right of a sneaker"
    +-----+-----+-----+
    |     |     |     |
    +-----+-----+-----+

Item images come from Fashion-MNIST's train images for the train and validation scenes (validation uses
the last 10% of them, train the rest) and from its test images for the test scenes, so no test scene
shows an article seen in training. A scene holds `min_items..max_items` items of distinct classes in
distinct cells, so every object word names exactly one cell.

Dataset config fields (all optional):
  local_dir        folder with Fashion-MNIST's idx.gz files (default /usr/share/datasets/fashion-mnist).
  grid             G, scenes are G×G cells (default 3).
  cell_size        pixels per cell side; items are resized from 28 (default 28, i.e. 84×84 scenes at G = 3).
  min_items, max_items   items per scene (default 1 and 2).
  num_captions     references per image (default 5).
  num_train, num_validation, num_test   scenes per split (default 20000, 1000, 1000).
  include_digits   also place sklearn 8×8 digits ("a seven above a bag"), classes 10..19 (default False).
  seed             scene layout and caption choice (default 0); the same seed gives the same bytes.
Columns of a split (research.data.base.ArraySource, one row per image; in the train split one row per
(image, reference) pair when `train_pairs` (default True)):
  image uint8[S, S, 1], caption int32[n] (ragged; ids, no bos/eos), refs (all references' ids),
  labels int64[M], cells int64[M] (class and cell r·G + c of each item, -1 padding), num_items, scene_id.
The collate (`CaptionCollate`) pads captions to one fixed length so jit compiles once.
Info: vocab (research.data.vocab.Vocab), vocab_size, grid, num_cells, cell_size, image_shape, max_value,
class_names, noun_ids (class → token id of its noun), max_caption_len, num_classes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from ml_collections import ConfigDict

from research import registry
from research.data.base import (
  ArraySource,
  Batch,
  Dataset,
  digest,
  file_stamp,
  load_columns,
  missing_data_error,
  prepare,
  ragged,
)
from research.data.images import _FASHION_FILES, FASHION_MNIST_DIR, read_idx
from research.data.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab
from research.errors import UserError

# One word per class (the tokenizer would split "T-shirt/top" into several, and "top" is a position).
FASHION_NOUNS = ("tshirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
DIGIT_NOUNS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
SPLITS = ("train", "validation", "test")


# ------------------------------------------------------------------------------------------ grammar
def article(noun: str) -> str:
  if noun == "trousers":
    return "a pair of"
  return "an" if noun[0] in "aeiou" else "a"


def noun_phrase(noun: str) -> str:
  return f"{article(noun)} {noun}"


def position_phrase(row: int, col: int, grid: int) -> str:
  """Where a cell is, in words: 'at the top left', 'on the left', 'in the middle', ...

  G = 2 and G = 3 get names; other grids say 'in row two column three'.
  """
  if grid == 3:
    rows, cols = ("top", "middle", "bottom"), ("left", "center", "right")
    r, c = rows[row], cols[col]
    if r == "middle" and c == "center":
      return "in the middle"
    if r == "middle":
      return f"on the {c}"
    if c == "center":
      return f"at the {r}"
    return f"at the {r} {c}"
  if grid == 2:
    return f"at the {('top', 'bottom')[row]} {('left', 'right')[col]}"
  return f"in row {_NUMBER_WORDS[row]} column {_NUMBER_WORDS[col]}"


def relation_phrase(a: tuple[int, int], b: tuple[int, int]) -> str:
  """How cell a = (row, col) lies relative to cell b: 'above', 'to the left of', 'below and to the right of'."""
  vertical = "above" if a[0] < b[0] else "below" if a[0] > b[0] else ""
  horizontal = "to the left of" if a[1] < b[1] else "to the right of" if a[1] > b[1] else ""
  if vertical and horizontal:
    return f"{vertical} and {horizontal}"
  return vertical or horizontal


def candidate_captions(nouns: Sequence[str], cells: Sequence[int], grid: int) -> list[str]:
  """Every caption the grammar can say about a scene; all of them are true of it.

  nouns[i] sits in cell cells[i] (= row·G + col). Orders of mention and phrasings vary, so a model
  cannot score well by memorizing one template.
  """
  pos = [divmod(int(c), grid) for c in cells]
  where = [position_phrase(r, c, grid) for r, c in pos]
  np_ = [noun_phrase(n) for n in nouns]
  out: list[str] = []
  if len(nouns) == 1:
    out += [f"{np_[0]} {where[0]}", f"there is {np_[0]} {where[0]}", f"{where[0]} there is {np_[0]}",
            f"a picture of {np_[0]} {where[0]}", f"a single {nouns[0]} {where[0]}"]
    return out
  for order in itertools.permutations(range(len(nouns))):
    listed = [f"{np_[i]} {where[i]}" for i in order]
    out.append(" and ".join(listed) if len(listed) == 2 else ", ".join(listed[:-1]) + " and " + listed[-1])
    a, b = order[0], order[1]
    rel = f"{np_[a]} {relation_phrase(pos[a], pos[b])} {np_[b]}"
    if len(nouns) == 2:
      out += [rel, f"there is {rel}"]
    else:
      rest = [f"{np_[i]} {where[i]}" for i in order[2:]]
      out.append(rel + " and " + " and ".join(rest))
  return out


def choose_captions(rng: np.random.Generator, candidates: Sequence[str], k: int) -> list[str]:
  """k distinct candidates (repeats only when the grammar has fewer than k)."""
  idx = rng.permutation(len(candidates))
  return [candidates[idx[i % len(idx)]] for i in range(k)]


# ------------------------------------------------------------------------------------------ scenes
def resize_nearest(images: np.ndarray, size: int) -> np.ndarray:
  """uint8[N, h, w] → uint8[N, size, size] by nearest-neighbour index mapping (no new dependency)."""
  h, w = images.shape[1:3]
  rows = (np.arange(size) * h) // size
  cols = (np.arange(size) * w) // size
  return images[:, rows][:, :, cols]


def compose_scenes(pool_images: np.ndarray, pool_labels: np.ndarray, nouns: Sequence[str], num: int, *,
                   grid: int = 3, min_items: int = 1, max_items: int = 2, num_captions: int = 5,
                   seed: int = 0) -> dict[str, Any]:
  """Draws `num` scenes from a pool of item images. Pure function of its arguments.

  Args:
    pool_images: uint8[P, c, c] item images (already at cell size).
    pool_labels: int[P] class of each item; nouns[label] is its word.
    num: scenes to draw.
  Returns:
    {'image': uint8[num, G·c, G·c, 1], 'labels', 'cells': int64[num, max_items] (-1 padding),
     'num_items': int64[num], 'captions': list of num lists of `num_captions` strings}.
  """
  classes = np.unique(pool_labels)
  if not 1 <= min_items <= max_items <= min(grid * grid, len(classes)):
    raise UserError(f"items per scene min_items={min_items}, max_items={max_items} must satisfy 1 <= min <= max <= "
                    f"min(cells={grid * grid}, classes={len(classes)}); change config.dataset.min_items/max_items")
  by_class = {int(k): np.flatnonzero(pool_labels == k) for k in classes}
  rng = np.random.default_rng(seed)
  c = pool_images.shape[1]
  images = np.zeros((num, grid * c, grid * c, 1), np.uint8)
  labels = np.full((num, max_items), -1, np.int64)
  cells = np.full((num, max_items), -1, np.int64)
  counts = np.zeros((num,), np.int64)
  captions = []
  for s in range(num):
    k = int(rng.integers(min_items, max_items + 1))
    cls = rng.choice(classes, size=k, replace=False)
    where = rng.choice(grid * grid, size=k, replace=False)
    for j, (label, cell) in enumerate(zip(cls, where, strict=True)):
      item = by_class[int(label)][rng.integers(len(by_class[int(label)]))]
      r, col = divmod(int(cell), grid)
      images[s, r * c:(r + 1) * c, col * c:(col + 1) * c, 0] = pool_images[item]
      labels[s, j], cells[s, j] = int(label), int(cell)
    counts[s] = k
    captions.append(choose_captions(rng, candidate_captions([nouns[int(x)] for x in cls], where, grid), num_captions))
  return {"image": images, "labels": labels, "cells": cells, "num_items": counts, "captions": captions}


def item_pools(source_dir: str, cell_size: int, include_digits: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{split: (uint8[P, cell, cell] images, int64[P] labels)} with no item shared between splits."""
  pools = {}
  raw = {}
  for split, (image_file, label_file) in _FASHION_FILES.items():
    images = read_idx(os.path.join(source_dir, image_file))
    labels = read_idx(os.path.join(source_dir, label_file)).astype(np.int64)
    if len(images) != len(labels):
      raise UserError(f"{image_file} has {len(images)} images but {label_file} has {len(labels)} labels")
    raw[split] = (images, labels)
  train_images, train_labels = raw["train"]
  n_val = max(1, len(train_labels) // 10)
  parts = {"train": (train_images[:-n_val], train_labels[:-n_val]),
           "validation": (train_images[-n_val:], train_labels[-n_val:]), "test": raw["test"]}
  digits = None
  if include_digits:
    from sklearn.datasets import load_digits  # a dependency; no download
    d = load_digits()
    # 0..16 → 0..255; digit i goes to the split its index hashes to, like research.data.images does.
    dimg = np.clip(d.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    which = np.array([int(hashlib.sha256(f"digits/{i}".encode()).hexdigest()[:8], 16) % 10 for i in range(len(dimg))])
    digits = {"train": which >= 2, "validation": which == 1, "test": which == 0}
  for split, (images, labels) in parts.items():
    images = images if images.shape[1] == cell_size else resize_nearest(images, cell_size)
    if digits is not None:
      sel = digits[split]
      images = np.concatenate([images, resize_nearest(dimg[sel], cell_size)])
      labels = np.concatenate([labels, d.target[sel].astype(np.int64) + 10])
    pools[split] = (images, labels)
  return pools


class FashionScenes(tfds.core.GeneratorBasedBuilder):
  """The scenes as a TFDS dataset. Features: image, captions (references joined by newlines), labels,
  cells, num_items. The TFDS config name hashes every argument and the source files' stamps, so a
  changed setting never reuses stale prepared files."""

  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, source_dir: str = FASHION_MNIST_DIR, grid: int = 3, cell_size: int = 28, min_items: int = 1,
               max_items: int = 2, num_captions: int = 5, num_train: int = 20000, num_validation: int = 1000,
               num_test: int = 1000, include_digits: bool = False, seed: int = 0, **kwargs: Any):
    files = [os.path.join(source_dir, f) for pair in _FASHION_FILES.values() for f in pair]
    if not all(os.path.exists(f) for f in files):
      raise missing_data_error("fashion_scenes", f"no Fashion-MNIST idx.gz files in {source_dir}: run `apt-get install "
                               "dataset-fashion-mnist` or set config.dataset.local_dir to a folder holding them")
    if grid < 1 or cell_size < 4 or num_captions < 1:
      raise UserError(f"grid={grid}, cell_size={cell_size}, num_captions={num_captions}: need grid >= 1, "
                      "cell_size >= 4 and num_captions >= 1 in config.dataset")
    if grid > len(_NUMBER_WORDS):
      raise UserError(f"grid={grid} is larger than the grammar can name (<= {len(_NUMBER_WORDS)}); lower "
                      "config.dataset.grid")
    self.source_dir = source_dir
    self.args = dict(grid=grid, cell_size=cell_size, min_items=min_items, max_items=max_items,
                     num_captions=num_captions, include_digits=include_digits, seed=seed)
    self.sizes = {"train": num_train, "validation": num_validation, "test": num_test}
    name = "v" + digest([file_stamp(f) for f in files], sorted(self.args.items()), sorted(self.sizes.items()), length=12)
    kwargs.setdefault("config", tfds.core.BuilderConfig(name=name, description=f"{self.args} from {source_dir}"))
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    side = self.args["grid"] * self.args["cell_size"]
    m = self.args["max_items"]
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(side, side, 1), dtype=np.uint8),
            "captions": tfds.features.Text(),
            "labels": tfds.features.Tensor(shape=(m,), dtype=np.int64),
            "cells": tfds.features.Tensor(shape=(m,), dtype=np.int64),
            "num_items": tfds.features.Scalar(dtype=np.int64),
        }),
        description="Fashion-MNIST items on a grid with grammar captions naming items and positions.")

  def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
    a = self.args
    pools = item_pools(self.source_dir, a["cell_size"], a["include_digits"])
    nouns = FASHION_NOUNS + DIGIT_NOUNS
    out = {}
    for i, split in enumerate(SPLITS):
      if self.sizes[split] <= 0:
        continue
      scenes = compose_scenes(*pools[split], nouns, self.sizes[split], grid=a["grid"], min_items=a["min_items"],
                              max_items=a["max_items"], num_captions=a["num_captions"], seed=a["seed"] * 1000 + i)
      out[split] = self._generate_examples(scenes)
    return out

  def _generate_examples(self, scenes: dict[str, Any]):
    for s in range(len(scenes["image"])):
      yield s, {"image": scenes["image"][s], "captions": "\n".join(scenes["captions"][s]),
                "labels": scenes["labels"][s], "cells": scenes["cells"][s], "num_items": int(scenes["num_items"][s])}


# ------------------------------------------------------------------------------------------ loading
@dataclasses.dataclass
class PairedSource(ArraySource):
  """Rows of (image index, caption, ...) over one shared image array, so the five (image, reference)
  training pairs of a scene do not hold five copies of its pixels. `image` is added on gather."""

  images: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0,), np.uint8))

  def __getitems__(self, indices: Sequence[int]) -> Batch:
    out = super().__getitems__(indices)
    out["image"] = self.images[out["image_index"]]
    return out

  def __getitem__(self, index: int) -> dict[str, Any]:
    out = super().__getitem__(index)
    out["image"] = self.images[out["image_index"]]
    return out

  def take(self, indices: Sequence[int]) -> PairedSource:
    return PairedSource(ArraySource.__getitems__(self, indices), images=self.images)


@dataclasses.dataclass
class CaptionCollate:
  """Pads captions to a fixed length T = max_caption_len + 1 (one jit shape for the whole run).

  Output batch:
    image        uint8[B, S, S, 1]
    caption_in   int32[B, T]   <bos> w_1 … w_n, then <pad>   (decoder input, teacher forcing)
    caption_out  int32[B, T]   w_1 … w_n <eos>, then <pad>   (what the decoder predicts)
    caption_mask float32[B, T] 1 on the n + 1 real target positions
    word_cell    int32[B, T]   grid cell of the item that target word names, -1 for other words
    labels, cells int32[B, M]  items (class, cell), -1 padding;  num_items int32[B]
  """

  length: int
  noun_to_class: dict[int, int]

  def __call__(self, batch: Batch) -> Batch:
    caps = batch["caption"]
    b, t = len(caps), self.length
    out = {"caption_in": np.full((b, t), PAD_ID, np.int32), "caption_out": np.full((b, t), PAD_ID, np.int32),
           "word_cell": np.full((b, t), -1, np.int32)}
    labels = np.asarray(batch["labels"], np.int32)
    cells = np.asarray(batch["cells"], np.int32)
    for i, cap in enumerate(caps):
      n = min(len(cap), t - 1)
      out["caption_in"][i, 0] = BOS_ID
      out["caption_in"][i, 1:n + 1] = cap[:n]
      out["caption_out"][i, :n] = cap[:n]
      out["caption_out"][i, n] = EOS_ID
      for j in range(n):
        k = self.noun_to_class.get(int(cap[j]))
        if k is not None:
          hit = np.flatnonzero(labels[i] == k)
          if hit.size:
            out["word_cell"][i, j] = cells[i, hit[0]]
    lengths = np.array([min(len(c), t - 1) + 1 for c in caps])
    out["caption_mask"] = (np.arange(t)[None, :] < lengths[:, None]).astype(np.float32)
    out["image"] = np.asarray(batch["image"])
    out["labels"], out["cells"] = labels, cells
    out["num_items"] = np.asarray(batch["num_items"], np.int32)
    return out


def split_columns(raw: ArraySource, vocab: Vocab, *, pairs: bool) -> PairedSource:
  """TFDS rows → PairedSource; `pairs` gives one row per (image, reference), else one per image (reference 0)."""
  captions = [str(c.decode() if isinstance(c, bytes) else c).split("\n") for c in raw.columns["captions"]]
  refs = [[vocab.encode(c) for c in caps] for caps in captions]
  n = len(refs)
  if pairs:
    index = np.array([i for i in range(n) for _ in refs[i]], np.int64)
    which = np.array([j for i in range(n) for j in range(len(refs[i]))], np.int64)
  else:
    index, which = np.arange(n, dtype=np.int64), np.zeros(n, np.int64)
  columns = {
      "image_index": index,
      "caption": ragged([refs[i][j] for i, j in zip(index, which, strict=True)]),
      "refs": ragged([refs[i] for i in index]),
      "labels": raw.columns["labels"][index], "cells": raw.columns["cells"][index],
      "num_items": raw.columns["num_items"][index], "scene_id": index,
  }
  return PairedSource(columns, images=raw.columns["image"])


def scenes_from_config(cfg: ConfigDict, data_dir: str) -> FashionScenes:
  return FashionScenes(
      source_dir=os.path.expanduser(cfg.get("local_dir") or FASHION_MNIST_DIR), grid=int(cfg.get("grid", 3)),
      cell_size=int(cfg.get("cell_size", 28)), min_items=int(cfg.get("min_items", 1)),
      max_items=int(cfg.get("max_items", 2)), num_captions=int(cfg.get("num_captions", 5)),
      num_train=int(cfg.get("num_train", 20000)), num_validation=int(cfg.get("num_validation", 1000)),
      num_test=int(cfg.get("num_test", 1000)), include_digits=bool(cfg.get("include_digits", False)),
      seed=int(cfg.get("seed", 0)), data_dir=data_dir, file_format="array_record")


@registry.datasets.register("fashion_scenes")
def fashion_scenes(cfg: ConfigDict, data_dir: str) -> Dataset:
  builder = scenes_from_config(cfg, data_dir)
  prepare(builder)
  raw = {s: load_columns(builder.as_data_source(split=s)) for s in builder.info.splits}
  if "train" not in raw:
    raise UserError("fashion_scenes needs config.dataset.num_train > 0 (the vocabulary comes from train captions)")
  train_texts = [t for c in raw["train"].columns["captions"] for t in str(c.decode() if isinstance(c, bytes)
                                                                          else c).split("\n")]
  vocab = Vocab.build(train_texts, kind="word", min_freq=1)
  nouns = FASHION_NOUNS + DIGIT_NOUNS
  noun_ids = np.array([vocab.encode(n)[0] if len(vocab.encode(n)) == 1 else -1 for n in nouns], np.int64)
  noun_to_class = {int(t): k for k, t in enumerate(noun_ids) if t > 3}  # > 3: a real word, not <unk>
  longest = max(len(vocab.split(t)) for split in raw.values() for c in split.columns["captions"]
                for t in str(c.decode() if isinstance(c, bytes) else c).split("\n"))
  pairs = bool(cfg.get("train_pairs", True))

  @functools.cache
  def load(split: str) -> PairedSource:
    return split_columns(raw[split], vocab, pairs=pairs and split == "train")

  grid, cell = builder.args["grid"], builder.args["cell_size"]
  info = {
      "vocab": vocab, "vocab_size": vocab.size, "grid": grid, "num_cells": grid * grid, "cell_size": cell,
      "image_shape": (grid * cell, grid * cell, 1), "max_value": 255,
      "class_names": nouns[:20 if builder.args["include_digits"] else 10],
      "num_classes": 20 if builder.args["include_digits"] else 10,
      "noun_ids": noun_ids, "max_caption_len": longest, "pad_id": PAD_ID, "bos_id": BOS_ID, "eos_id": EOS_ID,
  }
  collate = CaptionCollate(length=longest + 1, noun_to_class=noun_to_class)
  return Dataset(splits={s: functools.partial(load, s) for s in raw}, info=info, collate=collate)


@registry.datasets.register("coco_captions")
def coco_captions(cfg: ConfigDict, data_dir: str) -> Dataset:
  """Official TFDS `coco_captions` (needs internet once; config.dataset.tfds_name names another dataset with
  its features: image, captions/text): images resized to config.dataset.image_size (default 224) RGB,
  references = the human captions (5 per image); words as `fashion_scenes`, min_freq / vocab_size / max_len
  from config.dataset. Alignment columns are absent (COCO has no grid cells), so only BLEU is scored."""
  from research.data.translation import official_builder
  builder = official_builder(cfg.get("tfds_name", "coco_captions"), data_dir, bool(cfg.get("download", True)))
  size = int(cfg.get("image_size", 224))
  limit = cfg.get("train_limit")

  def rows(split: str) -> tuple[np.ndarray, list[list[str]]]:
    from PIL import Image
    src = builder.as_data_source(split=split)
    n = len(src) if not limit else min(len(src), int(limit))
    images, caps = np.zeros((n, size, size, 3), np.uint8), []
    for i in range(n):
      ex = src[i]
      images[i] = np.asarray(Image.fromarray(np.asarray(ex["image"])).convert("RGB").resize((size, size)))
      texts = ex["captions"]["text"]
      caps.append([t.decode() if isinstance(t, bytes) else str(t) for t in texts])
    return images, caps

  data = {s: rows(s) for s in builder.info.splits if s in ("train", "val", "test")}
  vocab = Vocab.build([t for c in data["train"][1] for t in c], kind="word", min_freq=int(cfg.get("min_freq", 5)),
                      max_size=int(cfg.get("vocab_size", 10000)))
  max_len = int(cfg.get("max_len", 20))

  pairs = bool(cfg.get("train_pairs", True))

  def load(split: str) -> PairedSource:
    images, caps = data[split]
    refs = [[vocab.encode(c)[:max_len] for c in cs] for cs in caps]
    # Training: one row per (image, reference), as fashion_scenes; evaluation: one row per image (reference 0).
    if pairs and split == "train":
      index = np.array([i for i in range(len(refs)) for _ in refs[i]], np.int64)
      which = np.array([j for i in range(len(refs)) for j in range(len(refs[i]))], np.int64)
    else:
      index, which = np.arange(len(refs), dtype=np.int64), np.zeros(len(refs), np.int64)
    n = len(index)
    cols = {"image_index": index, "caption": ragged([refs[i][j] for i, j in zip(index, which, strict=True)]),
            "refs": ragged([refs[i] for i in index]), "labels": np.full((n, 1), -1), "cells": np.full((n, 1), -1),
            "num_items": np.zeros(n, np.int64), "scene_id": index}
    return PairedSource(cols, images=images)

  grid = int(cfg.get("grid", 7))  # attention cells per side (features are pooled to grid × grid)
  info = {"vocab": vocab, "vocab_size": vocab.size, "grid": grid, "num_cells": grid * grid, "image_shape": (size, size, 3),
          "max_value": 255, "max_caption_len": max_len, "noun_ids": np.zeros((0,), np.int64),
          "pad_id": PAD_ID, "bos_id": BOS_ID, "eos_id": EOS_ID}
  return Dataset(splits={s: functools.partial(load, s) for s in data}, info=info,
                 collate=CaptionCollate(length=max_len + 1, noun_to_class={}))
