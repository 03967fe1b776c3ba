"""tfds_text: an official-style TFDS text-classification dataset read through the real builder path.

A tiny GeneratorBasedBuilder with imdb_reviews' features (text, label; an 'unsupervised' split labelled -1)
is prepared as array_record into a temporary data dir, and the registered dataset reads it from there.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from ml_collections import ConfigDict

from research.data import get_dataset
from research.errors import UserError

WORDS = ["good", "great", "fine", "bad", "awful", "dull"]


class TinyReviewsFixture(tfds.core.GeneratorBasedBuilder):
  """imdb_reviews' layout: train / test / unsupervised, features text + ClassLabel(neg, pos)."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=["neg", "pos"])}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples(200, 0), "test": self._generate_examples(40, 1),
            "unsupervised": self._generate_examples(30, 2)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      label = int(rng.integers(2))
      words = rng.choice(WORDS[:3] if label else WORDS[3:], size=5)
      yield i, {"text": " ".join(words), "label": -1 if seed == 2 else label}


def _prepare(data_dir):
  TinyReviewsFixture(data_dir=str(data_dir), file_format="array_record").download_and_prepare(
      file_format="array_record")


def test_reads_prepared_copy_and_carves_validation(tmp_path):
  _prepare(tmp_path)
  cfg = ConfigDict(dict(name="tfds_text", tfds_name="tiny_reviews_fixture", download=False, min_freq=1,
                        validation_percent=20, max_len=16))
  ds = get_dataset(cfg, str(tmp_path))
  sizes = {s: len(ds.split(s)) for s in ("train", "validation", "test")}
  assert sizes["test"] == 40                         # the dataset's own test split
  assert sizes["train"] + sizes["validation"] == 200  # the unsupervised split (label -1) is left out
  assert 20 <= sizes["validation"] <= 60             # ~20% by hash of the index
  assert ds.info["num_classes"] == 2
  # the carve-out is a pure function of the index: reading again gives the same split
  again = get_dataset(cfg, str(tmp_path))
  np.testing.assert_array_equal(again.split("validation")[np.arange(5)]["label"],
                                ds.split("validation")[np.arange(5)]["label"])
  batch = ds.collate(ds.split("train")[np.arange(8)])
  assert batch["tokens"].shape[0] == 8 and batch["tokens"].dtype == np.int32
  assert set(np.unique(batch["label"])) <= {0, 1}


def test_missing_copy_offline_is_one_clear_error(tmp_path):
  cfg = ConfigDict(dict(name="tfds_text", tfds_name="tiny_reviews_fixture", download=False))
  with pytest.raises(UserError, match="config.dataset.download=True"):
    get_dataset(cfg, str(tmp_path / "empty"))


def test_wrong_feature_names_are_named(tmp_path):
  _prepare(tmp_path)
  cfg = ConfigDict(dict(name="tfds_text", tfds_name="tiny_reviews_fixture", download=False, text_key="review"))
  with pytest.raises(UserError, match="set config.dataset.text_key/label_key"):
    get_dataset(cfg, str(tmp_path))
