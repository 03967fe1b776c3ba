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
from research.data.vocab import BOS_ID, EOS_ID
from research.decoding.decoder import logits_step_fn
from research.errors import UserError
from research.models.seq2seq import LSTMLayer, LSTMSeq2Seq
from research.tasks.losses import accuracy, cross_entropy

SRC_V, TGT_V = 13, 11


def key(seed: int) -> jax.Array:
  # Threefry keys make XLA:CPU compile each random init/dropout slowly; rbg halves these tests' time.
  return jax.random.key(seed, impl="rbg")

# One model for most tests: compiling is what costs time here, so every test reuses these jitted functions.
MODEL = LSTMSeq2Seq(src_vocab_size=SRC_V, tgt_vocab_size=TGT_V, embed_dim=8, hidden_dim=12, num_layers=2,
                    bidirectional=True, dropout_rate=0.3)


def examples(seed: int = 0, n: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
  rng = np.random.default_rng(seed)
  src = [rng.integers(4, SRC_V, size=int(rng.integers(1, 7))).astype(np.int32) for _ in range(n)]
  tgt = [rng.integers(4, TGT_V, size=int(rng.integers(1, 6))).astype(np.int32) for _ in range(n)]
  return src, tgt


def collate(src, tgt, **kw):
  return {k: jnp.asarray(v) for k, v in PadCollate(**kw)({"src": ragged(src), "tgt": ragged(tgt)}).items()}


@pytest.fixture(scope="module")
def batch():
  return collate(*examples())


@pytest.fixture(scope="module")
def variables(batch):
  return jax.jit(MODEL.init)(key(0), batch["src"], batch["tgt_in"])


@jax.jit
def eval_logits(variables, src, tgt_in):
  return MODEL.apply(variables, src, tgt_in, train=False)


@jax.jit
def train_logits(variables, src, tgt_in, key):
  return MODEL.apply(variables, src, tgt_in, train=True, rngs={"dropout": key})


@jax.jit
def loss_and_grad(params, batch, weights):
  def loss(p):
    logits = MODEL.apply({"params": p}, batch["src"], batch["tgt_in"], train=False)
    return cross_entropy(logits, batch["tgt_out"], batch["tgt_mask"] * weights[:, None])[0]
  return jax.value_and_grad(loss)(params)


def test_registered_and_shapes(batch, variables):
  assert "lstm_seq2seq" in registry.models._entries and registry.models._entries["lstm_seq2seq"] is LSTMSeq2Seq
  logits = eval_logits(variables, batch["src"], batch["tgt_in"])
  assert logits.shape == (*batch["tgt_in"].shape, TGT_V) and logits.dtype == jnp.float32
  assert {"fwd_1", "bwd_1", "bridge_h_1"} <= set(variables["params"]["encoder"])
  assert set(variables["params"]["decoder"]) == {"embed", "layer_0", "layer_1", "logits"}


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_pads_change_no_state(reverse):
  layer = LSTMLayer(in_features=5, hidden_dim=7)
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 6, 5)), jnp.float32)
  mask = jnp.asarray([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
  params = jax.jit(layer.init)(key(0), x, mask=mask)
  run = jax.jit(layer.apply, static_argnames="reverse")
  garbage = jnp.where(mask[..., None], x, 100.0 * jnp.asarray(rng.normal(size=x.shape), jnp.float32))
  out_a, (ca, ha) = run(params, x, mask=mask, reverse=reverse)
  out_b, (cb, hb) = run(params, garbage, mask=mask, reverse=reverse)
  np.testing.assert_array_equal(ca, cb)
  np.testing.assert_array_equal(ha, hb)
  np.testing.assert_array_equal(out_a, out_b)
  assert float(jnp.abs(out_a[0, 3:]).max()) == 0.0
  # The state after a sentence's last real token equals running that sentence alone, unpadded.
  for i, n in enumerate((3, 5)):
    _, (c1, h1) = run(params, x[i:i + 1, :n], reverse=reverse)
    np.testing.assert_allclose(ha[i], h1[0], atol=1e-6)
    np.testing.assert_allclose(ca[i], c1[0], atol=1e-6)


def test_encoder_final_states_ignore_padding(batch, variables):
  """Every layer's final (c, h), both directions through the bridge, whatever the padding."""
  src, tgt = examples()
  long = collate(src, tgt, pad_multiple=16)
  encode = jax.jit(lambda v, s, m: MODEL.apply(v, s, m, method="encode"))
  states_short = encode(variables, batch["src"], batch["src_mask"])
  states_long = encode(variables, long["src"], long["src_mask"])
  for (c1, h1), (c2, h2) in zip(states_short, states_long, strict=True):
    np.testing.assert_allclose(c1, c2, atol=1e-6)
    np.testing.assert_allclose(h1, h2, atol=1e-6)
  # Without the mask the backward direction reads the pads first, and the meaning vector changes.
  unmasked = encode(variables, long["src"], jnp.ones_like(long["src_mask"]))
  assert not np.allclose(unmasked[-1][1], states_short[-1][1], atol=1e-3)


def test_loss_and_gradients_identical_whatever_the_padding(batch, variables):
  src, tgt = examples()
  # Much more padding than the batch's longest sentence (the 4th row, weight 0, only keeps one compiled shape).
  loose = collate(src + src[:1], tgt + tgt[:1], pad_multiple=16)
  # Batched with a longer sentence whose example weight is 0 (how the pipeline pads an eval batch).
  long_src, long_tgt = np.arange(4, 13, dtype=np.int32), np.arange(4, 11, dtype=np.int32)[::-1].copy()
  mixed = collate(src + [long_src], tgt + [long_tgt], pad_multiple=16)
  assert loose["src"].shape == mixed["src"].shape == (4, 16) and batch["src"].shape[1] < 16
  assert mixed["src_len"].max() > batch["src"].shape[1]
  weights = jnp.asarray([1.0, 1.0, 1.0, 0.0])
  l1, g1 = loss_and_grad(variables["params"], batch, jnp.ones(3))
  l2, g2 = loss_and_grad(variables["params"], loose, weights)
  l3, g3 = loss_and_grad(variables["params"], mixed, weights)
  np.testing.assert_allclose(l1, l2, atol=1e-6, rtol=1e-6)
  np.testing.assert_allclose(l1, l3, atol=1e-6, rtol=1e-6)
  for a, b, c in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), jax.tree.leaves(g3), strict=True):
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
  assert float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(g1))) > 0
  l4, _ = loss_and_grad(variables["params"], mixed, jnp.ones(4))
  assert float(l4) > float(l1)  # the weight really switches the long example off


