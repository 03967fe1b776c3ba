"""Name → object registries, so configs pick models, tasks, datasets, optimizers and trainers by name.

Adding a model is one file in research/models/ with a `@models.register('name')` decorator plus one
import line in research/models/__init__.py; the training loop never changes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from research.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
  """A named table of constructors. `get` raises a one-line `UserError` listing the known names."""

  def __init__(self, kind: str, config_key: str):
    self.kind = kind            # "model", "dataset", ... — used in error messages
    self.config_key = config_key  # the config field that selects an entry, for error messages
    self._entries: dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def wrap(obj: T) -> T:
      if name in self._entries and self._entries[name] is not obj:
        raise ValueError(f"{self.kind} {name!r} registered twice")
      self._entries[name] = obj
      return obj
    return wrap

  def get(self, name: str) -> T:
    _import_builtins()
    if name not in self._entries:
      close = difflib.get_close_matches(name, self._entries, n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise UserError(
          f"unknown {self.kind} {name!r} in {self.config_key}{hint}; known: {', '.join(sorted(self._entries))}")
    return self._entries[name]

  def __contains__(self, name: str) -> bool:
    _import_builtins()
    return name in self._entries

  def names(self) -> list[str]:
    _import_builtins()
    return sorted(self._entries)


models: Registry[Any] = Registry("model", "config.model_name")
tasks: Registry[Any] = Registry("task", "config.task")
datasets: Registry[Any] = Registry("dataset", "config.dataset.name")
optimizers: Registry[Any] = Registry("optimizer", "config.optimizer.name")
schedules: Registry[Any] = Registry("schedule", "config.optimizer.schedule")
trainers: Registry[Any] = Registry("trainer", "config.trainer")
preprocess_ops: Registry[Any] = Registry("preprocess op", "config.dataset.preprocess")

_BUILTIN_MODULES = (
    "research.models",
    "research.tasks",
    "research.data",
    "research.train.optim",  # optimizers, schedules
    "research.train.loop",  # trainer 'supervised'
    "research.train.init_from",  # trainers 'finetune', 'warm_start'
    "research.lda.trainer",  # trainer 'lda'
)
_imported = False


def _import_builtins() -> None:
  """Imports the modules that register the built-in entries (lazily, to avoid import cycles)."""
  global _imported
  if _imported:
    return
  _imported = True
  import importlib
  for mod in _BUILTIN_MODULES:
    importlib.import_module(mod)
