"""Luong attention: score functions, masking, divide-by-sum normalization, step_fn equal to the full forward."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.decoding.decoder import logits_step_fn
from research.errors import UserError
from research.models import attention as la

B, S, T, V = 2, 7, 5, 11


def _key(seed: int) -> jax.Array:
  return jax.random.key(seed, impl="rbg")  # compiles faster than threefry on CPU


def _src():
  return jax.random.randint(jax.random.key(0), (B, S), 1, V, dtype=jnp.int32).at[1, 4:].set(0)  # 3 trailing pads


def _tgt():
  return jax.random.randint(jax.random.key(1), (B, T), 1, V, dtype=jnp.int32)


def _model(**kw) -> la.LuongSeq2Seq:
  args = dict(src_vocab_size=V, tgt_vocab_size=V, embed_dim=8, hidden_dim=12, num_layers=1)
  args.update(kw)
  return la.LuongSeq2Seq(**args)


def test_normalize_scores_by_hand():
  scores = jnp.array([[1.0, -2.0, 3.0, 0.5], [-40.0, -30.0, -50.0, 9.0]])
  valid = jnp.array([[True, True, True, False], [True, True, True, False]])
  w = la.normalize_scores(scores, valid, "sum")
  sp = np.log1p(np.exp(np.asarray(scores, np.float64)))  # softplus
  expected = np.where(np.asarray(valid), sp, 0.0)
  expected /= expected.sum(axis=1, keepdims=True)
  np.testing.assert_allclose(w, expected, rtol=1e-5)
  np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)  # also when every score is very negative
  assert float(w[:, 3].max()) == 0.0
  ws = la.normalize_scores(scores, valid, "softmax")
  np.testing.assert_allclose(ws[:, :3], jax.nn.softmax(scores[:, :3]), rtol=1e-6)
  assert float(ws[:, 3].max()) == 0.0
  with pytest.raises(UserError, match="normalization"):
    la.normalize_scores(scores, valid, "l2")


@pytest.mark.parametrize("kw", [
    dict(score="dot", normalization="sum"),
    dict(score="general", normalization="softmax", bidirectional=True, num_layers=2),
    dict(score="concat", normalization="sum", input_feeding=False),
])
def test_masking_normalization_and_step_fn_match_full_forward(kw):
  model = _model(**kw)
  src, tgt = _src(), _tgt()
  v = jax.jit(model.init)(_key(2), src, tgt)
  padded = jnp.concatenate([src, jnp.zeros((B, 4), jnp.int32)], axis=1)

  @jax.jit
  def run(v):
    logits, aux = model.apply(v, src, tgt, return_attention=True)
    cache = model.apply(v, src, T, method="init_cache")
    step = logits_step_fn(model, v)
    _, steps = jax.lax.scan(lambda c, tok: step(tok, c)[::-1], cache, tgt.T)
    return logits, aux["attention"], steps.swapaxes(0, 1), model.apply(v, padded, tgt), cache
  logits, weights, steps, logits_padded, cache = run(v)
  assert weights.shape == (B, T, S)
  assert float(weights[1, :, 4:].max()) == 0.0  # masked source positions get exactly zero weight
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
  np.testing.assert_allclose(steps, jax.nn.log_softmax(logits), atol=1e-5)
  np.testing.assert_allclose(logits_padded, logits, atol=1e-5)  # more pads change nothing
  assert all(leaf.shape[0] == B for leaf in jax.tree_util.tree_leaves(cache))


def test_general_score_with_identity_equals_dot():
  src, tgt = _src(), _tgt()
  dot = _model(score="dot")
  general = _model(score="general")
  v = jax.jit(dot.init)(_key(3), src, tgt)
  params = dict(v["params"], memory_key={"kernel": jnp.eye(12)})
  out_dot, out_general = jax.jit(lambda v, p: (dot.apply(v, src, tgt), general.apply({"params": p}, src, tgt)))(v, params)
  np.testing.assert_allclose(out_general, out_dot, atol=1e-6)


def test_beam_search_gathers_the_lstm_cache():
  decoding = pytest.importorskip("research.decoding")
  model = _model(score="general")
  src = _src()
  v = jax.jit(model.init)(_key(4), src, _tgt())
  step = logits_step_fn(model, v)
  cache = jax.jit(lambda v: model.apply(v, src, T, method="init_cache"))(v)
  seqs, scores = jax.jit(functools.partial(decoding.beam_search, step, batch_size=B, beam_size=3, max_len=T,
                                           bos_id=1, eos_id=2))(cache)
  assert seqs.shape == (B, 3, T)
  assert np.all(np.diff(np.asarray(scores), axis=1) <= 0)  # best first
  # The best beam's score is its summed log-probability under a fresh teacher-forced pass.
  rescored = decoding.score_sequences(step, cache, seqs, bos_id=1, eos_id=2)
  np.testing.assert_allclose(rescored, scores, atol=1e-4)


def test_dropout_and_config_errors():
  src, tgt = _src(), _tgt()
  model = _model(dropout_rate=0.3)
  v = jax.jit(model.init)(_key(5), src, tgt)
  train = jax.jit(lambda v, k: model.apply(v, src, tgt, train=True, rngs={"dropout": k}))
  np.testing.assert_array_equal(train(v, jax.random.key(0)), train(v, jax.random.key(0)))
  assert not np.allclose(train(v, jax.random.key(0)), train(v, jax.random.key(1)))
  for bad in (dict(score="additive"), dict(normalization="sparsemax"), dict(dropout_rate=1.0)):
    with pytest.raises(UserError):
      jax.eval_shape(_model(**bad).init, _key(0), src, tgt)


def test_bfloat16_compute_keeps_carry_and_cache_dtypes():
  src, tgt = _src(), _tgt()
  model = _model(dtype="bfloat16", bidirectional=True, num_layers=2)
  # Tracing alone catches a scan carry or cache whose dtype changes between steps.
  shapes = jax.eval_shape(model.init, _key(0), src, tgt)
  assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(shapes))
  assert jax.eval_shape(model.apply, shapes, src, tgt).dtype == jnp.float32
  cache = jax.eval_shape((lambda v: model.apply(v, src, T, method="init_cache")), shapes)
  _, new_cache = jax.eval_shape(lambda v, c: logits_step_fn(model, v)(tgt[:, 0], c), shapes, cache)
  assert jax.tree_util.tree_map(lambda a: a.dtype, new_cache) == jax.tree_util.tree_map(lambda a: a.dtype, cache)

