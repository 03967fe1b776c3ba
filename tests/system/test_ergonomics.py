"""Mixed precision, gradient accumulation, EMA, profiling and the model summary — for any model,
through the config."""

from __future__ import annotations

import glob
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import read_jsonl

from configs import quickstart
from research.config import override
from research.errors import UserError
from research.train import faults
from research.train import loop as train_lib
from research.train.checkpoint import load_state
from research.train.loop import Trainer


def _config(data_dir, **overrides):
  c = quickstart.get_config("runlocal")
  c.data_dir = data_dir
  return override(c, overrides)


def _one_update(trainer: Trainer, batch_index: int = 0):
  state = jax.tree.map(lambda x: x.copy(), trainer.initial_state)
  trainer.compile(state)
  batch = trainer.train_stream[batch_index]
  new_state, acc = trainer.train_step(state, batch, trainer._zeros())
  return new_state, acc


@pytest.mark.parametrize("accum", [2, 4])
def test_grad_accumulation_equals_one_big_batch(accum, tmp_path, data_dir):
  base, _ = _one_update(Trainer(_config(data_dir), str(tmp_path / "a")))
  split, acc = _one_update(Trainer(_config(data_dir, grad_accum_steps=accum), str(tmp_path / "b")))
  for a, b in zip(jax.tree.leaves(base.params), jax.tree.leaves(split.params), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(base.opt_state), jax.tree.leaves(split.opt_state), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6, rtol=1e-4)
  # Metrics still count every example once.
  assert float(acc["metrics"]["accuracy"][1]) == 64


def test_grad_accumulation_resumes_at_the_right_batch(tmp_path, data_dir, monkeypatch):
  """A run interrupted at step 15 and restarted ends where an uninterrupted one does."""
  config = _config(data_dir, grad_accum_steps=4, async_checkpointing=False)
  straight = Trainer(config, str(tmp_path / "straight"))
  straight.run()

  class Interrupted(Exception):
    pass

  def interrupt(point, step):
    if point == "step" and step == 15:
      raise Interrupted
  monkeypatch.setattr(faults, "maybe_kill", interrupt)
  with pytest.raises(Interrupted):
    Trainer(config, str(tmp_path / "resumed")).run()
  monkeypatch.undo()
  assert load_state(str(tmp_path / "resumed"))[0] == 10
  Trainer(config, str(tmp_path / "resumed")).run()
  (s1, a, m1), (s2, b, m2) = load_state(str(tmp_path / "straight")), load_state(str(tmp_path / "resumed"))
  assert s1 == s2 == 23 and m1 == m2
  for x, y in zip(jax.tree.leaves(a["params"]), jax.tree.leaves(b["params"]), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_bfloat16_quickstart_reaches_target_with_float32_params(tmp_path, data_dir):
  config = quickstart.get_config()
  config.data_dir = data_dir
  config.dtype = "bfloat16"
  config.eval_every_steps = -1
  trainer = Trainer(config, str(tmp_path / "bf16"))
  final = trainer.run()
  assert final["test"]["accuracy"] >= 0.95, final
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(trainer.state.params))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(trainer.state.opt_state) if x.dtype.kind == "f")
  assert trainer.model.dtype == jnp.bfloat16


def test_float16_loss_scaling_skips_overflow_and_halves_the_scale(tmp_path, data_dir):
  trainer = Trainer(_config(data_dir, dtype="float16"), str(tmp_path / "f16"))
  state = trainer.initial_state
  state = state.replace(loss_scale={**state.loss_scale, "scale": jnp.float32(1e30)})  # forces an overflow
  trainer.compile(state)
  new, acc = trainer.train_step(jax.tree.map(lambda x: x.copy(), state), trainer.train_stream[0], trainer._zeros())
  assert float(new.loss_scale["scale"]) == pytest.approx(5e29)
  for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert int(acc["bad_step"]) == -1  # a skipped overflow step is not a training failure
  # With a sane scale the step trains.
  ok = state.replace(loss_scale={**state.loss_scale, "scale": jnp.float32(1024.0)})
  new, _ = trainer.train_step(jax.tree.map(lambda x: x.copy(), ok), trainer.train_stream[0], trainer._zeros())
  assert float(new.loss_scale["scale"]) == 1024.0
  assert not np.array_equal(np.asarray(new.params["head"]["kernel"]), np.asarray(state.params["head"]["kernel"]))


