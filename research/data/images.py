"""Image classification datasets: `digits` (scikit-learn, no download) and `fashion_mnist`.

Both are TFDS `GeneratorBasedBuilder`s that read a locally installed copy and write array_record
files under `config.data_dir`; `fashion_mnist` falls back to the official TFDS dataset (which
downloads) only when the local copy is missing and `config.dataset.download` is True.
"""

from __future__ import annotations

import gzip
import os
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from ml_collections import ConfigDict

from research import registry
from research.data.base import Dataset, load_columns, missing_data_error, prepare, split_of
from research.errors import UserError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str) -> np.ndarray:
  """Reads an idx file (optionally gzipped): magic 0x0000 0x08 ndim, then big-endian dims, then uint8."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    raw = f.read()
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
    raise UserError(f"{path} is not an idx uint8 file (bad magic {raw[:4]!r}); re-install the dataset")
  ndim = raw[3]
  dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(np.int64)
  data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
  if data.size != int(np.prod(dims)):
    raise UserError(f"{path} is truncated: header says {tuple(dims)}, file holds {data.size} values")
  return data.reshape(tuple(dims))


class LocalDigits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's 1,797 8x8 digits (values 0..16), split 80/20 by a hash of the example index."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=("image", "label"),
        description="UCI optdigits as shipped by scikit-learn (load_digits).")

  def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
    from sklearn.datasets import load_digits  # a dependency; no download
    d = load_digits()
    images = d.images.astype(np.uint8)[..., None]
    labels = d.target.astype(np.int64)
    keys = {s: [i for i in range(len(labels)) if split_of(f"digits/{i}", 0, 20) == s] for s in ("train", "test")}
    return {s: self._generate_examples(images, labels, idx) for s, idx in keys.items()}

  def _generate_examples(self, images: np.ndarray, labels: np.ndarray, indices: list[int]):
    for i in indices:
      yield i, {"image": images[i], "label": int(labels[i])}


class LocalFashionMnist(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST from idx.gz files (Debian `dataset-fashion-mnist` or any folder with the 4 files)."""

  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, source_dir: str = FASHION_MNIST_DIR, **kwargs: Any):
    self.source_dir = source_dir
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(names=list(FASHION_MNIST_CLASSES)),
        }),
        supervised_keys=("image", "label"),
        description="Zalando Fashion-MNIST, 60k train + 10k test, read from local idx.gz files.")

  def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
    return {split: self._generate_examples(*files) for split, files in _FASHION_FILES.items()}

  def _generate_examples(self, image_file: str, label_file: str):
    images = read_idx(os.path.join(self.source_dir, image_file))
    labels = read_idx(os.path.join(self.source_dir, label_file))
    if len(images) != len(labels):
      raise UserError(f"{image_file} has {len(images)} images but {label_file} has {len(labels)} labels")
    for i in range(len(labels)):
      yield i, {"image": images[i][..., None], "label": int(labels[i])}


def _from_builder(builder: tfds.core.DatasetBuilder, info: dict[str, Any]) -> Dataset:
  prepare(builder)
  splits = {s: (lambda s=s: load_columns(builder.as_data_source(split=s))) for s in builder.info.splits}
  return Dataset(splits=splits, info=info)


def _official(name: str, cfg: ConfigDict, data_dir: str, how: str) -> Dataset:
  """An official TFDS dataset read through `tfds.data_source` (array_record, no TensorFlow)."""
  try:
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    if cfg.get("download", True):
      prepare(builder)
    elif not builder.is_prepared():
      raise missing_data_error(name, how)
  except UserError:
    raise
  except Exception as e:  # network errors, unknown names, ... → one line
    raise missing_data_error(name, f"{how} ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
  info = {}
  for feature in builder.info.features.values():
    if isinstance(feature, tfds.features.ClassLabel):
      info["num_classes"] = feature.num_classes
    if isinstance(feature, (tfds.features.Image, tfds.features.Tensor)):
      info["image_shape"] = tuple(feature.shape)
    if isinstance(feature, tfds.features.Image) and feature.np_dtype == np.uint8:
      info["max_value"] = 255  # the task scales pixels by 1 / max_value into [0, 1]
  splits = {s: (lambda s=s: load_columns(builder.as_data_source(split=s))) for s in builder.info.splits}
  return Dataset(splits=splits, info=info)


@registry.datasets.register("digits")
def digits(cfg: ConfigDict, data_dir: str) -> Dataset:
  return _from_builder(LocalDigits(data_dir=data_dir, file_format="array_record"),
                       {"num_classes": 10, "image_shape": (8, 8, 1), "max_value": 16})


@registry.datasets.register("fashion_mnist")
def fashion_mnist(cfg: ConfigDict, data_dir: str) -> Dataset:
  source_dir = cfg.get("local_dir") or FASHION_MNIST_DIR
  info = {"num_classes": 10, "image_shape": (28, 28, 1), "max_value": 255,
          "class_names": FASHION_MNIST_CLASSES}
  files = [os.path.join(source_dir, f) for pair in _FASHION_FILES.values() for f in pair]
  if all(os.path.exists(f) for f in files):
    return _from_builder(LocalFashionMnist(source_dir=source_dir, data_dir=data_dir, file_format="array_record"), info)
  how = (f"no idx.gz files in {source_dir}: run `apt-get install dataset-fashion-mnist` or set "
         "config.dataset.local_dir to a folder holding them")
  if not cfg.get("download", False):
    raise missing_data_error("fashion_mnist", how + ", or set config.dataset.download=True to fetch the official TFDS copy")
  return _official("fashion_mnist", cfg, data_dir, how)


def official(cfg: ConfigDict, data_dir: str) -> Dataset:
  """`config.dataset.name = 'tfds:NAME'`: any official TFDS dataset, for users with internet."""
  name = cfg.name.split(":", 1)[1]
  return _official(name, cfg, data_dir, f"`tfds:{name}` needs internet access or a prepared copy in {data_dir}")
