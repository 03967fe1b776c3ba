"""Kill -9 at different points and restart: the final parameters are bitwise those of an
uninterrupted run. Also: 1 device vs 8 devices give the same losses."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import read_jsonl, run_main, xla_flags

from research.train.checkpoint import load_state

QUICK = "--config=configs/quickstart.py:runlocal"


def _params(workdir: str):
  step, state, meta = load_state(workdir)
  return step, jax.tree.leaves(state["params"]), jax.tree.leaves(state["opt_state"]), meta


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
  wd = tmp_path_factory.mktemp("resume") / "straight"
  r = run_main(QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}")
  assert r.returncode == 0, r.stderr[-2000:]
  return _params(str(wd))


# runlocal: 23 steps, evaluation and checkpoints every 10 steps.
@pytest.mark.parametrize("fault", ["step:15", "save:20", "eval:10"])
def test_kill_and_restart_is_bitwise_equal(fault, uninterrupted, tmp_path, data_dir):
  wd = tmp_path / "killed"
  args = [QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}"]
  killed = run_main(*args, env={"RESEARCH_FAULT": fault})
  assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
  assert (wd / ".lock").exists()  # the dead run's lock is left behind and must be taken over
  r = run_main(*args)
  assert r.returncode == 0, r.stderr[-2000:]
  step, params, opt_state, meta = _params(str(wd))
  ref_step, ref_params, ref_opt, ref_meta = uninterrupted
  assert step == ref_step == 23 and meta == ref_meta
  for a, b in zip(params + opt_state, ref_params + ref_opt, strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_one_and_eight_devices_agree(tmp_path, data_dir):
  losses = {}
  for n in (1, 8):
    wd = tmp_path / f"dev{n}"
    r = run_main(QUICK, f"--workdir={wd}", f"--config.data_dir={data_dir}", "--config.num_train_steps=20",
                 "--config.log_every_steps=20", env={"XLA_FLAGS": xla_flags(n)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{n} cpu device" in (wd / "results.md").read_text()
    rows = read_jsonl(wd / "metrics.jsonl")
    losses[n] = ([x["loss"] for x in rows if x["split"] == "train" and x["step"] == 20][0],
                 [x["loss"] for x in rows if x["split"] == "test"][-1])
  np.testing.assert_allclose(losses[1], losses[8], rtol=0, atol=1e-5)
