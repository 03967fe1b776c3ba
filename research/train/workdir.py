"""The workdir: one per run, one layout for every trainer.

  WORKDIR/config.json    the resolved config (a restart with a different config is refused)
  WORKDIR/metrics.jsonl  one JSON object per log step: {"step", "split", "time", metrics...}
  WORKDIR/checkpoints/   orbax checkpoints (research/train/checkpoint.py)
  WORKDIR/plots/         learning-curve PNGs
  WORKDIR/events.*       TensorBoard event files
  WORKDIR/results.md     the end-of-run summary
  WORKDIR/.lock          held while a run is active (stale locks of dead processes are taken over)
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import jax
from ml_collections import ConfigDict

from research.errors import UserError

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"


def config_to_dict(config: ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _diff(a: Any, b: Any, prefix: str = "config") -> list[str]:
  if isinstance(a, dict) and isinstance(b, dict):
    out = []
    for k in sorted(set(a) | set(b)):
      out += _diff(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{prefix}.{k}")
    return out
  return [] if a == b else [f"{prefix}: {a!r} → {b!r}"]


def check_path(workdir: str) -> str:
  """Validates WORKDIR without writing anything; returns its absolute path."""
  if not workdir:
    raise UserError("--workdir is required: the folder for this run's config, metrics and checkpoints")
  path = os.path.abspath(os.path.expanduser(workdir))
  if os.path.exists(path) and not os.path.isdir(path):
    raise UserError(f"--workdir={workdir} is a file, not a folder; choose another path")
  parent = path
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise UserError(f"--workdir={workdir} is inside {parent}, which is a file; choose another path")
  if not os.access(parent, os.W_OK):
    raise UserError(f"--workdir={workdir} is not writable ({parent} denies write access); choose another path")
  return path


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class Workdir:
  """Owns WORKDIR for one run: lock, config check, config.json. Only process 0 writes."""

  def __init__(self, path: str):
    self.path = check_path(path)
    self.is_writer = jax.process_index() == 0
    self._locked = False

  def file(self, *parts: str) -> str:
    return os.path.join(self.path, *parts)

  def check_config(self, config: ConfigDict, allow_change: bool = False) -> None:
    """Refuses a restart whose config differs from WORKDIR/config.json (read-only)."""
    f = self.file(CONFIG_FILE)
    if not os.path.exists(f) or allow_change:
      return
    try:
      with open(f) as fh:
        old = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
      raise UserError(f"{f} is unreadable ({e}); move it away or pass --allow_config_change") from None
    diff = _diff(old, config_to_dict(config))
    if diff:
      more = f" (+{len(diff) - 3} more)" if len(diff) > 3 else ""
      raise UserError(f"{self.path} holds a run with a different config ({'; '.join(diff[:3])}{more}); "
                      "use a new --workdir, or pass --allow_config_change to continue it with the new config")

  def acquire(self) -> None:
    """Takes WORKDIR/.lock, refusing if a live run holds it."""
    if not self.is_writer:
      return
    try:
      os.makedirs(self.path, exist_ok=True)
    except OSError as e:  # e.g. under /proc or /sys, where even root's access() check passes
      raise UserError(f"--workdir={self.path} cannot be created ({e.strerror}); choose another path") from None
    f = self.file(LOCK_FILE)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
      try:
        fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        try:
          with open(f) as fh:
            other = json.load(fh)
        except (OSError, json.JSONDecodeError):
          other = {}
        same_host = other.get("host") == me["host"]
        if other and (not same_host or _pid_alive(int(other.get("pid", -1)))):
          raise UserError(f"{self.path} is in use by pid {other.get('pid')} on {other.get('host')} "
                          f"(since {other.get('started')}); wait for that run, or delete {f} if it is gone") from None
        print(f"warning: removing stale lock {f} of dead pid {other.get('pid')}", flush=True)
        os.remove(f)
        continue
      with os.fdopen(fd, "w") as fh:
        json.dump(me, fh)
      self._locked = True
      return
    raise UserError(f"could not take the lock {f}; delete it if no run is using {self.path}")

  def release(self) -> None:
    if self._locked:
      try:
        os.remove(self.file(LOCK_FILE))
      except FileNotFoundError:
        pass
      self._locked = False

  def write_config(self, config: ConfigDict) -> None:
    """Writes config.json; a changed config keeps the old one as config.<time>.json (nothing is lost)."""
    if not self.is_writer:
      return
    f = self.file(CONFIG_FILE)
    text = config.to_json_best_effort(sort_keys=True, indent=2)
    if os.path.exists(f):
      with open(f) as fh:
        if fh.read() == text:
          return
      os.replace(f, self.file(f"config.{time.strftime('%Y%m%d-%H%M%S')}.json"))
    tmp = f + ".tmp"
    with open(tmp, "w") as fh:
      fh.write(text)
    os.replace(tmp, f)
