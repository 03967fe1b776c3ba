"""fashion_scenes: the caption grammar, scene composition (items where the labels say, determinism,
no test item seen in training), the TFDS builder on idx.gz fixtures and the caption collate."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
import pytest
from conftest import make_fashion_fixture
from ml_collections import ConfigDict

from research.data import scenes
from research.data.images import read_idx
from research.data.vocab import BOS_ID, EOS_ID, PAD_ID
from research.errors import UserError


def test_positions_and_relations():
  names = {scenes.position_phrase(r, c, 3) for r in range(3) for c in range(3)}
  assert len(names) == 9  # every cell of the 3×3 grid has its own name
  assert scenes.position_phrase(1, 1, 3) == "in the middle"
  assert scenes.position_phrase(0, 2, 3) == "at the top right"
  assert scenes.position_phrase(1, 0, 3) == "on the left"
  assert len({scenes.position_phrase(r, c, 4) for r in range(4) for c in range(4)}) == 16
  assert scenes.relation_phrase((0, 1), (2, 1)) == "above"
  assert scenes.relation_phrase((2, 2), (0, 0)) == "below and to the right of"
  assert scenes.relation_phrase((1, 0), (1, 2)) == "to the left of"


@pytest.mark.parametrize("k", [1, 2, 3])
def test_every_candidate_names_each_item_once(k):
  nouns = ["sneaker", "bag", "trousers"][:k]
  cells = [0, 8, 4][:k]
  caps = scenes.candidate_captions(nouns, cells, 3)
  assert len(caps) == len(set(caps)) >= 5
  for cap in caps:
    words = cap.replace(",", " ").split()
    for noun in nouns:
      assert words.count(noun) == 1, cap


def fashion_pool(n=40, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(1, 255, (n, 6, 6)).astype(np.uint8), rng.integers(0, 10, n)


def test_compose_places_items_where_recorded():
  images, labels = fashion_pool()
  out = scenes.compose_scenes(images, labels, scenes.FASHION_NOUNS, 20, grid=3, min_items=1, max_items=3,
                              num_captions=4, seed=3)
  assert out["image"].shape == (20, 18, 18, 1)
  for s in range(20):
    k = out["num_items"][s]
    assert 1 <= k <= 3 and (out["labels"][s, k:] == -1).all()
    assert len(set(out["labels"][s, :k])) == k and len(set(out["cells"][s, :k])) == k
    assert len(out["captions"][s]) == 4 and len(set(out["captions"][s])) == 4
    for cell in range(9):
      r, c = divmod(cell, 3)
      patch = out["image"][s, 6 * r:6 * r + 6, 6 * c:6 * c + 6, 0]
      if cell in out["cells"][s, :k]:
        label = out["labels"][s, list(out["cells"][s, :k]).index(cell)]
        # The patch is one of the pool's images of exactly that class.
        matches = [i for i in range(len(images)) if (images[i] == patch).all()]
        assert matches and all(labels[i] == label for i in matches)
      else:
        assert (patch == 0).all()
  again = scenes.compose_scenes(images, labels, scenes.FASHION_NOUNS, 20, grid=3, min_items=1, max_items=3,
                                num_captions=4, seed=3)
  assert all(np.array_equal(out[k], again[k]) for k in ("image", "labels", "cells")) and out["captions"] == again[
      "captions"]
  other = scenes.compose_scenes(images, labels, scenes.FASHION_NOUNS, 20, grid=3, max_items=3, seed=4)
  assert not np.array_equal(out["image"], other["image"])


def test_compose_rejects_impossible_item_counts():
  images, labels = fashion_pool()
  with pytest.raises(UserError, match="max_items"):
    scenes.compose_scenes(images, labels, scenes.FASHION_NOUNS, 2, grid=2, max_items=5)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
  return make_fashion_fixture(str(tmp_path_factory.mktemp("fashion_scenes_src")), n_train=60, n_test=20)


def load(fixture_dir, data_dir, **kw):
  cfg = ConfigDict(dict(local_dir=fixture_dir, num_train=30, num_validation=6, num_test=8, **kw))
  return scenes.fashion_scenes(cfg, data_dir)


def test_builder_on_fixture(fixture_dir, tmp_path):
  ds = load(fixture_dir, str(tmp_path))
  train, test = ds.split("train"), ds.split("test")
  assert len(train) == 30 * 5 and len(test) == 8 and len(ds.split("validation")) == 6
  assert ds.info["image_shape"] == (84, 84, 1) and ds.info["num_cells"] == 9
  vocab = ds.info["vocab"]
  # Test scenes show only Fashion-MNIST *test* images.
  test_items = read_idx(os.path.join(fixture_dir, "t10k-images-idx3-ubyte.gz"))
  train_items = read_idx(os.path.join(fixture_dir, "train-images-idx3-ubyte.gz"))
  rows = test.__getitems__(np.arange(8))
  for s in range(8):
    for cell in rows["cells"][s][rows["cells"][s] >= 0]:
      r, c = divmod(int(cell), 3)
      patch = rows["image"][s, 28 * r:28 * r + 28, 28 * c:28 * c + 28, 0]
      assert any((patch == x).all() for x in test_items) and not any((patch == x).all() for x in train_items)

  batch = ds.collate(train.__getitems__(np.arange(12)))
  t = ds.info["max_caption_len"] + 1
  for key in ("caption_in", "caption_out", "caption_mask", "word_cell"):
    assert batch[key].shape == (12, t)
  assert batch["image"].shape == (12, 84, 84, 1) and batch["image"].dtype == np.uint8
  assert (batch["caption_in"][:, 0] == BOS_ID).all()
  lengths = batch["caption_mask"].sum(1).astype(int)
  for i in range(12):
    n = lengths[i]
    assert batch["caption_out"][i, n - 1] == EOS_ID and (batch["caption_out"][i, n:] == PAD_ID).all()
    np.testing.assert_array_equal(batch["caption_in"][i, 1:n], batch["caption_out"][i, :n - 1])
    # word_cell marks exactly the class words, each with the cell of the item of that class.
    for j in range(n - 1):
      word = vocab.tokens[batch["caption_out"][i, j]]
      if word in scenes.FASHION_NOUNS:
        k = scenes.FASHION_NOUNS.index(word)
        assert batch["word_cell"][i, j] == batch["cells"][i][list(batch["labels"][i]).index(k)]
      else:
        assert batch["word_cell"][i, j] == -1
  # The same settings give the same dataset (the prepared files are reused, or rebuilt identically).
  again = load(fixture_dir, str(tmp_path / "other"))
  np.testing.assert_array_equal(again.split("test").__getitems__([0, 1])["image"], rows["image"][:2])


def test_options_change_the_data(fixture_dir, tmp_path):
  ds = load(fixture_dir, str(tmp_path), grid=2, cell_size=14, include_digits=True, max_items=3, num_captions=2)
  assert ds.info["image_shape"] == (28, 28, 1) and ds.info["num_classes"] == 20
  train = ds.split("train")
  assert len(train) == 30 * 2
  rows = train.__getitems__(np.arange(len(train)))
  assert rows["labels"].max() >= 10  # some digits were placed
  words = {w for r in rows["refs"] for ids in r for w in ds.info["vocab"].decode(ids).split()}
  assert words & set(scenes.DIGIT_NOUNS) and "middle" not in words  # 2×2 grids have no middle


def test_missing_source_is_one_line_error(tmp_path):
  with pytest.raises(UserError, match="dataset-fashion-mnist") as e:
    scenes.fashion_scenes(ConfigDict(dict(local_dir=str(tmp_path / "nope"))), str(tmp_path))
  assert "\n" not in str(e.value)


def test_coco_offline_is_one_line_error(tmp_path):
  with pytest.raises(UserError, match="coco_captions") as e:
    scenes.coco_captions(ConfigDict(dict(download=False)), str(tmp_path))
  assert "\n" not in str(e.value)
