"""Dataset registry entries and the one way the framework gets a dataset from a config."""

from __future__ import annotations

import os

import tensorflow_datasets as tfds
from ml_collections import ConfigDict

from research import registry
from research.data import (  # noqa: F401  (importing registers the datasets)
  images,  # digits, fashion_mnist
  scenes,  # fashion_scenes, coco_captions
  synthetic,  # synthetic_seq
  text,  # rotten_tomatoes(_pairs, _text), austen, kjv_text
  text_official,  # tfds_text (imdb_reviews and other official TFDS text classification sets)
  translation,  # bible_zh_en, parallel_text, tfds_translation
)
from research.data.base import Dataset

tfds.disable_progress_bar()  # the console is for training progress; preparation is quick


def get_dataset(cfg: ConfigDict, data_dir: str | None) -> Dataset:
  """config.dataset → Dataset. `tfds:NAME` reads any official TFDS dataset (internet needed once)."""
  data_dir = os.path.expanduser(data_dir or "~/tensorflow_datasets")
  if cfg.name.startswith("tfds:"):
    return images.official(cfg, data_dir)
  return registry.datasets.get(cfg.name)(cfg, data_dir)
