"""Deep-net training features: dropout, L1/L2, max-norm, input noise, early stopping, diagnostics,
train_fraction. In-process (Trainer) to stay fast."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import read_jsonl
from ml_collections import ConfigDict

from configs import quickstart
from research.config import base_config
from research.errors import UserError
from research.models.mlp import MLP
from research.train.loop import Trainer, apply_max_norm, weight_penalty
from research.train.optim import make_optimizer


def _config(data_dir, **model):
  c = quickstart.get_config("runlocal")
  c.data_dir = data_dir
  c.model = ConfigDict({**c.model.to_dict(), **model})
  return c


def test_dropout_is_off_in_eval_and_rate_correct_in_train():
  m = MLP(num_classes=3, hidden_sizes=(2000,), activation="relu", dropout_rate=0.5)
  x = jnp.ones((4, 10))
  v = m.init({"params": jax.random.PRNGKey(0)}, x)
  a = m.apply(v, x, train=False)
  np.testing.assert_array_equal(a, m.apply(v, x, train=False))
  _, inter = m.apply(v, x, train=False, mutable=["intermediates"])
  h = inter["intermediates"]["act_0"][0]

  # Train mode: exactly the hidden layer's output is dropped with rate 0.5 and the survivors scaled by 2.
  def hidden_after_dropout(rng):
    from flax import linen as nn
    return nn.Dropout(0.5, deterministic=False).apply({}, h, rngs={"dropout": rng})
  out = hidden_after_dropout(jax.random.PRNGKey(1))
  kept = np.asarray(out != 0)[np.asarray(h) != 0]
  assert abs(kept.mean() - 0.5) < 0.02  # 8,000 units: 4.5 standard deviations ≈ 0.025
  np.testing.assert_allclose(np.asarray(out)[np.asarray(out) != 0], 2 * np.asarray(h)[np.asarray(out) != 0], rtol=1e-6)
  # And the model's train-mode output differs between steps (rng folded per step) but not within one.
  r1, r2 = jax.random.PRNGKey(2), jax.random.PRNGKey(3)
  t1 = m.apply(v, x, train=True, rngs={"dropout": r1})
  np.testing.assert_array_equal(t1, m.apply(v, x, train=True, rngs={"dropout": r1}))
  assert not np.allclose(t1, m.apply(v, x, train=True, rngs={"dropout": r2}))


def test_weight_penalty_and_max_norm():
  params = {"a": {"kernel": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "bias": jnp.array([10.0, 10.0])}}
  assert float(weight_penalty(params, 0.0, 0.0)) == 0.0
  np.testing.assert_allclose(float(weight_penalty(params, 1.0, 0.0)), 8.0)   # biases are not penalized
  np.testing.assert_allclose(float(weight_penalty(params, 0.0, 2.0)), 26.0)  # l2/2 · Σw² = 26
  clipped = apply_max_norm(params, 2.0)["a"]["kernel"]
  np.testing.assert_allclose(np.linalg.norm(np.asarray(clipped), axis=0), [2.0, 1.0], rtol=1e-6)


def test_adamw_decays_only_weights_unless_told_otherwise():
  # Attention biases are [heads, head_dim]: the mask must go by name, not by ndim.
  params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2, 2))}, "norm": {"scale": jnp.ones(2)},
            "embed": {"embedding": jnp.ones((3, 2))}, "mlm_bias": jnp.ones(3)}
  zero_grads = jax.tree.map(jnp.zeros_like, params)

  def decay_step(mask: str) -> dict:
    cfg = base_config().optimizer
    cfg.update(name="adamw", learning_rate=0.1, weight_decay=0.5, weight_decay_mask=mask)
    tx, _ = make_optimizer(cfg, total_steps=10)
    updates, _ = tx.update(zero_grads, tx.init(params), params)
    return jax.tree.map(lambda u: float(jnp.abs(u).max()), updates)

  decayed = 0.1 * 0.5  # zero gradients: |update| = lr · wd · param
  assert decay_step("weights") == {"dense": {"kernel": pytest.approx(decayed), "bias": 0.0}, "norm": {"scale": 0.0},
                                   "embed": {"embedding": pytest.approx(decayed)}, "mlm_bias": 0.0}
  assert all(v == pytest.approx(decayed) for v in jax.tree.leaves(decay_step("all")))
  with pytest.raises(UserError, match="weight_decay_mask='biases' is unknown"):
    decay_step("biases")


def test_l2_penalty_shrinks_weights(tmp_path, data_dir):
  norms = {}
  for l2 in (0.0, 0.1):
    c = _config(data_dir)
    c.l2_penalty = l2
    t = Trainer(c, str(tmp_path / f"l2_{l2}"))
    t.run()
    norms[l2] = float(jnp.linalg.norm(t.state.params["hidden_0"]["kernel"]))
  assert norms[0.1] < 0.9 * norms[0.0]


def test_early_stopping_restores_the_best_step(tmp_path, data_dir):
  c = quickstart.get_config()
  c.data_dir = data_dir
  c.dataset.validation_fraction = 0.2
  c.eval_every_steps = 20
  c.checkpoint_every_steps = 20
  c.early_stopping.patience = 2
  c.early_stopping.metric = "loss"
  c.early_stopping.mode = "min"
  c.optimizer.learning_rate = 0.05  # overfits/oscillates quickly, so stopping triggers early
  t = Trainer(c, str(tmp_path / "es"))
  final = t.run()
  rows = [r for r in read_jsonl(tmp_path / "es" / "metrics.jsonl") if r["split"] == "validation"]
  during = rows[:-1]
  best = min(during, key=lambda r: r["loss"])
  assert t._last_step == best["step"] < t.total_steps
  assert final["validation"]["loss"] == pytest.approx(best["loss"], abs=1e-6)
  from research.tools.report import final_rows
  from research.tools.sweep import is_finished
  assert "Early stopping: training ended at step" in (tmp_path / "es" / "results.md").read_text()
  assert is_finished(str(tmp_path / "es"))  # a sweep does not relaunch it
  rows = read_jsonl(tmp_path / "es" / "metrics.jsonl")
  assert final_rows(rows)["validation"]["loss"] == pytest.approx(best["loss"], abs=1e-6)  # the best, not the last


def test_diagnostics_record_per_layer_gradients_from_initialization(tmp_path, data_dir):
  c = _config(data_dir, hidden_sizes=(32, 32, 32), activation="sigmoid")
  c.diagnostics = True
  Trainer(c, str(tmp_path / "d")).run()
  rows = [r for r in read_jsonl(tmp_path / "d" / "metrics.jsonl") if r["split"] == "diagnostics"]
  assert rows[0]["step"] == 0
  for layer in ("hidden_0", "hidden_1", "hidden_2", "head"):
    assert rows[0][f"grad_norm/{layer}"] > 0 and f"update_ratio/{layer}" in rows[0]
  assert 0.0 <= rows[0]["saturation/2"] <= 1.0 and 0.0 < rows[0]["act_mean/0"] < 1.0
  assert (tmp_path / "d" / "plots" / "gradient_norms.png").exists()


def test_train_fraction_is_a_deterministic_subset(tmp_path, data_dir):
  sizes = []
  for frac, seed in ((0.1, 0), (0.1, 5), (0.3, 0)):
    c = _config(data_dir)
    c.dataset.train_fraction = frac
    c.seed = seed
    t = Trainer(c, str(tmp_path / f"f{frac}{seed}"))
    sizes.append((len(t.train_source), sorted(t.train_source.columns["image"].reshape(len(t.train_source), -1)[:, 20])))
  assert sizes[0][0] == 144 and sizes[2][0] == 432
  assert sizes[0] == sizes[1]  # the training seed does not change which examples are used


def test_train_examples_is_a_nested_subset(tmp_path, data_dir):
  """config.dataset.train_examples=N trains on exactly N examples, the first N of the one fixed permutation: the
  100 of a 100-label run are among the 300 of a 300-label run, whatever the training seed."""
  rows = {}
  for n, seed in ((100, 0), (100, 3), (300, 0)):
    c = _config(data_dir)
    c.dataset.train_examples = n
    c.seed = seed
    t = Trainer(c, str(tmp_path / f"n{n}s{seed}"))
    assert len(t.train_source) == n
    rows[n, seed] = {r.tobytes() for r in t.train_source.columns["image"].reshape(n, -1)}
  assert rows[100, 0] == rows[100, 3] and rows[100, 0] <= rows[300, 0]
  c = _config(data_dir)
  c.dataset.train_examples = 10**6
  with pytest.raises(UserError, match="train_examples=1000000 is more than"):
    Trainer(c, str(tmp_path / "too_many"))
