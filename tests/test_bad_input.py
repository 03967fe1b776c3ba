"""Bad input: each case gives one `error:` line naming the problem and the fix, a non-zero exit,
and leaves an existing workdir byte-for-byte unchanged. Table-driven so the count is visible."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_main, snapshot

from research.checkpoint import load_state

QUICK = "--config=configs/quickstart.py:runlocal"

# (id, extra args, expected substring of the one error line). "{wd}" is an existing, trained workdir.
CASES = [
    ("unknown_key", ["--config.learning_rate=0.1"], "unknown config key config.learning_rate"),
    ("unknown_nested_key", ["--config.optimizer.lr=0.1"], "unknown config key config.optimizer.lr"),
    ("wrong_type", ["--config.batch_size=many"], "--config.batch_size=many"),
    ("wrong_type_float", ["--config.optimizer.learning_rate=fast"], "learning_rate"),
    ("unknown_model", ["--config.model_name=resnet9000"], "unknown model 'resnet9000'"),
    ("unknown_dataset", ["--config.dataset.name=mnistt"], "unknown dataset 'mnistt'"),
    ("unknown_task", ["--config.task=regression"], "unknown task 'regression'"),
    ("unknown_optimizer", ["--config.optimizer.name=adamm"], "did you mean 'adam'"),
    ("unknown_schedule", ["--config.optimizer.schedule=linear"], "unknown schedule 'linear'"),
    ("unknown_model_field", ["--config.model.depth=3"], None),  # locked config: no such key
    ("bad_model_value", ["--config.model.activation=swishy"], "activation"),
    ("missing_local_data", ["--config.dataset.name=fashion_mnist", "--config.dataset.local_dir=/nonexistent/fm"],
     "apt-get install dataset-fashion-mnist"),
    ("missing_config_file", ["--config=configs/nope.py"], "config file configs/nope.py not found"),
    ("bad_config_arg", ["--config=configs/quickstart.py:fast"], "unknown config argument 'fast'"),
    ("dropout_range", ["--config.model.dropout_rate=1.0"], "must be in [0, 1)"),
    ("zero_batch", ["--config.batch_size=0"], "config.batch_size=0 must be > 0"),
    ("negative_lr", ["--config.optimizer.learning_rate=-1.0"], "learning_rate=-1.0 must be > 0"),
    ("train_fraction_zero", ["--config.dataset.train_fraction=0.0"], "train_fraction=0.0 must be in (0, 1]"),
    ("bad_mode", ["--config.mode=predict"], "config.mode='predict'"),
    ("no_length", ["--config.num_epochs=0.0"], "num_train_steps > 0 or config.num_epochs > 0"),
    ("unknown_split", ["--config.dataset.eval_splits=('validation',)"], "no split 'validation'"),
    ("different_config", ["--config.seed=7"], "different config (config.seed: 0 → 7)"),
    ("stray_argument", ["oops"], "unexpected arguments oops"),
    ("optimizer_changed_under_checkpoints", ["--allow_config_change", "--config.optimizer.name=sgd"],
     "written by a different model or optimizer"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
  wd = tmp_path_factory.mktemp("bad") / "run"
  r = run_main(QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}")
  assert r.returncode == 0, r.stderr[-2000:]
  return str(wd)


def _check_one_error_line(r: subprocess.CompletedProcess, expected: str | None) -> str:
  assert r.returncode != 0, r.stdout[-1000:]
  lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
  assert len(lines) == 1, r.stderr[-3000:]
  assert lines[0].startswith("error: ")
  if expected:
    assert expected in lines[0], lines[0]
  return lines[0]


@pytest.mark.parametrize("case_id,args,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_on_existing_workdir(case_id, args, expected, trained, data_dir):
  before = snapshot(trained)
  config = [a for a in args if a.startswith("--config=")] or [QUICK]
  rest = [a for a in args if not a.startswith("--config=")]
  r = run_main(*config, f"--workdir={trained}", f"--config.data_dir={data_dir}", *rest)
  _check_one_error_line(r, expected)
  assert snapshot(trained) == before


def test_workdir_that_is_a_file(tmp_path, data_dir):
  f = tmp_path / "file"
  f.write_text("keep me")
  r = run_main(QUICK, f"--workdir={f}", f"--config.data_dir={data_dir}")
  _check_one_error_line(r, "is a file")
  assert f.read_text() == "keep me"


def test_bad_input_on_new_workdir_writes_nothing(tmp_path, data_dir):
  wd = tmp_path / "new"
  r = run_main(QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}", "--config.model_name=nope")
  _check_one_error_line(r, "unknown model")
  assert not wd.exists()


def test_second_run_on_a_live_workdir_is_refused(trained, data_dir):
  before = snapshot(trained)
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    lock = os.path.join(trained, ".lock")
    with open(lock, "w") as f:
      json.dump({"pid": holder.pid, "host": socket.gethostname(), "started": "now"}, f)
    r = run_main(QUICK, f"--workdir={trained}", f"--config.data_dir={data_dir}")
    _check_one_error_line(r, f"is in use by pid {holder.pid}")
  finally:
    holder.kill()
    holder.wait()
    os.remove(os.path.join(trained, ".lock"))
  assert snapshot(trained) == before


def test_stale_lock_of_a_dead_process_is_taken_over(trained, tmp_path, data_dir):
  wd = tmp_path / "run"
  shutil.copytree(trained, wd)
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  with open(wd / ".lock", "w") as f:
    json.dump({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}, f)
  r = run_main(QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}")
  assert r.returncode == 0, r.stderr[-2000:]
  assert "stale lock" in r.stdout
  assert not (wd / ".lock").exists()


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(trained, tmp_path, data_dir):
  wd = tmp_path / "run"
  shutil.copytree(trained, wd)
  good_step, _, _ = load_state(str(wd))
  r = run_main(QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}", "--allow_config_change",
               "--config.num_epochs=3.0", "--config.optimizer.learning_rate=1e38")
  line = _check_one_error_line(r, "non-finite loss or gradient at step")
  bad = int(line.split("at step ")[1].split(";")[0])
  assert bad > good_step
  assert f"the last good checkpoint is step {good_step}" in line
  step, state, _ = load_state(str(wd))
  assert step == good_step
  assert all(np.isfinite(np.asarray(x)).all() for x in __import__("jax").tree.leaves(state["params"]))
