"""The device mesh: batch sharded along `data`, parameters replicated (a `model` axis of size 1 is
kept so tensor parallelism can be added later without changing call sites). No pmap."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from research.errors import UserError


def make_mesh(num_model: int = 1) -> Mesh:
  devices = np.asarray(jax.devices())
  if devices.size % num_model:
    raise UserError(f"{devices.size} devices cannot be split into model-parallel groups of {num_model}")
  return Mesh(devices.reshape(-1, num_model), ("data", "model"))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`; other axes replicated."""
  return NamedSharding(mesh, P("data"))


def check_batch_size(global_batch_size: int, mesh: Mesh, what: str = "config.batch_size") -> None:
  n = mesh.shape["data"]
  if global_batch_size % n or global_batch_size % jax.process_count():
    raise UserError(f"{what}={global_batch_size} is not divisible by the {n} data-parallel devices "
                    f"({jax.process_count()} processes); choose a multiple of {n}")


def stacked_data_sharded(mesh: Mesh) -> NamedSharding:
  """Several batches stacked on a new leading axis [n, B, ...]: the batch axis (1) split over 'data'."""
  return NamedSharding(mesh, P(None, "data"))


def to_global(batch: dict[str, np.ndarray], mesh: Mesh, *, stacked: bool = False) -> dict[str, jax.Array | np.ndarray]:
  """This process's slice of the global batch → what a jitted step with `data_sharded` inputs takes.

  With one process the numpy batch is returned as is: jit's C++ dispatch shards it onto the devices
  several times faster than building jax.Arrays in Python (≈60 µs vs ≈400 µs for a small batch).
  With several processes each holds only its slice, so global arrays must be assembled explicitly.
  stacked: the arrays are [n, B_local, ...] (`stacked_data_sharded`) instead of [B_local, ...].
  """
  if jax.process_count() == 1:
    return batch
  sharding = stacked_data_sharded(mesh) if stacked else data_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def replicate(tree: Any, mesh: Mesh) -> Any:
  return jax.device_put(tree, replicated(mesh))
