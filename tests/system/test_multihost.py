"""Two processes on localhost train the quickstart as one job (CPU collectives over gloo, the default
in jax 0.10): the same metrics and parameters as one process within 1e-5, only process 0 writes logs
and reports, each checkpoint is written once, and after a kill -9 both processes restore it. The two-process
runs also take five steps per jitted call (config.steps_per_call, batches stacked and assembled across
processes), the one-process reference one: the results must not depend on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import jax
import numpy as np
from conftest import ROOT, read_jsonl, subprocess_env

from research.train.checkpoint import load_state

ARGS = ["--config=configs/quickstart.py:runlocal", "--config.num_train_steps=20", "--config.log_every_steps=10",
        # synchronous saves: the kill at step 15 must find the step-10 checkpoint committed
        "--config.async_checkpointing=false"]


def _env(extra: dict[str, str]) -> dict[str, str]:
  return subprocess_env(extra)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "research.main", *args], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _two_processes(args: list[str], extra: dict[str, str] | None = None) -> list[subprocess.Popen]:
  port = _free_port()
  return [_start(args, _env({"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
                             "JAX_PROCESS_ID": str(i), "RESEARCH_DISTRIBUTED": "1", **(extra or {})}))
          for i in range(2)]


def _wait(procs: list[subprocess.Popen], timeout: float = 400) -> list[tuple[int, str, str]]:
  out = []
  try:
    for p in procs:
      stdout, stderr = p.communicate(timeout=timeout)
      out.append((p.returncode, stdout, stderr))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  return out


def _rows(workdir) -> dict[tuple[int, str], dict]:
  return {(r["step"], r["split"]): r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))}


def _data_bytes(checkpoint) -> int:
  """Bytes of array data (the files in ocdbt `d/` folders) of one checkpoint."""
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(checkpoint)
             if os.path.basename(d) == "d" for f in files)


def test_two_processes_train_as_one_job_and_restore_after_kill(tmp_path, data_dir):
  single_wd, multi_wd = tmp_path / "single", tmp_path / "multi"
  common = [*ARGS, f"--config.data_dir={data_dir}"]
  # Prepare the dataset once so the processes do not race to build it.
  single = _start([*common, f"--workdir={single_wd}"], _env({}))
  (rc, out, err), = _wait([single])
  assert rc == 0, err[-2000:]

  multi = [*common, "--config.steps_per_call=5"]
  killed = _wait(_two_processes([*multi, f"--workdir={multi_wd}"], {"RESEARCH_FAULT": "step:15"}))
  # Process 0 kills itself at step 15; process 1 does too, or fails when its peer vanishes first.
  assert killed[0][0] == -9 and killed[1][0] != 0, [(k[0], k[2][-1500:]) for k in killed]
  assert sorted(os.listdir(multi_wd / "checkpoints")) == ["10"]

  resumed = _wait(_two_processes([*multi, f"--workdir={multi_wd}"]))
  for i, (rc, out, err) in enumerate(resumed):
    assert rc == 0, (i, err[-3000:])
    assert f"resumed from {multi_wd}/checkpoints/10" in out, (i, out[-2000:])  # restored in both processes
  # Only process 0 writes progress lines and the report.
  assert "[train] step 20/20" in resumed[0][1] and "Results (" in resumed[0][1]
  assert "[train]" not in resumed[1][1] and "Results (" not in resumed[1][1]
  assert "[train]" not in killed[1][1]

  # Same metrics as one process (every logged row), and no row written twice by one launch.
  rows = read_jsonl(multi_wd / "metrics.jsonl")
  assert len([r for r in rows if r["split"] == "train" and r["step"] == 10]) == 1
  reference, multi = _rows(single_wd), _rows(multi_wd)
  assert set(multi) == set(reference) == {(10, "train"), (10, "test"), (20, "train"), (20, "test")}
  for key, row in reference.items():
    for metric, value in row.items():
      if metric not in ("step", "split", "time"):
        np.testing.assert_allclose(multi[key][metric], value, rtol=0, atol=1e-5, err_msg=f"{key} {metric}")
  assert len([f for f in os.listdir(multi_wd) if f.startswith("events.")]) == 2  # one per launch, process 0's
  assert not (multi_wd / ".lock").exists()

  # Checkpoints: each written once (the two processes share the bytes, not duplicate them), and the
  # final parameters equal the single-process ones.
  assert sorted(os.listdir(multi_wd / "checkpoints")) == ["10", "20"]
  single_bytes = _data_bytes(single_wd / "checkpoints" / "20")
  multi_bytes = _data_bytes(multi_wd / "checkpoints" / "20")
  assert 0.8 * single_bytes < multi_bytes < 1.3 * single_bytes, (single_bytes, multi_bytes)
  step, state, _ = load_state(str(multi_wd))
  ref_step, ref_state, _ = load_state(str(single_wd))
  assert step == ref_step == 20
  for a, b in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(ref_state["params"]), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)
