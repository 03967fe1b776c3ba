r"""Aggregate a sweep: `python -m research.tools.report DIR` → DIR/report.md and DIR/report_plots/*.png.

Every folder under DIR holding a config.json is a run. The swept keys are the config keys whose
values differ between runs, except `seed`; runs with equal swept values form a group, and each
group's final evaluation metrics (the rows of the last evaluated step, per split) are shown as
mean ± std over its runs (sample std, ddof=1; a group of one run shows the value alone) with the
run count. Runs without a final evaluation yet are listed, not averaged. One PNG per metric holds
every group's learning curve (mean over seeds, ± std band).

Experiments' README tables are copied from the report.md this command writes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from absl import flags

from research import cli
from research.errors import UserError

FLAGS = flags.FlagValues()  # private, like research.tools.sweep's
flags.DEFINE_string("out", None, "Report file (default DIR/report.md); plots go next to it in report_plots/.",
                    flag_values=FLAGS)
flags.DEFINE_bool("plots", True, "Write the learning-curve PNGs.", flag_values=FLAGS)

SKIP_DIRS = {"checkpoints", "plots", "report_plots", "logs"}
NOT_SWEPT = {"seed"}  # the axis averaged over
META = ("step", "split", "time")


@dataclasses.dataclass
class RunData:
  """One workdir: its flattened config, every metrics row, and the rows of its last evaluation per split."""

  name: str
  config: dict[str, Any]
  rows: list[dict[str, Any]]
  final: dict[str, dict[str, float]]   # split → metric → value at that split's last step
  path: str = ""                       # the workdir


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  """{'optimizer': {'learning_rate': 0.1}} → {'optimizer.learning_rate': 0.1}; lists become tuples."""
  if isinstance(tree, dict):
    out: dict[str, Any] = {}
    for k, v in tree.items():
      out.update(flatten(v, f"{prefix}{k}."))
    return out
  if isinstance(tree, list):
    tree = tuple(flatten(v)[""] if isinstance(v, list) else v for v in tree)
  return {prefix[:-1]: tree}


def read_metrics(path: str) -> list[dict[str, Any]]:
  """metrics.jsonl rows. A torn last line (a run killed mid-write) is ignored; any other bad line is an error."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    text = f.read()
  lines = text.split("\n")
  rows = []
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
      if not isinstance(row, dict) or "step" not in row or "split" not in row:
        raise ValueError("not a {step, split, ...} object")
    except ValueError as e:
      if i == len(lines) - 1:  # no trailing newline: the writer was killed in the middle of this line
        continue
      raise UserError(f"{path}:{i + 1} is not a metrics row ({e}); fix or delete that line") from None
    rows.append(row)
  return rows


def final_rows(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
  """split → metrics of its last evaluation row in file order: the final evaluation, which for an
  early-stopped run is the restored best step (a smaller step than the rows before it)."""
  last: dict[str, dict[str, Any]] = {}
  for row in rows:
    split = row["split"]
    if split == "train":
      continue
    last[split] = row
  return {split: {k: float(v) for k, v in row.items()
                  if k not in META and not k.startswith("_") and isinstance(v, (int, float))}
          for split, row in last.items()}


def find_runs(root: str) -> list[RunData]:
  runs = []
  for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
    if "config.json" not in files:
      continue
    path = os.path.join(folder, "config.json")
    try:
      with open(path) as f:
        config = json.load(f)
      if not isinstance(config, dict):
        raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
      raise UserError(f"{path} is unreadable ({e}); fix it or move that run out of {root}") from None
    rows = read_metrics(os.path.join(folder, "metrics.jsonl"))
    name = os.path.relpath(folder, root)
    runs.append(RunData(name=name if name != "." else os.path.basename(root), config=flatten(config), rows=rows,
                        final=final_rows(rows), path=folder))
  return runs


def swept_keys(runs: Sequence[RunData]) -> list[str]:
  """Keys with at least two different values among the runs that have them. A key some runs lack
  (a field added to the base config between runs) is not a sweep axis unless its values differ."""
  keys = sorted({k for r in runs for k in r.config})
  return [k for k in keys if k not in NOT_SWEPT
          and len({json.dumps(r.config[k], sort_keys=True, default=repr) for r in runs if k in r.config}) > 1]


def _short(keys: Sequence[str]) -> dict[str, str]:
  out = {}
  for key in keys:
    parts = key.split(".")
    for n in range(1, len(parts) + 1):
      suffix = ".".join(parts[-n:])
      if not any(k != key and (k == suffix or k.endswith("." + suffix)) for k in keys):
        break
    out[key] = suffix
  return out


def _fmt_value(v: Any) -> str:
  if isinstance(v, float):
    return f"{v:g}"
  if isinstance(v, tuple):
    return "(" + ", ".join(_fmt_value(x) for x in v) + ")"
  return str(v)


def _sort_key(values: tuple) -> tuple:
  return tuple((0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))
               for v in values)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
  n = len(values)
  mean = sum(values) / n
  if n < 2:
    return mean, 0.0
  return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _cell(values: Sequence[float]) -> str:
  if not values:
    return "–"
  mean, std = mean_std(values)
  return f"{mean:.4f}" if len(values) == 1 else f"{mean:.4f} ± {std:.4f}"


