"""Shared fixtures: CPU-only JAX, a private TFDS data_dir, a runner for `python -m research.main`,
and small idx.gz fixtures in the real Fashion-MNIST format."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_CACHE = os.path.join(tempfile.gettempdir(), f"research-test-jax-cache-{os.getuid()}")


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
  full_env = dict(os.environ)
  full_env.update({"JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT,
                   # Subprocesses compile the same steps again and again: share XLA's persistent cache.
                   "JAX_COMPILATION_CACHE_DIR": COMPILE_CACHE,
                   "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                   "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"})
  full_env.pop("XLA_FLAGS", None)
  full_env.pop("RESEARCH_FAULT", None)
  full_env.update(env or {})
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
