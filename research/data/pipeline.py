"""Batches from a random-access `Source`, fed by grain.

Training reads one endless stream: epoch e visits the examples in the permutation drawn from
(seed, e); batch i holds stream positions [i·B, (i+1)·B), so batches may straddle epochs and no
example is dropped. Because batch i is a pure function of (seed, i), the iterator's position is just
the index of the next batch: that is what checkpoints store, and a resumed run sees exactly the
batches an uninterrupted one would.

Evaluation visits every example once in order; the last partial batch is padded to full size and
its `mask` is 0 on the padding, so nothing is dropped and nothing is counted twice.

Every batch carries `mask: float32[B]` (1 = real example). With several processes each one gathers
only its contiguous slice of the global batch (research.train.sharding.to_global assembles the global array).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import grain.python as grain
import jax
import numpy as np

from research.data.base import Batch, Source
from research.errors import UserError


class BatchStream:
  """Random access to this process's part of global batch i (a grain-compatible source of batches)."""

  def __init__(self, source: Source, global_batch_size: int, *, seed: int = 0, shuffle: bool = True,
               train: bool = True, collate: Callable[[Batch], Batch] | None = None,
               process_index: int | None = None, process_count: int | None = None):
    self.source = source
    self.n = len(source)
    if self.n == 0:
      raise UserError("the dataset split is empty; check config.dataset (split names, train_fraction, data files)")
    self.global_batch_size = global_batch_size
    self.seed, self.shuffle, self.train = seed, shuffle, train
    self.collate = collate
    self.process_index = jax.process_index() if process_index is None else process_index
    self.process_count = jax.process_count() if process_count is None else process_count
    self.local_batch_size = global_batch_size // self.process_count
    self._perms: dict[int, np.ndarray] = {}

  def __len__(self) -> int:
    if self.train:
      return 2**62  # endless stream; the loop decides when to stop
    return math.ceil(self.n / self.global_batch_size)

  def _perm(self, epoch: int) -> np.ndarray:
    if not self.shuffle:
      return np.arange(self.n)
    if epoch not in self._perms:
      if len(self._perms) > 2:
        self._perms.pop(min(self._perms))
      self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
    return self._perms[epoch]

  def indices(self, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Example indices and mask of this process's slice of global batch i."""
    start = i * self.global_batch_size + self.process_index * self.local_batch_size
    pos = np.arange(start, start + self.local_batch_size)
    if self.train:
      epochs, offsets = np.divmod(pos, self.n)
      idx = np.empty_like(pos)
      for e in np.unique(epochs):
        sel = epochs == e
        idx[sel] = self._perm(int(e))[offsets[sel]]
      return idx, np.ones(len(pos), np.float32)
    mask = (pos < self.n).astype(np.float32)
    return self._perm(0)[np.minimum(pos, self.n - 1)], mask

  def __getitem__(self, i: int) -> Batch:
    idx, mask = self.indices(int(i))
    batch = self.source.__getitems__(idx)
    if self.collate is not None:
      batch = self.collate(batch)
    batch = dict(batch)
    batch["mask"] = mask
    return batch


def iterate(stream: BatchStream, start: int = 0, stop: int | None = None,
            prefetch: int = 2) -> Iterator[Batch]:
  """Yields batches start, start+1, … (stop exclusive) with grain reading ahead in a thread."""
  stop = len(stream) if stop is None else min(stop, len(stream))
  if start >= stop:
    return iter(())
  ds = grain.MapDataset.source(stream)[start:stop]
  opts = grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch) if prefetch else grain.ReadOptions(num_threads=0)
  return iter(ds.to_iter_dataset(opts))


def steps_per_epoch(num_examples: int, global_batch_size: int) -> float:
  return num_examples / global_batch_size