@dataclasses.dataclass
class Report:
  keys: list[str]
  groups: dict[tuple, list[RunData]]   # swept values → finished runs
  unfinished: list[RunData]
  columns: list[tuple[str, str]]       # (split, metric)


def aggregate(runs: Sequence[RunData]) -> Report:
  keys = swept_keys(runs)
  finished = [r for r in runs if r.final]
  groups: dict[tuple, list[RunData]] = {}
  for r in finished:
    groups.setdefault(tuple(r.config.get(k) for k in keys), []).append(r)
  groups = dict(sorted(groups.items(), key=lambda kv: _sort_key(kv[0])))
  columns = sorted({(split, m) for r in finished for split, ms in r.final.items() for m in ms})
  return Report(keys=keys, groups=groups, unfinished=[r for r in runs if not r.final], columns=columns)


def group_table(report: Report) -> str:
  """The markdown table: swept values, run count, mean ± std of each final metric."""
  short = _short(report.keys)
  header = [short[k] for k in report.keys] + ["runs"] + [f"{s} {m}" for s, m in report.columns]
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  for values, members in report.groups.items():
    cells = [_fmt_value(v) for v in values] + [str(len(members))]
    for split, metric in report.columns:
      cells.append(_cell([r.final[split][metric] for r in members if metric in r.final.get(split, {})]))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def interval_table(report: Report, split: str = "test") -> str | None:
  """Per group: the seed t-interval, the bootstrap CI of the seed-averaged accuracy over the split's examples and
  the paired bootstrap p against the first group (research.tools.compare.seeds_accuracy); None unless every
  finished run wrote WORKDIR/examples/<split>.jsonl (classification tasks do)."""
  from research.evaluation import outputs
  from research.tools import compare
  paths = [[os.path.join(r.path, "examples", f"{split}.jsonl") for r in members] for members in report.groups.values()]
  if not paths or not all(os.path.exists(p) for group in paths for p in group):
    return None
  groups = [[outputs.read_examples(p) for p in group] for group in paths]
  if not all("correct" in e.columns for g in groups for e in g):
    return None
  short = _short(report.keys)
  names = [", ".join(f"{short[k]}={_fmt_value(v)}" for k, v in zip(report.keys, values, strict=True)) or "all"
           for values in report.groups]
  header = ["group", "runs", f"{split} accuracy, mean ± t half-width (95%)", "seed-averaged accuracy [95% CI]",
            f"paired p vs {names[0]}"]
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(row) + " |" for row in compare.seeds_accuracy_rows(groups, names)]
  return "\n".join(lines)


