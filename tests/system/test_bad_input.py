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
from conftest import ROOT, run_main, snapshot, subprocess_env, xla_flags

from research.train.checkpoint import load_state

QUICK = "--config=configs/quickstart.py:runlocal"

EIGHT = {"XLA_FLAGS": xla_flags(8)}


def case(case_id: str, module: str, args: list[str], expected: str | None, env: dict[str, str] | None = None):
  """One bad input: `python -m research.main ARGS` or `python -m research.tools.<module> ARGS` must print one `error:` line containing `expected`.

  Placeholders in ARGS: {wd} an existing trained workdir, {root} the folder holding it (a sweep root),
  {sweeps} a folder of broken sweep files, {empty} an empty folder. research.main gets QUICK, --workdir={wd}
  and the test data_dir unless ARGS give --config= / --workdir= themselves (NO_WORKDIR, NO_CONFIG: omit them).
  """
  return pytest.param(module, args, expected, env, id=case_id)


# Every bad config or input across the framework, in one table so the count is visible.
CASES = [
    case("unknown_key", "main", ["--config.learning_rate=0.1"], "unknown config key config.learning_rate"),
    case("unknown_nested_key", "main", ["--config.optimizer.lr=0.1"], "unknown config key config.optimizer.lr"),
    case("wrong_type", "main", ["--config.batch_size=many"], "--config.batch_size=many"),
    case("wrong_type_float", "main", ["--config.optimizer.learning_rate=fast"], "learning_rate"),
    case("unknown_model", "main", ["--config.model_name=resnet9000"], "unknown model 'resnet9000'"),
    case("unknown_dataset", "main", ["--config.dataset.name=mnistt"], "unknown dataset 'mnistt'"),
    case("unknown_task", "main", ["--config.task=regression"], "unknown task 'regression'"),
    case("unknown_optimizer", "main", ["--config.optimizer.name=adamm"], "did you mean 'adam'"),
    case("unknown_schedule", "main", ["--config.optimizer.schedule=linear"], "unknown schedule 'linear'"),
    case("unknown_model_field", "main", ["--config.model.depth=3"], None),  # locked config: no such key
    case("bad_model_value", "main", ["--config.model.activation=swishy"], "activation"),
    case("missing_local_data", "main",
         ["--config.dataset.name=fashion_mnist", "--config.dataset.local_dir=/nonexistent/fm"],
         "apt-get install dataset-fashion-mnist"),
    case("missing_config_file", "main", ["--config=configs/nope.py"], "config file configs/nope.py not found"),
    case("bad_config_arg", "main", ["--config=configs/quickstart.py:fast"], "unknown config argument 'fast'"),
    case("dropout_range", "main", ["--config.model.dropout_rate=1.0"], "must be in [0, 1)"),
    case("zero_batch", "main", ["--config.batch_size=0"], "config.batch_size=0 must be > 0"),
    case("negative_lr", "main", ["--config.optimizer.learning_rate=-1.0"], "learning_rate=-1.0 must be > 0"),
    case("train_fraction_zero", "main", ["--config.dataset.train_fraction=0.0"],
         "train_fraction=0.0 must be in (0, 1]"),
    case("bad_mode", "main", ["--config.mode=predict"], "config.mode='predict'"),
    case("no_length", "main", ["--config.num_epochs=0.0"], "num_train_steps > 0 or config.num_epochs > 0"),
    case("unknown_split", "main", ["--config.dataset.eval_splits=('validation',)"], "no split 'validation'"),
    case("different_config", "main", ["--config.seed=7"], "different config (config.seed: 0 → 7)"),
    case("stray_argument", "main", ["oops"], "unexpected arguments oops"),
    case("optimizer_changed_under_checkpoints", "main", ["--allow_config_change", "--config.optimizer.name=sgd"],
     "written by a different model or optimizer"),
    case("unwritable_workdir", "main", ["--workdir=/proc/research_run"], "cannot be created"),
    case("workdir_inside_a_file", "main", ["--workdir={wd}/config.json/run"], "config.json, which is a file"),
    case("batch_not_divisible_on_8_devices", "main", ["--config.batch_size=60"],
         "config.batch_size=60 is not divisible by the 8 data-parallel devices", EIGHT),
    case("eval_batch_not_divisible_on_8_devices", "main", ["--config.eval_batch_size=100"],
         "config.eval_batch_size=100 is not divisible by the 8 data-parallel devices", EIGHT),
    case("keep_no_checkpoints", "main", ["--config.keep_checkpoints=0"], "config.keep_checkpoints=0 must be > 0"),
    case("negative_l2", "main", ["--config.l2_penalty=-1.0"], "must be >= 0"),
    case("validation_fraction_one", "main", ["--config.dataset.validation_fraction=1.0"],
         "validation_fraction=1.0 must be in [0, 1)"),
    case("log_every_zero", "main", ["--config.log_every_steps=0"], "config.log_every_steps=0 must be > 0"),
    case("missing_workdir", "main", ["NO_WORKDIR"], "--workdir is required"),
    case("missing_config", "main", ["NO_CONFIG"], "--config is required"),
    case("sweep_file_missing", "sweep", ["--sweep={sweeps}/nope.py"], "sweep file {sweeps}/nope.py not found"),
    case("sweep_without_get_sweep", "sweep", ["--sweep={sweeps}/no_function.py"], "defines no get_sweep(hyper)"),
    case("sweep_syntax_error", "sweep", ["--sweep={sweeps}/syntax.py"], "failed to load (SyntaxError"),
    case("sweep_unknown_key", "sweep", ["--sweep={sweeps}/unknown_key.py"],
         "sweep run 0 sets config.optimizer.lr, which the config does not define"),
    case("sweep_wrong_type", "sweep", ["--sweep={sweeps}/wrong_type.py"], "sweep run 1 sets config.batch_size='big'"),
    case("sweep_zip_lengths", "sweep", ["--sweep={sweeps}/zip.py"], "different lengths [3, 2]"),
    case("sweep_duplicate_runs", "sweep", ["--sweep={sweeps}/duplicate.py"], "runs 0 and 2 of the sweep are the same"),
    case("sweep_returns_none", "sweep", ["--sweep={sweeps}/none.py"], "returned None"),
    case("sweep_parallel_zero", "sweep", ["--parallel=0"], "--parallel=0 must be >= 1"),
    case("sweep_unknown_launcher", "sweep", ["--launcher=slurm"], "--launcher"),
    case("sweep_tpu_without_zone", "sweep", ["--launcher=tpu_vm", "--tpu_name=vm", "--dry_run"], "needs --tpu_zone"),
    case("sweep_root_is_a_file", "sweep", ["--root={wd}/config.json"], "is a file, not a folder"),
    case("report_on_empty_dir", "report", ["{empty}"], "no runs under"),
    case("report_on_missing_dir", "report", ["{root}/nope"], "not found"),
    case("report_on_a_file", "report", ["{wd}/metrics.jsonl"], "is a file"),
    case("report_without_dir", "report", [], "usage: python -m research.tools.report DIR"),
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


SWEEP_FILES = {
    "ok.py": "def get_sweep(hyper):\n  return hyper.seeds(2)\n",
    "no_function.py": "SEEDS = [0, 1]\n",
    "syntax.py": "def get_sweep(hyper)\n  return []\n",
    "unknown_key.py": "def get_sweep(hyper):\n  return hyper.sweep('config.optimizer.lr', [0.1])\n",
    "wrong_type.py": "def get_sweep(hyper):\n  return hyper.sweep('config.batch_size', [32, 'big'])\n",
    "zip.py": "def get_sweep(hyper):\n  return hyper.zip(hyper.seeds(3), hyper.sweep('config.batch_size', [8, 16]))\n",
    "duplicate.py": "def get_sweep(hyper):\n  return hyper.chain(hyper.seeds(2), hyper.seeds(1))\n",
    "none.py": "def get_sweep(hyper):\n  hyper.seeds(2)\n",
}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> str:
  folder = tmp_path_factory.mktemp("sweeps")
  for name, text in SWEEP_FILES.items():
    (folder / name).write_text(text)
  return str(folder)


def _run_module(module: str, args: list[str], env: dict[str, str] | None) -> subprocess.CompletedProcess:
  full_env = subprocess_env(env)
  package = "research" if module == "main" else "research.tools"
  return subprocess.run([sys.executable, "-m", f"{package}.{module}", *args], cwd=ROOT, env=full_env,
                        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module,args,expected,env", CASES)
def test_bad_input_is_one_line_and_changes_nothing(module, args, expected, env, trained, data_dir, sweeps,
                                                   tmp_path):
  root = os.path.dirname(trained)
  empty = tmp_path / "empty"
  empty.mkdir()
  subst = {"{wd}": trained, "{root}": root, "{sweeps}": sweeps, "{empty}": str(empty)}

  def fill(text: str) -> str:
    for key, value in subst.items():
      text = text.replace(key, value)
    return text

  args = [fill(a) for a in args]
  expected = fill(expected) if expected else expected
  before = snapshot(root)
  if module == "main":
    config = [] if "NO_CONFIG" in args else [a for a in args if a.startswith("--config=")] or [QUICK]
    workdir = [] if "NO_WORKDIR" in args or any(a.startswith("--workdir=") for a in args) else [f"--workdir={trained}"]
    rest = [a for a in args if not a.startswith("--config=") and a not in ("NO_CONFIG", "NO_WORKDIR")]
    data = [] if "NO_CONFIG" in args else [f"--config.data_dir={data_dir}"]
    r = run_main(*config, *workdir, *data, *rest, env=env)
  elif module == "sweep":
    defaults = {"--config": QUICK.split("=", 1)[1], "--sweep": f"{sweeps}/ok.py", "--root": root}
    given = {a.split("=", 1)[0] for a in args}
    r = _run_module("sweep", [*args, *[f"{k}={v}" for k, v in defaults.items() if k not in given]], env)
  else:
    r = _run_module("report", args, env)
  _check_one_error_line(r, expected)
  assert snapshot(root) == before
  assert not os.path.exists("/proc/research_run")


def test_the_table_has_at_least_30_distinct_cases():
  ids = [c.id for c in CASES]
  assert len(ids) == len(set(ids)) >= 30
  assert len({(tuple(c.values[1]), c.values[0]) for c in CASES}) == len(CASES)


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
