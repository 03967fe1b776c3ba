"""Sweeps as code: the helpers a sweep file's `get_sweep(hyper)` builds its runs with.

A run is a dict of config overrides keyed by the full dotted path, e.g.
`{"config.optimizer.learning_rate": 0.003, "config.seed": 1}`; a sweep is a list of runs.

  def get_sweep(hyper):
    return hyper.product([
        hyper.sweep("config.optimizer.learning_rate", [1e-3, 3e-3, 1e-2]),
        hyper.seeds(3),
    ])

Every helper returns a new list and checks its input, so a mistake in a sweep file is reported
before any run starts.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from research.errors import UserError

Run = dict[str, Any]

PREFIX = "config."


def _check_key(key: Any) -> str:
  if not isinstance(key, str) or not key.startswith(PREFIX) or len(key) <= len(PREFIX):
    raise UserError(f"sweep key {key!r} must be a dotted config path starting with 'config.', "
                    "e.g. 'config.optimizer.learning_rate'")
  return key


def _check_runs(runs: Any, what: str) -> list[Run]:
  if isinstance(runs, dict):
    raise UserError(f"{what} takes a list of runs (e.g. hyper.sweep(...)), not a single dict")
  runs = list(runs)
  for run in runs:
    if not isinstance(run, dict):
      raise UserError(f"{what}: each run must be a dict of overrides, got {type(run).__name__}")
    for key in run:
      _check_key(key)
  return runs


def sweep(key: str, values: Iterable[Any]) -> list[Run]:
  """One run per value of `key`: sweep('config.seed', [0, 1]) → [{'config.seed': 0}, {'config.seed': 1}]."""
  _check_key(key)
  values = list(values)
  if not values:
    raise UserError(f"hyper.sweep({key!r}, ...) got no values")
  return [{key: v} for v in values]


def fixed(key: str, value: Any) -> list[Run]:
  """A single run setting `key` to `value`; in a product it applies to every run."""
  return sweep(key, [value])


def seeds(n: int, start: int = 0, key: str = "config.seed") -> list[Run]:
  """`n` runs with seeds start, …, start+n-1 (the axis report.py averages over)."""
  if not isinstance(n, int) or n < 1:
    raise UserError(f"hyper.seeds(n={n!r}) needs a positive integer")
  return sweep(key, range(start, start + n))


def _merge(parts: Sequence[Run], what: str) -> Run:
  out: Run = {}
  for part in parts:
    for key, value in part.items():
      if key in out and out[key] != value:
        raise UserError(f"{what} sets {key} twice ({out[key]!r} and {value!r}); sweep each key in one place")
      out[key] = value
  return out


def product(sweeps: Sequence[Sequence[Run]]) -> list[Run]:
  """Every combination, the last sweep varying fastest: product([sweep(a, [1, 2]), sweep(b, [3])])."""
  sweeps = [_check_runs(s, "hyper.product") for s in sweeps]
  if not sweeps:
    raise UserError("hyper.product([]) needs at least one sweep")
  return [_merge(parts, "hyper.product") for parts in itertools.product(*sweeps)]


def zip(*sweeps: Sequence[Run]) -> list[Run]:  # noqa: A001  (the name a sweep file reads best)
  """Element-wise: zip(sweep(lr, [1, 2]), sweep(wd, [3, 4])) → two runs. Lengths must agree."""
  sweeps = tuple(_check_runs(s, "hyper.zip") for s in sweeps)
  if not sweeps:
    raise UserError("hyper.zip() needs at least one sweep")
  lengths = [len(s) for s in sweeps]
  if len(set(lengths)) > 1:
    raise UserError(f"hyper.zip got sweeps of different lengths {lengths}; they must have equal length")
  return [_merge(parts, "hyper.zip") for parts in builtins.zip(*sweeps, strict=True)]


def chain(*sweeps: Sequence[Run]) -> list[Run]:
  """Concatenation: the runs of the first sweep, then those of the second, …"""
  out: list[Run] = []
  for s in sweeps:
    out += _check_runs(s, "hyper.chain")
  return out


def variants(keys: Sequence[str], table: Mapping[str, Sequence[Any]]) -> list[Run]:
  """One run per named setting, in the table's order: `table` maps a variant name to the values of `keys`.

  variants(("config.l2", "config.dropout"), {"none": (0, 0), "l2": (1e-3, 0)}) → two runs setting both keys.
  Every run sets every key, so a report can name a run's variant from its config (`variant_name`).
  """
  keys = [_check_key(k) for k in keys]
  out: list[Run] = []
  for name, values in table.items():
    if len(values) != len(keys):
      raise UserError(f"hyper.variants: variant {name!r} has {len(values)} values for {len(keys)} keys {keys}")
    out.append(dict(builtins.zip(keys, values, strict=True)))
  return out


def variant_name(table: Mapping[str, Sequence[Any]], values: Sequence[Any]) -> str:
  """The name under which `table` (as given to `variants`) lists `values`, or '?' when none does."""
  for name, v in table.items():
    if tuple(v) == tuple(values):
      return name
  return "?"


def validate(runs: Any) -> list[Run]:
  """What get_sweep returned → a non-empty list of override dicts with no duplicate run."""
  if runs is None:
    raise UserError("get_sweep(hyper) returned None; it must return a list of runs (e.g. hyper.product([...]))")
  runs = _check_runs(runs, "get_sweep")
  if not runs:
    raise UserError("get_sweep(hyper) returned no runs")
  seen: dict[str, int] = {}
  for i, run in enumerate(runs):
    key = repr(sorted(run.items()))
    if key in seen:
      raise UserError(f"runs {seen[key]} and {i} of the sweep are the same ({run}); remove the duplicate")
    seen[key] = i
  return runs