def test_step_fn_matches_teacher_forcing(batch, variables):
  logp = jax.nn.log_softmax(eval_logits(variables, batch["src"], batch["tgt_in"]), axis=-1)
  cache = jax.jit(lambda v, s: MODEL.apply(v, s, 0, method="init_cache"))(variables, batch["src"])
  assert set(cache) == {"c", "h"} and all(leaf.shape[:2] == (3, 2) for leaf in jax.tree.leaves(cache))
  step_fn = jax.jit(logits_step_fn(MODEL, variables))
  for t in range(batch["tgt_in"].shape[1]):
    lp, cache = step_fn(batch["tgt_in"][:, t], cache)
    assert lp.shape == (3, TGT_V) and lp.dtype == jnp.float32
    np.testing.assert_allclose(lp, logp[:, t], atol=1e-5)


def test_beam_search_scores_equal_teacher_forced_log_probs(batch, variables):
  """research/decoding/search.py drives the LSTM through step_fn and gathers its (c, h) cache with the beams:
  each returned hypothesis' score must be its log-probability under the teacher-forced model."""
  from research.decoding import beam_search
  max_len, k = 6, 2
  decode = jax.jit(lambda v, s: beam_search(logits_step_fn(MODEL, v), MODEL.apply(v, s, 0, method="init_cache"), batch_size=3,
                                            beam_size=k, max_len=max_len, bos_id=BOS_ID, eos_id=EOS_ID))
  seqs, scores = decode(variables, batch["src"])
  assert seqs.shape == (3, k, max_len) and scores.shape == (3, k)
  assert bool((scores[:, 0] >= scores[:, 1]).all())
  for j in range(k):
    out = np.asarray(seqs[:, j])
    tgt_in = np.concatenate([np.full((3, 1), BOS_ID), out[:, :-1]], axis=1)
    eos = np.where((out == EOS_ID).any(1), (out == EOS_ID).argmax(1), max_len - 1)
    mask = np.arange(max_len)[None] <= eos[:, None]  # up to and including the first eos
    logp = jax.nn.log_softmax(eval_logits(variables, batch["src"], jnp.asarray(tgt_in, jnp.int32)), axis=-1)
    expect = (np.take_along_axis(np.asarray(logp), out[..., None], -1)[..., 0] * mask).sum(1)
    np.testing.assert_allclose(scores[:, j], expect, atol=1e-4)


def test_dropout_only_in_training(batch, variables):
  args = (variables, batch["src"], batch["tgt_in"])
  a, b, c = (train_logits(*args, key(k)) for k in (1, 1, 2))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c) and not np.allclose(a, eval_logits(*args))


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
  params = jax.jit(model.init)(key(0), batch["src"], batch["tgt_in"])["params"]
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
