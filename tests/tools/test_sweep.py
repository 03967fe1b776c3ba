"""Sweeps: the hyper helpers, run names, the override text research.main parses back, the local
launcher (failed run reported, others go on, interrupted run resumes, finished run skipped) and the
tpu_vm commands (checked as printed; no cloud here)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
from absl import flags
from conftest import ROOT, subprocess_env
from ml_collections import config_flags

from research.errors import UserError
from research.tools import hyper, sweep

QUICK = "configs/quickstart.py:runlocal"


def run_sweep(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
  full_env = subprocess_env(env)
  return subprocess.run([sys.executable, "-m", "research.tools.sweep", *args], cwd=ROOT, env=full_env,
                        capture_output=True, text=True, timeout=timeout)


def write_sweep(folder, name: str, body: str) -> str:
  path = os.path.join(str(folder), name)
  with open(path, "w") as f:
    f.write("def get_sweep(hyper):\n" + "".join(f"  {line}\n" for line in body.strip().splitlines()))
  return path


# ---------------------------------------------------------------------------------------------
# hyper


def test_product_zip_fixed_seeds():
  runs = hyper.product([
      hyper.sweep("config.optimizer.learning_rate", [0.1, 0.01]),
      hyper.fixed("config.batch_size", 32),
      hyper.seeds(3),
  ])
  assert len(runs) == 6
  assert runs[0] == {"config.optimizer.learning_rate": 0.1, "config.batch_size": 32, "config.seed": 0}
  assert [r["config.seed"] for r in runs] == [0, 1, 2, 0, 1, 2]  # the last sweep varies fastest
  zipped = hyper.zip(hyper.sweep("config.a", [1, 2]), hyper.sweep("config.b", [3, 4]))
  assert zipped == [{"config.a": 1, "config.b": 3}, {"config.a": 2, "config.b": 4}]
  assert hyper.chain(hyper.fixed("config.a", 1), hyper.fixed("config.a", 2)) == [{"config.a": 1}, {"config.a": 2}]
  assert hyper.seeds(2, start=5) == [{"config.seed": 5}, {"config.seed": 6}]


def test_named_variants_round_trip():
  table = {"none": (0.0, 0), "l2": (1e-3, 0), "early": (0.0, 3)}
  runs = hyper.variants(("config.l2", "config.patience"), table)
  assert runs == [{"config.l2": 0.0, "config.patience": 0}, {"config.l2": 1e-3, "config.patience": 0},
                  {"config.l2": 0.0, "config.patience": 3}]
  # a report recovers each run's name from its config values, whatever else the sweep varied
  swept = hyper.product([hyper.seeds(2), runs])
  assert [hyper.variant_name(table, (r["config.l2"], r["config.patience"])) for r in swept] == [
      "none", "l2", "early", "none", "l2", "early"]
  assert hyper.variant_name(table, (5.0, 5)) == "?"


@pytest.mark.parametrize("build,message", [
    (lambda: hyper.zip(hyper.sweep("config.a", [1, 2]), hyper.sweep("config.b", [1])), "different lengths [2, 1]"),
    (lambda: hyper.sweep("learning_rate", [1]), "must be a dotted config path starting with 'config.'"),
    (lambda: hyper.sweep("config.a", []), "got no values"),
    (lambda: hyper.product([hyper.fixed("config.a", 1), hyper.fixed("config.a", 2)]), "sets config.a twice"),
    (lambda: hyper.validate(hyper.chain(hyper.seeds(2), hyper.seeds(1))), "runs 0 and 2 of the sweep are the same"),
    (lambda: hyper.validate([]), "returned no runs"),
    (lambda: hyper.product(hyper.fixed("config.a", 1)), "hyper.product takes a list of runs"),
    (lambda: hyper.seeds(0), "positive integer"),
    (lambda: hyper.variants(("config.a", "config.b"), {"x": (1,)}), "variant 'x' has 1 values for 2 keys"),
    (lambda: hyper.variants(("a",), {"x": (1,)}), "must be a dotted config path"),
])
def test_hyper_mistakes_are_user_errors(build, message):
  with pytest.raises(UserError) as e:
    build()
  assert message in str(e.value)


def test_run_names_are_readable_unique_and_name_only_varying_keys():
  runs = hyper.product([hyper.fixed("config.batch_size", 32),
                        hyper.sweep("config.optimizer.learning_rate", [1e-3, 3e-4]),
                        hyper.sweep("config.model.hidden_sizes", [(64,), (32, 16)]),
                        hyper.seeds(2)])
  names = [r.name for r in sweep.name_runs(runs)]
  assert names[0] == "learning_rate=0.001,hidden_sizes=64,seed=0"
  assert names[-1] == "learning_rate=0.0003,hidden_sizes=32x16,seed=1"
  assert len(set(names)) == len(names)
  # Keys with the same last part are told apart by their parent.
  clash = sweep.short_keys(["config.model.dropout_rate", "config.head.dropout_rate", "config.seed"])
  assert clash == {"config.model.dropout_rate": "model.dropout_rate", "config.head.dropout_rate": "head.dropout_rate",
                   "config.seed": "seed"}
  assert [r.name for r in sweep.name_runs([{}])] == ["base"]


def test_override_text_parses_back_to_the_same_values(monkeypatch):
  """What the launcher puts on the command line is what config_flags gives research.main."""
  runs = [{"config.optimizer.learning_rate": 3e-4, "config.batch_size": 48, "config.model.hidden_sizes": (32, 16),
           "config.model.activation": "tanh", "config.dataset.download": True, "config.num_epochs": 2}]
  config = sweep.load_config(QUICK)
  sweep.check_overrides(config, runs)
  (run,) = sweep.name_runs(runs)
  args = sweep.main_args(QUICK, "/tmp/unused", run)
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, flag_values=fv, lock_config=True)
  argv = ["prog", *[a for a in args if a.startswith("--config")]]
  monkeypatch.setattr(sys, "argv", argv)  # config_flags reads the overrides from sys.argv
  fv(argv)
  c = fv.config
  assert c.optimizer.learning_rate == 3e-4 and c.batch_size == 48 and c.model.hidden_sizes == (32, 16)
  assert c.model.activation == "tanh" and c.dataset.download is True and c.num_epochs == 2.0


def test_check_overrides_names_the_run_and_key():
  config = sweep.load_config(QUICK)
  with pytest.raises(UserError, match=r"sweep run 1 sets config.optimizer.lr, which the config does not define"):
    sweep.check_overrides(config, [{"config.seed": 1}, {"config.optimizer.lr": 0.1}])
  with pytest.raises(UserError, match="sweep run 0 sets config.batch_size='big'"):
    sweep.check_overrides(config, [{"config.batch_size": "big"}])


# ---------------------------------------------------------------------------------------------
# local launcher


def test_local_dry_run_prints_commands_and_writes_nothing(tmp_path):
  path = write_sweep(tmp_path, "s.py", 'return hyper.product([hyper.sweep("config.optimizer.learning_rate", '
                                       '[0.01, 0.1]), hyper.seeds(2)])')
  root = tmp_path / "root"
  r = run_sweep(f"--config={QUICK}", f"--sweep={path}", f"--root={root}", "--dry_run")
  assert r.returncode == 0, r.stderr
  commands = [shlex.split(line) for line in r.stdout.splitlines() if "research.main" in line]
  assert len(commands) == 4
  assert commands[3][1:] == ["-m", "research.main", f"--config={QUICK}",
                             f"--workdir={root}/learning_rate=0.1,seed=1",
                             "--config.optimizer.learning_rate=0.1", "--config.seed=1"]
  assert not root.exists()


def test_local_launcher_reports_failures_resumes_and_skips(tmp_path, data_dir):
  """Run A is killed while saving its step-20 checkpoint (RESEARCH_FAULT reaches the children) and
  run B has a bad value: both are reported, exit 1. The same command again resumes A to the end; B
  still fails. A sweep of A alone then skips it without starting a process."""
  path = write_sweep(tmp_path, "s.py", f'return hyper.product([hyper.fixed("config.data_dir", {data_dir!r}), '
                                       'hyper.sweep("config.model.dropout_rate", [0.0, 1.0])])')
  root = tmp_path / "root"
  args = [f"--config={QUICK}", f"--sweep={path}", f"--root={root}", "--parallel=2"]
  first = run_sweep(*args, env={"RESEARCH_FAULT": "save:20"})
  assert first.returncode == 1, first.stdout + first.stderr
  assert "dropout_rate=0: FAILED (exit -9" in first.stdout
  assert "dropout_rate=1: FAILED (exit 2: error: dropout rate 1.0 in config.model must be in [0, 1)" in first.stdout
  assert "2 of 2 runs failed" in first.stdout
  assert (root / "dropout_rate=0" / "checkpoints" / "10").is_dir()
  assert not (root / "dropout_rate=0" / "results.md").exists()

  second = run_sweep(*args)
  assert second.returncode == 1, second.stdout + second.stderr
  assert "dropout_rate=0: resuming" in second.stdout and "dropout_rate=0: done" in second.stdout
  assert "resumed from" in (root / "logs" / "dropout_rate=0.log").read_text()
  assert "| dropout_rate=0 | done |" in second.stdout and "test accuracy" in second.stdout
  assert "| dropout_rate=1 | failed |" in second.stdout
  assert sweep.is_finished(str(root / "dropout_rate=0"))
  plan = json.loads((root / "sweep.json").read_text())
  assert [r["name"] for r in plan["runs"]] == ["dropout_rate=0", "dropout_rate=1"]

  only_a = write_sweep(tmp_path, "a.py", f'return hyper.product([hyper.fixed("config.data_dir", {data_dir!r}), '
                                         'hyper.sweep("config.model.dropout_rate", [0.0])])')
  # A one-run sweep names its run by all its keys: move the finished workdir to that name.
  (name,) = [r.name for r in sweep.name_runs([{"config.data_dir": data_dir, "config.model.dropout_rate": 0.0}])]
  os.rename(root / "dropout_rate=0", root / name)
  third = run_sweep(f"--config={QUICK}", f"--sweep={only_a}", f"--root={root}")
  assert third.returncode == 0, third.stdout + third.stderr
  assert "finished earlier, skipped" in third.stdout and "| skipped |" in third.stdout


def test_is_finished_needs_the_final_step(tmp_path):
  (tmp_path / "results.md").write_text("## Final evaluation (step 10)\n\nRun: 23 steps of batch 64\n")
  assert not sweep.is_finished(str(tmp_path))
  (tmp_path / "results.md").write_text("## Final evaluation (step 23)\n\nRun: 23 steps of batch 64\n")
  assert sweep.is_finished(str(tmp_path))
  assert not sweep.is_finished(str(tmp_path / "missing"))


# ---------------------------------------------------------------------------------------------
# tpu_vm launcher


def _tpu_commands(tmp_path, *extra: str) -> tuple[list[list[str]], subprocess.CompletedProcess]:
  path = write_sweep(tmp_path, "s.py", 'return hyper.product([hyper.sweep("config.optimizer.learning_rate", '
                                       '[0.01, 0.1]), hyper.seeds(2)])')
  r = run_sweep(f"--config={QUICK}", f"--sweep={path}", f"--root={tmp_path / 'root'}", "--launcher=tpu_vm",
                "--dry_run", "--tpu_zone=us-central2-b", "--tpu_repo_url=https://example.org/research.git",
                "--tpu_commit=abc123", *extra)
  assert r.returncode == 0, r.stderr
  return [shlex.split(line) for line in r.stdout.splitlines() if line.startswith("gcloud ")], r


def test_tpu_vm_dry_run_on_a_bucket(tmp_path):
  cmds, _ = _tpu_commands(tmp_path, "--tpu_name=vm-a,vm-b", "--tpu_workdir_root=gs://my-bucket/sweeps/lr",
                          "--tpu_project=proj")
  assert len(cmds) == 2 + 4  # one set-up per VM, one invocation per run
  for c in cmds:
    assert c[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh"]
    assert "--zone=us-central2-b" in c and "--worker=all" in c and "--project=proj" in c
    assert c[-1].startswith("--command=")
  setup = cmds[0][-1][len("--command="):]
  assert cmds[0][5] == "vm-a" and cmds[1][5] == "vm-b"
  assert "git clone -q https://example.org/research.git research" in setup and "git checkout -q abc123" in setup
  assert "pip install -q -U 'jax[tpu]'" in setup
  assert "gcsfuse -o rw --implicit-dirs --rename-dir-limit=100000 my-bucket /tmp/gcs/my-bucket" in setup
  runs = [c[-1][len("--command="):] for c in cmds[2:]]
  assert [c[5] for c in cmds[2:]] == ["vm-a", "vm-b", "vm-a", "vm-b"]  # spread over the VMs
  workdir = "/tmp/gcs/my-bucket/sweeps/lr/learning_rate=0.1,seed=1"
  remote = shlex.split(runs[3].split("else ", 1)[1].rsplit(";", 1)[0])
  assert remote == ["RESEARCH_DISTRIBUTED=1", "python3", "-m", "research.main", f"--config={QUICK}",
                    f"--workdir={workdir}", "--config.optimizer.learning_rate=0.1", "--config.seed=1"]
  assert runs[3].startswith(f"cd research && if [ -f {shlex.quote(workdir + '/results.md')} ]")


def test_tpu_vm_dry_run_on_local_disk(tmp_path):
  cmds, r = _tpu_commands(tmp_path, "--tpu_name=vm", "--tpu_workdir_root=/mnt/disk/runs")
  assert len(cmds) == 1 + 4
  assert "gcsfuse" not in cmds[0][-1]
  assert "--workdir=/mnt/disk/runs/learning_rate=0.01,seed=0" in cmds[1][-1]
  assert not (tmp_path / "root").exists()


def test_tpu_vm_without_a_name_is_one_error_line(tmp_path):
  path = write_sweep(tmp_path, "s.py", "return hyper.seeds(1)")
  r = run_sweep(f"--config={QUICK}", f"--sweep={path}", f"--root={tmp_path}", "--launcher=tpu_vm", "--dry_run")
  assert r.returncode == 2
  assert r.stderr.strip().splitlines() == ["error: --launcher=tpu_vm needs --tpu_name=NAME (the TPU VM, or several "
                                           "comma-separated)"]
