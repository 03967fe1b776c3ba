"""LSTM encoder–decoder: masking, padding invariance of loss and gradients, the decoding contract,
the masked loss, and a tiny model that actually learns."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import registry
from research.data.translation import PadCollate, ragged
from research.errors import UserError
from research.losses import accuracy, cross_entropy
from research.models.seq2seq import LSTMEncoder, LSTMLayer, LSTMSeq2Seq, decode_fns

SRC_V, TGT_V = 13, 11


def make_model(bidirectional: bool = False, dropout_rate: float = 0.0) -> LSTMSeq2Seq:
  return LSTMSeq2Seq(src_vocab_size=SRC_V, tgt_vocab_size=TGT_V, embed_dim=8, hidden_dim=12, num_layers=2,
                     bidirectional=bidirectional, dropout_rate=dropout_rate)


def examples(seed: int = 0, n: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
  rng = np.random.default_rng(seed)
  src = [rng.integers(4, SRC_V, size=int(rng.integers(1, 7))).astype(np.int32) for _ in range(n)]
  tgt = [rng.integers(4, TGT_V, size=int(rng.integers(1, 6))).astype(np.int32) for _ in range(n)]
  return src, tgt


def collate(src, tgt, **kw):
  return {k: jnp.asarray(v) for k, v in PadCollate(**kw)({"src": ragged(src), "tgt": ragged(tgt)}).items()}


def init(model, batch, seed=0):
  return model.init(jax.random.PRNGKey(seed), batch["src"], batch["tgt_in"])


def loss_fn(params, model, batch, weights=None):
  logits = model.apply({"params": params}, batch["src"], batch["tgt_in"])
  mask = batch["tgt_mask"] if weights is None else batch["tgt_mask"] * weights[:, None]
  return cross_entropy(logits, batch["tgt_out"], mask)[0]


def test_registered_and_shapes():
  assert registry.models.get("lstm_seq2seq") is LSTMSeq2Seq
  model = make_model(bidirectional=True)
  batch = collate(*examples())
  variables = init(model, batch)
  logits = model.apply(variables, batch["src"], batch["tgt_in"], train=False)
  assert logits.shape == (*batch["tgt_in"].shape, TGT_V) and logits.dtype == jnp.float32
  assert model.apply(variables, batch["src"], method="meaning_vector").shape == (3, 12)


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_pads_change_no_state(reverse):
  layer = LSTMLayer(in_features=5, hidden_dim=7)
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 6, 5)), jnp.float32)
  mask = jnp.asarray([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
  params = layer.init(jax.random.PRNGKey(0), x, mask=mask)
  garbage = jnp.where(mask[..., None], x, 100.0 * jnp.asarray(rng.normal(size=x.shape), jnp.float32))
  out_a, (ca, ha) = layer.apply(params, x, mask=mask, reverse=reverse)
  out_b, (cb, hb) = layer.apply(params, garbage, mask=mask, reverse=reverse)
  np.testing.assert_array_equal(ca, cb)
  np.testing.assert_array_equal(ha, hb)
  np.testing.assert_array_equal(out_a, out_b)
  assert float(jnp.abs(out_a[0, 3:]).max()) == 0.0
  # The state after a sentence's last real token equals running that sentence alone, unpadded.
  for i, n in enumerate((3, 5)):
    _, (c1, h1) = layer.apply(params, x[i:i + 1, :n], reverse=reverse)
    np.testing.assert_allclose(ha[i], h1[0], atol=1e-6)
    np.testing.assert_allclose(ca[i], c1[0], atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_final_states_ignore_padding(bidirectional):
  enc = LSTMEncoder(vocab_size=SRC_V, embed_dim=8, hidden_dim=12, num_layers=2, bidirectional=bidirectional)
  src, tgt = examples(seed=2)
  short = collate(src, tgt)
  long = collate(src, tgt, pad_multiple=16)
  variables = enc.init(jax.random.PRNGKey(0), short["src"])
  _, states_short = enc.apply(variables, short["src"])
  _, states_long = enc.apply(variables, long["src"])
  for (c1, h1), (c2, h2) in zip(states_short, states_long, strict=True):
    np.testing.assert_allclose(c1, c2, atol=1e-6)
    np.testing.assert_allclose(h1, h2, atol=1e-6)
  # A bidirectional encoder without masking would see the pads first in its backward pass.
  _, unmasked = enc.apply(variables, long["src"], jnp.ones_like(long["src"]))
  assert not np.allclose(unmasked[-1][1], states_short[-1][1], atol=1e-3)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_loss_and_gradients_identical_whatever_the_padding(bidirectional):
  model = make_model(bidirectional)
  src, tgt = examples(seed=3)
  tight = collate(src, tgt)                         # padded to the batch's longest sentence
  loose = collate(src, tgt, pad_multiple=16)        # much more padding
  params = init(model, tight)["params"]
  grad = jax.value_and_grad(loss_fn)
  l1, g1 = grad(params, model, tight)
  l2, g2 = grad(params, model, loose)
  # Batched with a longer sentence whose example weight is 0 (how the pipeline pads an eval batch).
  long_src, long_tgt = np.arange(4, 13, dtype=np.int32), np.arange(4, 11, dtype=np.int32)[::-1].copy()
  mixed = collate(src + [long_src], tgt + [long_tgt])
  assert mixed["src"].shape[1] > tight["src"].shape[1]
  l3, g3 = grad(params, model, mixed, jnp.asarray([1.0, 1.0, 1.0, 0.0]))
  assert tight["src"].shape != loose["src"].shape
  np.testing.assert_allclose(l1, l2, atol=1e-6, rtol=1e-6)
  np.testing.assert_allclose(l1, l3, atol=1e-6, rtol=1e-6)
  for a, b, c in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), jax.tree.leaves(g3), strict=True):
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
  assert float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(g1))) > 0


@pytest.mark.parametrize("bidirectional", [False, True])
def test_step_fn_matches_teacher_forcing(bidirectional):
  model = make_model(bidirectional)
  batch = collate(*examples(seed=4))
  variables = init(model, batch)
  logp = jax.nn.log_softmax(model.apply(variables, batch["src"], batch["tgt_in"]), axis=-1)
  step_fn, cache = decode_fns(model, variables, batch["src"])
  assert all(leaf.shape[0] == 3 for leaf in jax.tree.leaves(cache))
  step_fn = jax.jit(step_fn)
  for t in range(batch["tgt_in"].shape[1]):
    lp, cache = step_fn(batch["tgt_in"][:, t], cache)
    assert lp.shape == (3, TGT_V) and lp.dtype == jnp.float32
    np.testing.assert_allclose(lp, logp[:, t], atol=1e-5)


def test_dropout_only_in_training():
  model = make_model(dropout_rate=0.5)
  batch = collate(*examples())
  variables = init(model, batch)
  args = (variables, batch["src"], batch["tgt_in"])
  eval_out = model.apply(*args, train=False)
  a = model.apply(*args, train=True, rngs={"dropout": jax.random.PRNGKey(1)})
  b = model.apply(*args, train=True, rngs={"dropout": jax.random.PRNGKey(1)})
  c = model.apply(*args, train=True, rngs={"dropout": jax.random.PRNGKey(2)})
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c) and not np.allclose(a, eval_out)


def test_cross_entropy_against_numpy():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
  targets = rng.integers(0, 5, size=(2, 3))
  mask = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  for eps in (0.0, 0.1):
    q = (1 - eps) * np.eye(5)[targets] + eps / 5
    expect = (-(q * logp).sum(-1) * mask).sum()
    total, count = cross_entropy(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask), label_smoothing=eps)
    np.testing.assert_allclose(total, expect, rtol=1e-5)
    assert float(count) == 3.0
  # A pad position with a -inf logit must not turn the sum into nan.
  bad = logits.copy()
  bad[0, 2, targets[0, 2]] = -np.inf
  assert np.isfinite(float(cross_entropy(jnp.asarray(bad), jnp.asarray(targets), jnp.asarray(mask))[0]))
  correct, n = accuracy(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask))
  assert float(n) == 3.0 and float(correct) == float(((logits.argmax(-1) == targets) * mask).sum())
  with pytest.raises(UserError, match="label_smoothing"):
    cross_entropy(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask), label_smoothing=1.0)


def test_tiny_model_learns_to_reverse():
  """Overfits 16 reversal pairs: the loss must fall far below its starting value (log V ≈ 2.4)."""
  rng = np.random.default_rng(0)
  src = [rng.integers(4, 8, size=int(rng.integers(2, 5))).astype(np.int32) for _ in range(16)]
  tgt = [s[::-1].copy() for s in src]
  model = LSTMSeq2Seq(src_vocab_size=8, tgt_vocab_size=8, embed_dim=16, hidden_dim=32, num_layers=1)
  batch = collate(src, tgt)
  params = init(model, batch)["params"]
  tx = optax.adam(0.03)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt):
    def mean_loss(p):
      logits = model.apply({"params": p}, batch["src"], batch["tgt_in"])
      total, count = cross_entropy(logits, batch["tgt_out"], batch["tgt_mask"])
      return total / count
    loss, g = jax.value_and_grad(mean_loss)(params)
    updates, opt = tx.update(g, opt)
    return optax.apply_updates(params, updates), opt, loss

  losses = []
  for _ in range(150):
    params, opt, loss = step(params, opt)
    losses.append(float(loss))
  assert losses[0] > 1.5 and losses[-1] < 0.1 * losses[0]
