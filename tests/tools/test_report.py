"""research.tools.report on synthetic workdirs: grouping by the swept keys, mean ± std over seeds checked
against numpy, unfinished runs listed, plots written, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, snapshot, subprocess_env

from research.errors import UserError
from research.tools import report


def make_run(folder, lr: float, seed: int, accuracy: float | None, *, hidden=(64,), steps=(10, 20)) -> None:
  """A workdir as research.main leaves it: config.json and metrics.jsonl (train and test rows)."""
  os.makedirs(folder, exist_ok=True)
  config = {"seed": seed, "optimizer": {"learning_rate": lr, "name": "adam"}, "model": {"hidden_sizes": list(hidden)},
            "name": "toy"}
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
    for step in steps:
      f.write(json.dumps({"step": step, "split": "train", "time": 1.0, "loss": 1.0 / step + lr}) + "\n")
      if accuracy is not None:
        f.write(json.dumps({"step": step, "split": "test", "time": 2.0, "accuracy": accuracy * step / steps[-1],
                            "loss": 1 - accuracy}) + "\n")


@pytest.fixture
def sweep_root(tmp_path):
  rng = np.random.default_rng(0)
  accuracies = {}
  for lr in (0.01, 0.1):
    for seed in range(3):
      acc = float(rng.uniform(0.5, 1.0))
      accuracies.setdefault(lr, []).append(acc)
      make_run(tmp_path / f"learning_rate={lr},seed={seed}", lr, seed, acc)
  make_run(tmp_path / "learning_rate=1,seed=0", 1.0, 0, None)  # still running: no evaluation yet
  return tmp_path, accuracies


def test_table_groups_by_swept_keys_with_mean_and_std(sweep_root):
  root, accuracies = sweep_root
  path, rep = report.write_report(str(root))
  assert rep.keys == ["optimizer.learning_rate"]  # seed is averaged over; equal keys are not "swept"
  text = open(path).read()
  lines = text.splitlines()
  header = next(line for line in lines if line.startswith("| learning_rate"))
  assert header == "| learning_rate | runs | test accuracy | test loss |"
  for lr, accs in accuracies.items():
    row = next(line for line in lines if line.startswith(f"| {lr:g} | 3 |"))
    mean, std = np.mean(accs), np.std(accs, ddof=1)
    assert f"{mean:.4f} ± {std:.4f}" in row
    loss_mean, loss_std = np.mean([1 - a for a in accs]), np.std([1 - a for a in accs], ddof=1)
    assert f"{loss_mean:.4f} ± {loss_std:.4f}" in row
  assert "Not finished (no evaluation yet, left out): learning_rate=1,seed=0" in text
  assert f"Produced by `python -m research.tools.report {root}`" in text
  for png in ("train_loss.png", "test_accuracy.png", "test_loss.png"):
    assert (root / "report_plots" / png).stat().st_size > 1000
    assert f"](report_plots/{png})" in text


def test_several_swept_keys_and_a_single_workdir(tmp_path):
  for hidden in ((32,), (64, 64)):
    for lr in (0.1, 0.01):
      make_run(tmp_path / "s" / f"{hidden}-{lr}", lr, 0, 0.9 if lr == 0.1 else 0.8, hidden=hidden)
  _, rep = report.write_report(str(tmp_path / "s"), plots=False)
  assert rep.keys == ["model.hidden_sizes", "optimizer.learning_rate"]
  table = report.group_table(rep).splitlines()
  assert table[0] == "| hidden_sizes | learning_rate | runs | test accuracy | test loss |"
  assert table[2] == "| (32) | 0.01 | 1 | 0.8000 | 0.2000 |"  # one run: the value alone, no ± 0
  assert table[5] == "| (64, 64) | 0.1 | 1 | 0.9000 | 0.1000 |"
  # A single workdir is a sweep of one run.
  make_run(tmp_path / "one", 0.1, 3, 0.75)
  _, rep = report.write_report(str(tmp_path / "one"), plots=False)
  assert rep.keys == [] and report.group_table(rep).splitlines()[2] == "| 1 | 0.7500 | 0.2500 |"


def test_resumed_runs_use_their_last_rows_and_torn_lines_are_ignored(tmp_path):
  make_run(tmp_path / "r", 0.1, 0, 0.5)
  with open(tmp_path / "r" / "metrics.jsonl", "a") as f:  # resumed from step 10: step 20 evaluated again
    f.write(json.dumps({"step": 20, "split": "test", "time": 9.0, "accuracy": 0.75, "loss": 0.25}) + "\n")
    f.write('{"step": 30, "split": "te')  # killed mid-write
  (run,) = report.find_runs(str(tmp_path))
  assert run.final == {"test": {"accuracy": 0.75, "loss": 0.25}}


def run_report(*args: str) -> subprocess.CompletedProcess:
  env = subprocess_env()
  return subprocess.run([sys.executable, "-m", "research.tools.report", *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=120)


def test_cli_prints_the_table(sweep_root):
  root, _ = sweep_root
  r = run_report(str(root), "--noplots")
  assert r.returncode == 0, r.stderr
  assert not (root / "report_plots").exists()
  assert r.stdout.splitlines()[0] == "| learning_rate | runs | test accuracy | test loss |"
  assert f"wrote {root}/report.md" in r.stdout


@pytest.mark.parametrize("setup,message", [
    ("empty", "no runs under"),
    ("missing", "not found"),
    ("bad_line", "metrics.jsonl:2 is not a metrics row"),
    ("no_eval", "has a final evaluation yet"),
])
def test_errors_are_one_line_and_write_nothing(tmp_path, setup, message):
  root = tmp_path / "root"
  root.mkdir()
  if setup == "bad_line":
    make_run(root / "a", 0.1, 0, 0.5)
    text = (root / "a" / "metrics.jsonl").read_text().splitlines()
    (root / "a" / "metrics.jsonl").write_text("\n".join([text[0], "not json", *text[1:]]) + "\n")
  if setup == "no_eval":
    make_run(root / "a", 0.1, 0, None)
  target = root / "nope" if setup == "missing" else root
  before = snapshot(str(root))
  with pytest.raises(UserError, match=message):
    report.write_report(str(target))
  assert snapshot(str(root)) == before and not (root / "report_plots").exists()


def test_per_example_outputs_add_intervals_and_paired_tests(tmp_path):
  """With WORKDIR/examples/test.jsonl in every run, the report adds the seed t-interval, the bootstrap CI of the
  seed-averaged accuracy and the paired p against the first group: the numbers of compare.seeds_accuracy."""
  from research.evaluation import outputs
  from research.tools import compare
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 200)
  groups = {}
  for lr, skill in ((0.01, 0.6), (0.1, 0.8)):
    for seed in range(3):
      folder = tmp_path / f"learning_rate={lr},seed={seed}"
      correct = rng.random(200) < skill
      make_run(folder, lr, seed, float(correct.mean()))
      groups.setdefault(lr, []).append(outputs.write_examples(
          str(folder / "examples" / "test.jsonl"), {"label": labels, "correct": correct}, header={"split": "test"}))
  path, _ = report.write_report(str(tmp_path), plots=False)
  text = open(path).read()
  assert "## Test accuracy with intervals" in text
  expected = compare.seeds_accuracy_rows(list(groups.values()), ["learning_rate=0.01", "learning_rate=0.1"])
  for row in expected:
    assert "| " + " | ".join(row) + " |" in text
  assert expected[1][-1] == "p<0.001"  # 0.6 vs 0.8 over 200 examples and 3 seeds is no accident


def test_no_intervals_without_per_example_outputs(sweep_root):
  path, _ = report.write_report(str(sweep_root[0]), plots=False)
  assert "## Test accuracy with intervals" not in open(path).read()