def test_ema_is_updated_checkpointed_and_used_for_evaluation(tmp_path, data_dir):
  decay = 0.9
  trainer = Trainer(_config(data_dir, ema_decay=decay), str(tmp_path / "ema"))
  state0 = jax.tree.map(lambda x: x.copy(), trainer.initial_state)
  new, _ = _one_update(trainer)
  for e, p0, p1 in zip(jax.tree.leaves(new.ema_params), jax.tree.leaves(state0.params),
                       jax.tree.leaves(new.params), strict=True):
    np.testing.assert_allclose(np.asarray(e), decay * np.asarray(p0) + (1 - decay) * np.asarray(p1), rtol=1e-6,
                               atol=1e-7)
  trainer.run()
  _, saved, _ = load_state(str(tmp_path / "ema"))
  assert saved["ema_params"] is not None
  ema_eval = trainer.evaluate(trainer.state)["test"]
  plain_eval = trainer.evaluate(trainer.state.replace(ema_params=trainer.state.params))["test"]
  assert ema_eval != plain_eval


def test_profile_steps_write_a_trace_and_summary_reports_costs(tmp_path, data_dir):
  wd = tmp_path / "prof"
  Trainer(_config(data_dir, profile_steps=(3, 5)), str(wd)).run()
  assert glob.glob(os.path.join(wd, "profile", "**", "*.xplane.pb"), recursive=True)
  text = (wd / "results.md").read_text()
  assert "flops_per_step" in text and "hidden_0" in text


class _CountingTrainer(Trainer):
  """Counts the multi-step calls (config.steps_per_call > 1) the loop makes."""
  multi_step_calls = 0

  def compile(self, state):
    super().compile(state)
    if self.train_steps is not None:
      inner = self.train_steps

      def counted(*args):
        self.multi_step_calls += 1
        return inner(*args)
      self.train_steps = counted


def test_steps_per_call_trains_exactly_as_one_step_per_call(tmp_path, data_dir, monkeypatch):
  """Four steps per jitted call (a lax.scan) give the same parameters, bit for bit, and the same logged rows and
  checkpoints; calls end at log/eval/checkpoint steps, and the 3-step tail (23 steps in all) runs one by one.
  Batches that cannot be stacked (different shapes) run one step per call, with the same result."""
  every = dict(log_every_steps=8, eval_every_steps=16, checkpoint_every_steps=16)
  one = _CountingTrainer(_config(data_dir, **every), str(tmp_path / "one"))
  four = _CountingTrainer(_config(data_dir, steps_per_call=4, **every), str(tmp_path / "four"))
  one.run()
  four.run()
  monkeypatch.setattr(train_lib, "_same_shapes", lambda batches: False)
  ragged = _CountingTrainer(_config(data_dir, steps_per_call=4, **every), str(tmp_path / "ragged"))
  ragged.run()
  assert one.total_steps == 23 and four.multi_step_calls == 5 and one.multi_step_calls == ragged.multi_step_calls == 0
  runs = (one, four, ragged)
  for other in runs[1:]:
    for a, b in zip(jax.tree.leaves(one.state.params), jax.tree.leaves(other.state.params), strict=True):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  rows = [[{k: v for k, v in r.items() if k != "time"} for r in read_jsonl(os.path.join(t.workdir.path,
                                                                                           "metrics.jsonl"))]
          for t in runs]
  assert rows[0] == rows[1] == rows[2] and [r["step"] for r in rows[0] if r["split"] == "train"] == [8, 16, 23]
  assert len({tuple(sorted(os.listdir(os.path.join(t.workdir.path, "checkpoints")))) for t in runs}) == 1


@pytest.mark.parametrize("value", [0, -2])
def test_steps_per_call_must_be_a_positive_integer(value, tmp_path, data_dir):
  with pytest.raises(UserError, match="config.steps_per_call"):
    Trainer(_config(data_dir, steps_per_call=value), str(tmp_path / "wd"))