def markdown(report: Report, root: str, plots: Sequence[str]) -> str:
  seeds = sorted({r.config.get("seed") for rs in report.groups.values() for r in rs}, key=str)
  out = [f"# Report: {os.path.basename(os.path.abspath(root))}", "",
         f"Produced by `python -m research.tools.report {root}`.", ""]
  swept = ", ".join(f"`{k}`" for k in report.keys) or "none (every run has the same config apart from the seed)"
  out += [f"Swept keys: {swept}. Seeds: {', '.join(map(str, seeds))}. Cells are mean ± sample std (ddof=1) "
          "over the group's runs of the final evaluation.", "", group_table(report), ""]
  intervals = interval_table(report)
  if intervals:
    n = len(next(iter(report.groups.values())))
    out += ["## Test accuracy with intervals", "",
            "Over seeds: mean ± the t-interval's half-width. Over test examples: each example scores the share of "
            "the group's seeds that classify it correctly; 1,000 bootstrap resamples of the examples give the 95% "
            "interval of that seed-averaged accuracy, and the same resamples for two groups the paired p-value "
            f"(Koehn 2004) against the first group{'' if n > 1 else ' (one run per group: no seed interval)'}.", "",
            intervals, ""]
  if report.unfinished:
    out += [f"Not finished (no evaluation yet, left out): {', '.join(r.name for r in report.unfinished)}.", ""]
  out += ["## Runs", "", "| run | " + " | ".join(f"{s} {m}" for s, m in report.columns) + " |",
          "|---|" + "|".join("---" for _ in report.columns) + "|"]
  for rs in report.groups.values():
    for r in rs:
      cells = [f"{r.final[s][m]:.4f}" if m in r.final.get(s, {}) else "–" for s, m in report.columns]
      out.append(f"| {r.name} | " + " | ".join(cells) + " |")
  out.append("")
  if plots:
    out += ["## Learning curves", ""] + [f"![{os.path.basename(p)}]({p})" for p in plots] + [""]
  return "\n".join(out)


def _curve(rows: Sequence[dict[str, Any]], split: str, metric: str) -> dict[int, float]:
  points = {}
  for row in rows:
    if row["split"] == split and isinstance(row.get(metric), (int, float)):
      points[int(row["step"])] = float(row[metric])  # a resumed run's replayed step: the last value wins
  return points


def plot(report: Report, out_dir: str) -> list[str]:
  """One PNG per (split, metric): each group's mean curve over its runs, shaded ± std. Returns file names."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  short = _short(report.keys)
  columns = [("train", "loss"), *report.columns]
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for split, metric in columns:
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for values, members in report.groups.items():
      curves = [_curve(r.rows, split, metric) for r in members]
      steps = sorted(set.intersection(*[set(c) for c in curves])) if curves else []
      if not steps:
        continue
      stats = [mean_std([c[s] for c in curves]) for s in steps]
      mean = [m for m, _ in stats]
      label = ", ".join(f"{short[k]}={_fmt_value(v)}" for k, v in zip(report.keys, values, strict=True)) or "all runs"
      line, = ax.plot(steps, mean, marker="o" if len(steps) < 20 else None, label=f"{label} (n={len(members)})")
      if len(members) > 1:
        ax.fill_between(steps, [m - s for m, s in stats], [m + s for m, s in stats], color=line.get_color(),
                        alpha=0.2)
      drawn = True
    if drawn:
      ax.set_xlabel("step")
      ax.set_ylabel(f"{split} {metric}")
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
      fig.tight_layout()
      name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{split}_{metric}") + ".png"
      fig.savefig(os.path.join(out_dir, name), dpi=100)
      written.append(name)
    plt.close(fig)
  return written


def write_report(root: str, out: str | None = None, *, plots: bool = True) -> tuple[str, Report]:
  """Reads every run under `root`, writes the report (and plots); returns its path and contents."""
  if not os.path.exists(root):
    raise UserError(f"{root} not found; pass the --root of a sweep (or a workdir)")
  if not os.path.isdir(root):
    raise UserError(f"{root} is a file; pass the --root folder of a sweep (or a workdir)")
  runs = find_runs(root)
  if not runs:
    raise UserError(f"no runs under {root} (no config.json found); pass the --root of a sweep or a workdir")
  report = aggregate(runs)
  if not report.groups:
    raise UserError(f"none of the {len(runs)} runs under {root} has a final evaluation yet; wait for them to finish")
  out = out or os.path.join(root, "report.md")
  plot_dir = os.path.join(os.path.dirname(os.path.abspath(out)), "report_plots")
  pngs = [f"report_plots/{p}" for p in plot(report, plot_dir)] if plots else []
  text = markdown(report, root, pngs)
  with open(out + ".tmp", "w") as f:
    f.write(text)
  os.replace(out + ".tmp", out)
  return out, report


def main(argv: Sequence[str]) -> int:
  rest = cli.parse_flags(argv, FLAGS, __doc__)
  if isinstance(rest, int):
    return rest
  try:
    if len(rest) != 2:
      raise UserError("usage: python -m research.tools.report DIR [--out=FILE] (DIR: a sweep's --root or a workdir)")
    path, report = write_report(rest[1], FLAGS.out, plots=FLAGS.plots)
  except UserError as e:
    return cli.print_error(cli.one_line(e))
  print(f"{group_table(report)}\n\nwrote {path}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
