"""`fashion_mnist_subsets`: Fashion-MNIST plus a `train_subset` evaluation split.

`config.dataset.train_fraction` / `validation_fraction` pick the training examples (research.train.load_splits),
but an evaluation split named "train" would be the full 60,000-image split. The overfitting experiment needs the
accuracy *in evaluation mode* (dropout and input noise off) on exactly the examples trained on, so this entry
adds a split `train_subset` built by the same `load_splits` call the trainer makes: the same fixed permutation,
the same fractions, hence the same examples.
"""

from __future__ import annotations

from ml_collections import ConfigDict

from research import registry
from research.data.base import Dataset

NAME = "fashion_mnist_subsets"


def fashion_mnist_subsets(cfg: ConfigDict, data_dir: str) -> Dataset:
  from research.data.images import fashion_mnist
  from research.train import load_splits  # the trainer's own selection, not a copy of it
  base = fashion_mnist(cfg, data_dir)
  plain = ConfigDict({"dataset": dict(cfg.to_dict(), eval_splits=())})

  def train_subset():
    return load_splits(plain, base)[0]

  return Dataset(splits={**base.splits, "train_subset": train_subset}, info=base.info, collate=base.collate)


def register() -> None:
  """Idempotent: the config file calls it, and research.main may load the config module more than once."""
  if NAME not in registry.datasets:
    registry.datasets.register(NAME)(fashion_mnist_subsets)
