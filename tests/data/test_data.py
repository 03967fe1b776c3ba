"""Data layer: the real builders on small fixtures in the real formats, and the batching rules."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from conftest import make_fashion_fixture, write_idx
from hypothesis import given, settings
from hypothesis import strategies as st
from ml_collections import ConfigDict

from research.data import get_dataset
from research.data.base import ArraySource
from research.data.images import read_idx
from research.data.pipeline import BatchStream, iterate
from research.errors import UserError


def test_read_idx_roundtrip(tmp_path):
  a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  write_idx(str(tmp_path / "x.gz"), a)
  np.testing.assert_array_equal(read_idx(str(tmp_path / "x.gz")), a)


def test_read_idx_rejects_truncated(tmp_path):
  a = np.zeros((5, 28, 28), np.uint8)
  write_idx(str(tmp_path / "x.gz"), a)
  with gzip.open(tmp_path / "x.gz") as f:
    raw = f.read()
  with gzip.open(tmp_path / "y.gz", "wb") as f:
    f.write(raw[:-100])
  with pytest.raises(UserError, match="truncated"):
    read_idx(str(tmp_path / "y.gz"))


def test_fashion_mnist_builder_on_idx_fixture(tmp_path, data_dir):
  src = make_fashion_fixture(str(tmp_path / "fm"), n_train=30, n_test=10, seed=3)
  cfg = ConfigDict({"name": "fashion_mnist", "local_dir": src, "download": False})
  ds = get_dataset(cfg, str(tmp_path / "tfds"))
  train, test = ds.split("train"), ds.split("test")
  assert len(train) == 30 and len(test) == 10
  assert train.columns["image"].shape == (30, 28, 28, 1) and train.columns["image"].dtype == np.uint8
  np.testing.assert_array_equal(np.sort(train.columns["label"]),
                                np.sort(read_idx(os.path.join(src, "train-labels-idx1-ubyte.gz"))))
  assert ds.info["num_classes"] == 10


def test_fashion_mnist_missing_data_is_one_clear_error(tmp_path):
  cfg = ConfigDict({"name": "fashion_mnist", "local_dir": str(tmp_path / "nothing"), "download": False})
  with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
    get_dataset(cfg, str(tmp_path / "tfds"))


def test_digits_split_is_fixed_and_disjoint(data_dir):
  ds = get_dataset(ConfigDict({"name": "digits"}), data_dir)
  train, test = ds.split("train"), ds.split("test")
  assert len(train) + len(test) == 1797
  assert 0.15 < len(test) / 1797 < 0.25
  assert train.columns["image"].max() <= 16


def test_unknown_dataset_names_known_ones(data_dir):
  with pytest.raises(UserError, match="known: .*digits"):
    get_dataset(ConfigDict({"name": "digitz"}), data_dir)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), batch=st.sampled_from([1, 2, 4, 8]), processes=st.sampled_from([1, 2, 4, 8]),
       seed=st.integers(0, 5), epochs=st.integers(1, 3))
def test_every_example_once_per_epoch(n, batch, processes, seed, epochs):
  """The training stream is a sequence of permutations: across processes, each epoch's n positions
  hold every example exactly once."""
  batch *= processes
  src = ArraySource({"id": np.arange(n)})
  streams = [BatchStream(src, batch, seed=seed, process_index=p, process_count=processes) for p in range(processes)]
  steps = -(-epochs * n // batch)
  seen = []
  for i in range(steps):
    seen.extend(np.concatenate([s[i]["id"] for s in streams]))
  seen = np.asarray(seen[: epochs * n]).reshape(epochs, n)
  for e in range(epochs):
    np.testing.assert_array_equal(np.sort(seen[e]), np.arange(n))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), batch=st.sampled_from([1, 3, 4, 8]), processes=st.sampled_from([1, 2]))
def test_eval_padding_masks_exactly_the_real_examples(n, batch, processes):
  batch *= processes
  src = ArraySource({"id": np.arange(n)})
  ids, masks = [], []
  for p in range(processes):
    s = BatchStream(src, batch, train=False, shuffle=False, process_index=p, process_count=processes)
    for i in range(len(s)):
      b = s[i]
      assert b["id"].shape == (batch // processes,)  # always full (padded) batches
      ids.append((i, p, b["id"]))
      masks.append((i, p, b["mask"]))
  ids = np.concatenate([x for _, _, x in sorted(ids, key=lambda t: (t[0], t[1]))])
  masks = np.concatenate([x for _, _, x in sorted(masks, key=lambda t: (t[0], t[1]))])
  assert masks.sum() == n
  np.testing.assert_array_equal(ids[masks == 1], np.arange(n))


def test_stream_is_deterministic_and_resumable():
  src = ArraySource({"id": np.arange(37)})
  a = [b["id"] for b in iterate(BatchStream(src, 8, seed=4), 0, 12)]
  b = [b["id"] for b in iterate(BatchStream(src, 8, seed=4), 5, 12)]
  for x, y in zip(a[5:], b, strict=True):
    np.testing.assert_array_equal(x, y)


def test_empty_split_is_refused():
  with pytest.raises(UserError, match="empty"):
    BatchStream(ArraySource({"id": np.arange(0)}), 4)


SLOW_BUILDER = '''
import sys, time
import numpy as np
import tensorflow_datasets as tfds
from research.data.base import prepare, load_columns

class SlowRaceFixture(tfds.core.GeneratorBasedBuilder):
  VERSION = tfds.core.Version("1.0.0")
  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({"x": np.int64}))
  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}
  def _generate_examples(self):
    for i in range(20):
      time.sleep(0.05)  # a second of generation: both processes are inside it at once without the lock
      yield i, {"x": i}

start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
builder = prepare(SlowRaceFixture(data_dir=sys.argv[1], file_format="array_record"))  # as research/data builds them
print(sorted(load_columns(builder.as_data_source(split="train")).columns["x"].tolist()) == list(range(20)))
'''


def test_runs_preparing_one_dataset_at_once_both_succeed(tmp_path):
  """Two processes that start preparing the same builder into the same fresh data dir at the same moment (a
  sweep with --parallel on a new machine) both finish and read the same data: one writes, the other waits."""
  import subprocess
  import sys
  import time

  from conftest import ROOT, subprocess_env
  script = tmp_path / "slow_builder.py"
  script.write_text(SLOW_BUILDER)
  start = str(time.time() + 3.0)  # both import TFDS first, then begin together
  procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "tfds"), start], cwd=ROOT,
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(2)]
  results = [p.communicate(timeout=120) for p in procs]
  for p, (out, err) in zip(procs, results, strict=True):
    assert p.returncode == 0, err[-2000:]
    assert out.strip().splitlines()[-1] == "True"
