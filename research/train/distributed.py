"""Multi-host start-up: `jax.distributed.initialize()` when the config or the environment asks."""

from __future__ import annotations

import os

import jax
from ml_collections import ConfigDict

_initialized = False


def maybe_initialize(config: ConfigDict) -> bool:
  """Initializes once if config.distributed is True or RESEARCH_DISTRIBUTED=1.

  With no arguments JAX reads the cluster from the environment (TPU VM metadata, SLURM, or
  JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID for CPU runs on one machine).
  """
  global _initialized
  if _initialized:
    return True
  if not (config.get("distributed", False) or os.environ.get("RESEARCH_DISTRIBUTED") == "1"):
    return False
  coordinator = os.environ.get("JAX_COORDINATOR_ADDRESS")
  if coordinator:
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                               process_id=int(os.environ["JAX_PROCESS_ID"]))
  else:
    jax.distributed.initialize()
  _initialized = True
  return True
