"""End to end through `python -m research.main`, as a user runs it: layout, resume, evaluate mode."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import read_jsonl, run_main

from research.train.checkpoint import load_state

QUICK = ["--config=configs/quickstart.py:runlocal"]


def _args(workdir, data_dir, *extra):
  return [*QUICK, f"--workdir={workdir}", f"--config.data_dir={data_dir}", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
  """One quickstart:runlocal run shared by the tests (each copies it before changing anything)."""
  wd = tmp_path_factory.mktemp("main") / "run"
  r = run_main(*_args(wd, data_dir))
  assert r.returncode == 0, r.stderr[-2000:]
  return wd, r


def test_quickstart_runlocal_writes_the_workdir_layout(trained):
  wd, r = trained
  names = set(os.listdir(wd))
  assert {"config.json", "metrics.jsonl", "checkpoints", "plots", "results.md"} <= names
  assert any(n.startswith("events.") for n in names)
  assert ".lock" not in names
  rows = read_jsonl(wd / "metrics.jsonl")
  train = [r for r in rows if r["split"] == "train"]
  test = [r for r in rows if r["split"] == "test"]
  assert train and test and train[-1]["step"] == 23  # 1 epoch of 1,440 digits at batch 64 (runlocal)
  assert train[-1]["loss"] < train[0]["loss"]
  assert os.path.exists(wd / "plots" / "loss.png")
  assert "| test |" in (wd / "results.md").read_text()
  assert json.loads((wd / "config.json").read_text())["model_name"] == "mlp"
  # Per-example outputs of the final evaluation: one row per test image, agreeing with the logged metrics.
  from research.evaluation.outputs import read_examples
  ex = read_examples(str(wd / "examples" / "test.jsonl"))
  assert ex.header["step"] == test[-1]["step"] and set(ex.columns) == {"label", "prediction", "correct", "nll"}
  assert ex.accuracy() == pytest.approx(test[-1]["accuracy"], abs=1e-6)
  assert ex.columns["nll"].mean() == pytest.approx(test[-1]["loss"], rel=1e-5)
  np.testing.assert_array_equal(ex.columns["correct"], ex.columns["prediction"] == ex.columns["label"])
  assert "[train] step" in r.stdout and "steps/s" in r.stdout


def test_second_start_resumes_and_does_nothing_more(trained, tmp_path, data_dir):
  wd = tmp_path / "run"
  shutil.copytree(trained[0], wd)
  step, state, _ = load_state(str(wd))
  r = run_main(*_args(wd, data_dir))
  assert r.returncode == 0, r.stderr[-2000:]
  assert "resumed from" in r.stdout
  step2, state2, _ = load_state(str(wd))
  assert step2 == step
  for a, b in zip(np.asarray(state["params"]["head"]["kernel"]).ravel()[:10],
                  np.asarray(state2["params"]["head"]["kernel"]).ravel()[:10], strict=True):
    assert a == b


def test_evaluate_mode_reads_the_latest_checkpoint(trained, tmp_path, data_dir):
  wd = tmp_path / "run"
  shutil.copytree(trained[0], wd)
  before = [r for r in read_jsonl(wd / "metrics.jsonl") if r["split"] == "test"][-1]
  r = run_main(*_args(wd, data_dir, "--config.mode=evaluate", "--allow_config_change"))
  assert r.returncode == 0, r.stderr[-2000:]
  after = [r for r in read_jsonl(wd / "metrics.jsonl") if r["split"] == "test"][-1]
  assert abs(after["accuracy"] - before["accuracy"]) < 1e-9
  assert len(list((wd).glob("config.*.json"))) == 1  # the old config is kept, not overwritten


def test_help_lists_the_flags():
  r = run_main("--helpshort")  # absl's help exits with status 1 by design
  assert "--config" in r.stdout and "--workdir" in r.stdout
