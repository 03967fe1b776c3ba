"""Checkpoints in WORKDIR/checkpoints via orbax `CheckpointManager`.

Each checkpoint holds the train-state pytree (`state`) and a small JSON (`meta`: the data
position and anything else a trainer needs to resume). Restore order (the one place it is
decided): newest checkpoint that restores cleanly → older ones, warning about each bad one →
None (the trainer then initializes from scratch).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from research.errors import UserError


class Checkpointer:
  """Saves every `every_steps` (and when forced), keeps the last `keep`, restores the newest good one."""

  def __init__(self, directory: str, *, keep: int = 3, every_steps: int = 1000, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self.every_steps = max(int(every_steps), 1)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=async_save),
        item_names=("state", "meta"))

  def should_save(self, step: int) -> bool:
    return step % self.every_steps == 0

  def save(self, step: int, state: Any, meta: dict[str, Any] | None = None, *, force: bool = False) -> bool:
    if not force and not self.should_save(step):
      return False
    if step in self.manager.all_steps():
      return False
    return self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {})), force=True)

  def restore_latest(self, abstract_state: Any) -> tuple[int, Any, dict[str, Any]] | None:
    """(step, state, meta) of the newest checkpoint that restores, or None if there is none.

    Unreadable checkpoints are moved to CHECKPOINTS.corrupt/ (kept for inspection): left in place,
    they would stop the resumed run from saving its own checkpoint at the same step.
    """
    self.manager.reload()
    bad: list[int] = []
    found = None
    _silence_abandoned_orbax_reads()
    hook = sys.unraisablehook
    # orbax leaves the failed reads' coroutines behind; their tracebacks would bury the one warning line
    sys.unraisablehook = lambda *_: None
    try:
      for step in sorted(self.manager.all_steps(), reverse=True):
        try:
          restored = self.manager.restore(step, args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        except Exception as e:
          if "structures do not match" in str(e) or "shape" in str(e).lower() and "mismatch" in str(e).lower():
            # Not damage: the config's model or optimizer differs from the one that wrote the checkpoint.
            raise UserError(f"checkpoint {self.directory}/{step} was written by a different model or optimizer "
                            "than this config builds; use a new --workdir (or restore the old config)") from None
          # Truncated or corrupted files: fall back to the previous checkpoint.
          first = str(e).splitlines()[0][:200] if str(e) else ""
          print(f"warning: checkpoint {self.directory}/{step} is unreadable ({type(e).__name__}: {first}); "
                f"falling back to the previous one (moved to {self.directory}.corrupt/{step})",
                file=sys.stderr, flush=True)
          bad.append(step)
          continue
        found = step, restored.state, dict(restored.meta or {})
        break
      gc.collect()
    finally:
      sys.unraisablehook = hook
    if bad:
      self._quarantine(bad)
    return found

  def _quarantine(self, steps: list[int]) -> None:
    if jax.process_index() == 0:
      os.makedirs(self.directory + ".corrupt", exist_ok=True)
      for step in steps:
        target = os.path.join(self.directory + ".corrupt", str(step))
        if os.path.exists(target):
          target += time.strftime(".%Y%m%d-%H%M%S")
        os.replace(os.path.join(self.directory, str(step)), target)
    if jax.process_count() > 1:  # every process must see the move before the manager rescans
      multihost_utils.sync_global_devices("research_checkpoint_quarantine")
    self.manager.reload()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def abstract(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings) describing `tree`, the target for a restore."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def load_state(workdir: str, step: int | None = None) -> tuple[int, Any, dict[str, Any]]:
  """Reads a checkpoint without a template (numpy leaves) — for tests, reports and notebooks."""
  manager = ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"), item_names=("state", "meta"))
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints")
  try:
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                              meta=ocp.args.JsonRestore()))
  except ValueError as e:
    if "topology" not in str(e).lower():
      raise
    # Written by another topology (e.g. a multi-host run): restore the saved shapes and dtypes onto
    # this process's first device, so it still loads in a one-process notebook.
    tree = ocp.StandardCheckpointer().metadata(os.path.join(manager.directory, str(step), "state")).item_metadata
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), tree)
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                              meta=ocp.args.JsonRestore()))
  manager.close()
  return step, restored.state, dict(restored.meta or {})


class _AbandonedOrbaxReads(logging.Filter):
  """Drops asyncio's "Task exception was never retrieved" records for orbax's reads of a damaged checkpoint.

  When a restore fails, orbax leaves its other shard-reading tasks behind; whenever the garbage collector later
  frees them, asyncio logs each one's traceback, burying the one warning line the fallback prints. Only tasks whose
  exception was raised inside orbax are dropped; every other asyncio error is logged as before.
  """

  def filter(self, record: logging.LogRecord) -> bool:
    if not record.getMessage().startswith("Task exception was never retrieved") or not record.exc_info:
      return True
    tb = record.exc_info[2]
    while tb is not None:
      if "orbax" in tb.tb_frame.f_code.co_filename:
        return False
      tb = tb.tb_next
    return True


def _silence_abandoned_orbax_reads() -> None:
  logger = logging.getLogger("asyncio")
  if not any(isinstance(f, _AbandonedOrbaxReads) for f in logger.filters):
    logger.addFilter(_AbandonedOrbaxReads())

