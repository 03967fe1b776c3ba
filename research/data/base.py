"""The data contract every dataset in the registry follows.

A dataset entry is a function `(dataset_config: ConfigDict, data_dir: str) -> Dataset`. A `Dataset`
hands out splits as random-access `Source`s of examples (dicts of numpy arrays); the pipeline
(research/data/pipeline.py) turns a source into sharded, shuffled, padded batches fed by grain.

Builders for local data are `tfds.core.GeneratorBasedBuilder`s writing array_record files, so every
dataset — ours or an official TFDS one — is read the same way: `builder.as_data_source(split)`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from research.errors import UserError

Batch = dict[str, np.ndarray]


def split_of(example_id: str, validation_percent: int, test_percent: int) -> str:
  """'train' | 'validation' | 'test' from a hash (sha256) of the id alone, so adding, removing or reordering data
  never moves an example to another split."""
  h = int(hashlib.sha256(example_id.encode("utf-8")).hexdigest()[:8], 16) % 100
  if h < test_percent:
    return "test"
  return "validation" if h < test_percent + validation_percent else "train"


class Source(Protocol):
  """Random access to one split. `__getitems__` returns a columnar batch: key → array[len(indices), ...]."""

  def __len__(self) -> int: ...

  def __getitems__(self, indices: Sequence[int]) -> Batch: ...


@dataclasses.dataclass
class ArraySource:
  """A split held in memory as columns of equal length. Ragged columns are 1-D object arrays."""

  columns: dict[str, np.ndarray]

  def __post_init__(self):
    lengths = {k: len(v) for k, v in self.columns.items()}
    if len(set(lengths.values())) > 1:
      raise ValueError(f"columns of different lengths: {lengths}")

  def __len__(self) -> int:
    return len(next(iter(self.columns.values()))) if self.columns else 0

  def __getitems__(self, indices: Sequence[int]) -> Batch:
    idx = np.asarray(indices, dtype=np.int64)
    return {k: v[idx] for k, v in self.columns.items()}

  def __getitem__(self, index: int) -> dict[str, Any]:
    return {k: v[index] for k, v in self.columns.items()}

  def take(self, indices: Sequence[int]) -> ArraySource:
    """A new source with only `indices` (e.g. a deterministic subset or a validation split)."""
    return ArraySource(self.__getitems__(indices))


def load_columns(data_source: Any, *, chunk: int = 4096) -> ArraySource:
  """Reads a whole TFDS/grain random-access source into memory as columns.

  Small research datasets fit in memory, and a columnar copy makes a batch one numpy gather
  instead of one Python call per example, which keeps the input pipeline off the critical path.
  """
  n = len(data_source)
  rows: list[Mapping[str, Any]] = []
  getitems = getattr(data_source, "__getitems__", None)
  for start in range(0, n, chunk):
    keys = list(range(start, min(n, start + chunk)))
    rows.extend(getitems(keys) if getitems else [data_source[i] for i in keys])
  if not rows:
    return ArraySource({})
  columns: dict[str, np.ndarray] = {}
  for key in rows[0]:
    values = [r[key] for r in rows]
    shapes = {np.shape(v) for v in values}
    if len(shapes) == 1:
      columns[key] = np.stack([np.asarray(v) for v in values])
    else:  # ragged, e.g. token sequences of different lengths
      col = np.empty(len(values), dtype=object)
      col[:] = [np.asarray(v) for v in values]
      columns[key] = col
  return ArraySource(columns)


@dataclasses.dataclass
class Dataset:
  """What a dataset entry returns.

  Attributes:
    splits: split name → random-access source (callable so large splits load lazily).
    info: facts the model and task need (e.g. `num_classes`, `image_shape`, `vocab_size`).
    collate: optional batch function applied after gathering (e.g. pad ragged sequences).
  """

  splits: Mapping[str, Callable[[], Source]]
  info: dict[str, Any] = dataclasses.field(default_factory=dict)
  collate: Callable[[Batch], Batch] | None = None

  def split(self, name: str) -> Source:
    if name not in self.splits:
      raise UserError(f"dataset has no split {name!r}; available: {', '.join(self.splits)}")
    return self.splits[name]()


def missing_data_error(name: str, how: str) -> UserError:
  return UserError(f"{name} data not found; {how}")


# ------------------------------------------------------------------------------------------ builder helpers
# What the local builders (translation, scenes, text, synthetic) share.


def ragged(arrays: Sequence[Any]) -> np.ndarray:
  """A column of variable-length items: object array [N] whose entries are the items themselves (never a 2-D
  array, even when every item has the same length)."""
  col = np.empty(len(arrays), dtype=object)
  col[:] = list(arrays)
  return col


def file_stamp(path: str) -> tuple[str, int, int]:
  """(absolute path, size, mtime): what a builder config name depends on, so an edited source file re-prepares."""
  st = os.stat(path)
  return os.path.abspath(path), st.st_size, int(st.st_mtime)


def digest(*parts: Any, length: int = 10) -> str:
  """A short stable hash of `repr(parts)`: builder config names ('v' + digest) that change with their inputs."""
  return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:length]


def prepare(builder: Any) -> Any:
  """Prepares a TFDS builder as array_record (read without TensorFlow) and returns it.

  Runs that start together on a fresh data dir (a sweep with --parallel, several hosts on one disk) would each
  generate the dataset and race to rename their copy into place (FileExistsError for all but one), so preparing
  holds an exclusive lock on DATA_DIR/<name>/<config>/<version>.lock: the first run writes, the others wait and
  then reuse what it wrote. Builders must be constructed with file_format='array_record' (every call site is),
  or a waiting one would expect TFDS's default tfrecord copy.
  """
  def read_prepared() -> Any:
    # Prepared by another run after this builder was made (its info has no splits yet): read that copy's info
    # from disk rather than "prepare" again (TFDS would refuse a format mismatch).
    if not builder.info.splits:
      builder.info.read_from_directory(builder.data_dir)
    return builder

  if builder.is_prepared():  # the usual case: no lock, so a read-only shared data dir keeps working
    return read_prepared()
  os.makedirs(os.path.dirname(builder.data_dir), exist_ok=True)
  with open(f"{builder.data_dir}.lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if builder.is_prepared():  # by the run that held the lock while this one waited
        return read_prepared()
      builder.download_and_prepare(file_format="array_record")
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return builder

