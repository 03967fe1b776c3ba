"""Shared fixtures: CPU-only JAX, a private TFDS data_dir, a runner for `python -m research.main`,
and small idx.gz fixtures in the real Fashion-MNIST format."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Compiling is most of the suite's time (tiny models, a few steps each), so the tests, and every process they
# start, (1) compile at XLA's backend optimization level 0, which checks the same behaviour and compiles about
# a third faster (the benchmarks keep the default), and (2) share one persistent compilation cache, so a jitted
# step another test, xdist worker or subprocess already compiled is read back instead of rebuilt. The cache is
# fresh per session (made by the first process, inherited by xdist workers through the environment, removed
# at the end), so a run's time never depends on what an earlier run left in /tmp.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
_OWNS_CACHE = "RESEARCH_TEST_JAX_CACHE" not in os.environ  # xdist workers inherit the first process's
if _OWNS_CACHE:
  os.environ["RESEARCH_TEST_JAX_CACHE"] = tempfile.mkdtemp(prefix="research-test-jax-cache-")
COMPILE_CACHE = os.environ["RESEARCH_TEST_JAX_CACHE"]
CACHE_ENV = {"JAX_COMPILATION_CACHE_DIR": COMPILE_CACHE, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), TEST_XLA_FLAGS) if f)
for _key, _value in CACHE_ENV.items():
  os.environ.setdefault(_key, _value)


def xla_flags(devices: int | None = None) -> str:
  """XLA_FLAGS for a test subprocess: the suite's flags, and `devices` fake CPU devices when given."""
  return TEST_XLA_FLAGS + (f" --xla_force_host_platform_device_count={devices}" if devices else "")


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
  """The environment of a process a test starts: CPU JAX, the repo on PYTHONPATH, the suite's XLA flags and
  compilation cache, and none of the caller's device-count or fault-injection settings; then `extra`."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT, XLA_FLAGS=xla_flags(), **CACHE_ENV)
  for key in ("RESEARCH_FAULT", "RESEARCH_DISTRIBUTED", "JAX_COORDINATOR_ADDRESS"):
    env.pop(key, None)
  env.update(extra or {})
  return env


def pytest_unconfigure(config) -> None:
  if _OWNS_CACHE and not hasattr(config, "workerinput"):
    shutil.rmtree(COMPILE_CACHE, ignore_errors=True)


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes a uint8 array as a gzipped idx file (magic 0x00000803 for 3-D images, 0x00000801 for labels)."""
  array = np.asarray(array, np.uint8)
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.tobytes())


def make_fashion_fixture(folder: str, n_train: int = 64, n_test: int = 24, seed: int = 0) -> str:
  """Four idx.gz files laid out like /usr/share/datasets/fashion-mnist, with learnable labels."""
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  for prefix, n in (("train", n_train), ("t10k", n_test)):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    images[np.arange(n), labels * 2, :] = 255  # one bright row per class
    write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), images)
    write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), labels)
  return folder


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory) -> str:
  return make_fashion_fixture(str(tmp_path_factory.mktemp("fashion_src")))


def run_main(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
  """Runs `python -m research.main ARGS` in a fresh process (as a user would) and returns it."""
  full_env = subprocess_env(env)
  return subprocess.run([sys.executable, "-m", "research.main", *args], cwd=ROOT, env=full_env,
                        capture_output=True, text=True, timeout=timeout)


def read_jsonl(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def snapshot(folder: str) -> dict[str, tuple[int, float, bytes]]:
  """Every file under `folder` with its size, mtime and bytes — to prove nothing changed."""
  out = {}
  for root, _, files in os.walk(folder):
    for name in files:
      p = os.path.join(root, name)
      with open(p, "rb") as f:
        out[os.path.relpath(p, folder)] = (os.path.getsize(p), os.path.getmtime(p), f.read())
  return out
