"""Transformer: attention from explicit Wq/Wk/Wv equals flax's, masks, incremental decoding, fast path, loss."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.decoding.decoder import logits_step_fn
from research.errors import UserError
from research.models import transformer as tr
from research.tasks.losses import cross_entropy

B, S, T, V = 2, 7, 6, 13


def _key(seed: int) -> jax.Array:
  # 'rbg' keys compile ~3× faster than threefry on CPU; initializing dozens of tiny params is mostly compile.
  return jax.random.key(seed, impl="rbg")


def _init(model, *args, **kw):
  return jax.jit(functools.partial(model.init, **kw))(_key(2), *args)


def _tokens(key, shape, low=1, high=V):
  return jax.random.randint(jax.random.key(key), shape, low, high, dtype=jnp.int32)


def _model(**kw) -> tr.Transformer:
  args = dict(src_vocab_size=V, tgt_vocab_size=V, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=2,
              d_ff=32, dropout_rate=0.0, max_positions=32)
  args.update(kw)
  return tr.Transformer(**args)


def _src():
  return _tokens(0, (B, S)).at[1, 4:].set(0)  # row 1 has 3 trailing pads


@pytest.fixture(scope="module")
def base():
  """(model, variables, src, tgt) of the default tiny Transformer, initialized once for the module."""
  model, src, tgt = _model(), _src(), _tokens(1, (B, T))
  return model, _init(model, src, tgt), src, tgt


# ----------------------------------------------------------------------------------------------
# Multi-head attention.


def test_mha_equals_flax_with_same_weights():
  ours = tr.MultiHeadAttention(num_heads=4, qkv_features=32, out_features=24)
  ref = nn.MultiHeadDotProductAttention(num_heads=4, qkv_features=32, out_features=24)
  xq = jax.random.normal(jax.random.key(1), (B, 5, 20))
  xkv = jax.random.normal(jax.random.key(2), (B, 9, 20))
  params = _init(ref, xq, xkv)
  mask = jnp.ones((B, 1, 5, 9), bool).at[1, :, :, 6:].set(False)
  causal = tr.causal_mask(5)

  @jax.jit
  def both(params):
    return (ours.apply(params, xq, xkv, mask), ref.apply(params, xq, xkv, mask=mask),  # the same param tree
            ours.apply(params, xq, None, causal), ref.apply(params, xq, mask=causal))  # causal self-attention
  got, expected, got_causal, expected_causal = both(params)
  assert got.shape == (B, 5, 24)
  np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(got_causal, expected_causal, atol=1e-5, rtol=1e-5)


def test_scale_is_one_over_sqrt_dk():
  assert tr.attention_scale(64) == 0.125
  assert tr.attention_scale(64, scale_attention=False) == 1.0
  x = jax.random.normal(jax.random.key(0), (1, 4, 64))
  for scaled, factor in ((True, 1 / 8), (False, 1.0)):
    mha = tr.MultiHeadAttention(num_heads=1, qkv_features=64, scale_attention=scaled)
    params = _init(mha, x)
    _, weights = mha.apply(params, x, return_weights=True)
    p = params["params"]
    q = x @ p["query"]["kernel"][:, 0] + p["query"]["bias"][0]
    k = x @ p["key"]["kernel"][:, 0] + p["key"]["bias"][0]
    expected = jax.nn.softmax(q @ k.swapaxes(-1, -2) * factor, axis=-1)
    np.testing.assert_allclose(weights[:, 0], expected, atol=1e-5)


def test_causal_mask_gradient_zero_for_future_inputs():
  cfg = tr.BlockConfig(d_model=8, num_heads=2, d_ff=16, dropout_rate=0.0)
  block = tr.EncoderBlock(cfg)
  x = jax.random.normal(jax.random.key(0), (1, T, 8))
  params = _init(block, x, tr.causal_mask(T))
  jac = jax.jit(jax.jacobian(lambda x: block.apply(params, x, tr.causal_mask(T))[0]))(x)  # [1, T, 8, 1, T, 8]
  influence = jnp.abs(jac[0, :, :, 0]).sum(axis=(1, 3))  # [t_out, t_in]
  future = np.triu(np.ones((T, T), bool), k=1)
  assert float(influence[future].max()) == 0.0
  assert float(influence[~future].min()) > 0.0


def test_decoder_output_independent_of_future_targets(base):
  model, v, src, tgt = base
  apply = jax.jit(model.apply)
  logits = apply(v, src, tgt)
  changed = tgt.at[:, 3:].set(_tokens(9, (B, T - 3)))
  logits2 = apply(v, src, changed)
  np.testing.assert_array_equal(logits[:, :3], logits2[:, :3])
  assert not np.allclose(logits[:, 3:], logits2[:, 3:])


def test_padding_changes_nothing(base):
  model, v, src, tgt = base
  mask = src != 0
  garbage = jnp.where(mask, src, _tokens(4, src.shape))
  padded = jnp.concatenate([src, jnp.zeros((B, 5), jnp.int32)], axis=1)

  @jax.jit
  def run(v):
    encode = functools.partial(model.apply, v, method=lambda m, s, mask: m.encoder(s, mask=mask))
    return (model.apply(v, src, tgt), model.apply(v, padded, tgt),  # more pad columns
            encode(src, mask), encode(garbage, mask))  # other content at masked positions (BERT passes masks)
  logits, logits_padded, out, out_garbage = run(v)
  np.testing.assert_allclose(logits_padded, logits, atol=1e-5)
  np.testing.assert_allclose(out_garbage[mask], out[mask], atol=1e-5)


@pytest.mark.parametrize("kw", [
    None,  # the default: pre-LN, sinusoidal positions, target embedding tied to the output layer
    dict(pre_norm=False, positions="learned", share_embeddings="none", num_decoder_layers=1),
    dict(pre_norm=True, positions="learned", share_embeddings="all", scale_attention=False, num_decoder_layers=1),
])
def test_incremental_decoding_equals_full_forward(kw, base):
  if kw is None:
    model, v, src, tgt = base
  else:
    model, src, tgt = _model(**kw), _src(), _tokens(1, (B, T))
    v = _init(model, src, tgt)

  @jax.jit
  def run(v):
    full = jax.nn.log_softmax(model.apply(v, src, tgt))
    cache = model.apply(v, src, T, method="init_cache")
    step = logits_step_fn(model, v)
    _, steps = jax.lax.scan(lambda c, tok: step(tok, c)[::-1], cache, tgt.T)  # teacher-forced, one token a step
    return full, steps.swapaxes(0, 1), cache
  full, steps, cache = run(v)
  assert all(leaf.shape[0] == B for leaf in jax.tree_util.tree_leaves(cache))
  np.testing.assert_allclose(steps, full, atol=1e-5)


def test_greedy_and_beam_search_through_step_fn(base):
  decoding = pytest.importorskip("research.decoding")
  model, v, src, _ = base
  step = logits_step_fn(model, v)
  cache = jax.jit(lambda v: model.apply(v, src, T, method="init_cache"))(v)
  seqs, _ = jax.jit(functools.partial(decoding.greedy_search, step, batch_size=B, max_len=T, bos_id=1,
                                      eos_id=2))(cache)
  # Greedy through the cache must equal argmax of repeated full forward passes (no cache involved). The
  # buffer has a fixed length; the causal mask makes the positions after t irrelevant to logits[:, t].
  apply = jax.jit(model.apply)
  buf = np.ones((B, T + 1), np.int32)
  for t in range(T):
    nxt = np.asarray(apply(v, src, jnp.asarray(buf[:, :T]))[:, t].argmax(-1))
    buf[:, t + 1] = np.where((buf[:, 1:t + 1] == 2).any(axis=1), 0, nxt)
  np.testing.assert_array_equal(seqs, buf[:, 1:])
  beam = jax.jit(functools.partial(decoding.beam_search, step, batch_size=B, beam_size=1, max_len=T, bos_id=1,
                                   eos_id=2))
  beams, _ = beam(cache)  # the cache (KV leaves and all) survives beam folding and gathering
  np.testing.assert_array_equal(beams[:, 0], seqs)


def _forward_and_step(ref, fast, v, src, tgt) -> dict[str, jax.Array]:
  """Both models' full forward logits and their logits at the second incremental decoding step, float32."""
  @jax.jit
  def run(v):
    out = {"ref": ref.apply(v, src, tgt), "fast": fast.apply(v, src, tgt)}
    for name, model in (("ref_step", ref), ("fast_step", fast)):  # the fused path in incremental decoding too
      cache = model.apply(v, src, T, method="init_cache")
      _, cache = logits_step_fn(model, v)(tgt[:, 0], cache)
      out[name], _ = logits_step_fn(model, v)(tgt[:, 1], cache)
    return {k: x.astype(jnp.float32) for k, x in out.items()}
  return run(v)


def test_fast_path_equals_reference(base):
  ref, v, src, tgt = base
  out = _forward_and_step(ref, _model(attention_impl="xla"), v, src, tgt)
  np.testing.assert_allclose(out["fast"], out["ref"], atol=1e-5)
  np.testing.assert_allclose(out["fast_step"], out["ref_step"], atol=1e-5)


def _cudnn_setup():
  """The bfloat16 cuDNN model and a float32 reference with the same (float32) parameters; S=7, T=6 are odd/even
  on purpose (cuDNN's backward pass with a mask needs even lengths; the model pads)."""
  src, tgt = _src(), _tokens(1, (B, T))
  ref32 = _model(d_model=128, num_heads=2)  # d_k = 64
  fast = _model(dtype=jnp.bfloat16, d_model=128, num_heads=2, attention_impl="cudnn")
  return ref32, fast, _init(ref32, src, tgt), src, tgt


@pytest.mark.skipif(jax.default_backend() != "gpu", reason="cuDNN attention needs a GPU")
def test_cudnn_forward_and_decode_step_match_float32_reference():
  ref32, fast, v, src, tgt = _cudnn_setup()
  assert "cudnn" in jax.jit(lambda v: fast.apply(v, src, tgt)).lower(v).compile().as_text().lower()
  out = _forward_and_step(ref32, fast, v, src, tgt)
  # bfloat16 compute: on CPU, the bfloat16 reference path is 0.018 from float32 here and a cuDNN-like emulation
  # (bfloat16 probabilities) 0.021.
  np.testing.assert_allclose(out["fast"], out["ref"], atol=5e-2)
  np.testing.assert_allclose(out["fast_step"], out["ref_step"], atol=5e-2)


@pytest.mark.skipif(jax.default_backend() != "gpu", reason="cuDNN attention needs a GPU")
def test_cudnn_gradient_matches_float32_reference():
  """The training step takes the cuDNN path: its gradient, as one vector, within 10% (relative L2) of the float32
  gradient. Per-leaf comparisons are ill-posed in bfloat16 (the key bias has an exactly-zero true gradient; the
  CPU emulation gives 0.062 for the whole vector, the bfloat16 reference path 0.017)."""
  ref32, fast, v, src, tgt = _cudnn_setup()

  def loss(model, params):
    logits = model.apply({"params": params}, src, tgt).astype(jnp.float32)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, tgt))

  def flat(tree):
    return jnp.concatenate([x.astype(jnp.float32).ravel() for x in jax.tree_util.tree_leaves(tree)])
  g_ref = flat(jax.jit(jax.grad(functools.partial(loss, ref32)))(v["params"]))
  g_fast = flat(jax.jit(jax.grad(functools.partial(loss, fast)))(v["params"]))
  assert bool(jnp.all(jnp.isfinite(g_fast)))
  assert float(jnp.linalg.norm(g_fast - g_ref) / jnp.linalg.norm(g_ref)) < 0.1


def test_attention_weights_for_heatmaps(base):
  model, v, src, tgt = base
  logits, w = jax.jit(functools.partial(model.apply, return_attention=True))(v, src, tgt)
  np.testing.assert_allclose(logits, jax.jit(model.apply)(v, src, tgt), atol=1e-6)
  assert [x.shape for x in w["encoder"]] == [(B, 2, S, S)]
  assert [x.shape for x in w["decoder_cross"]] == [(B, 2, T, S)] * 2
  for x in w["encoder"] + w["decoder_self"] + w["decoder_cross"]:
    np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-5)
  assert float(w["decoder_cross"][-1][1, :, :, 4:].max()) == 0.0  # source pads get no weight
  assert float(jnp.triu(w["decoder_self"][0][0, 0], k=1).max()) == 0.0


def test_encoder_for_bert_extra_embeddings_and_dropout():
  cfg = tr.BlockConfig(d_model=16, num_heads=2, d_ff=32, dropout_rate=0.1, pre_norm=False, activation="gelu",
                       layer_norm_eps=1e-12, init_std=0.02)
  enc = tr.TransformerEncoder(cfg, 1, V, positions="learned", scale_embeddings=False, embed_norm=True)
  src = _src()
  segments = jax.random.normal(jax.random.key(5), (B, S, 16))
  v = _init(enc, src, extra_embeddings=segments)
  assert "embed_layer_norm" in v["params"] and "final_norm" not in v["params"]

  @jax.jit
  def run(v):
    rngs = {"dropout": jax.random.key(0)}
    return (enc.apply(v, src, extra_embeddings=segments), enc.apply(v, src),
            enc.apply(v, src, extra_embeddings=segments, train=True, rngs=rngs),
            enc.apply(v, src, extra_embeddings=segments, train=True, rngs=rngs))
  a, b, d1, d2 = run(v)
  assert a.shape == (B, S, 16) and not np.allclose(a, b)
  np.testing.assert_array_equal(d1, d2)  # dropout is a function of the key
  assert not np.allclose(d1, a)


def test_bfloat16_compute_float32_params(base):
  model32, v, src, tgt = base
  model16 = _model(dtype="bfloat16")
  shapes = jax.eval_shape(model16.init, _key(0), src, tgt)
  assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(shapes))
  cache = jax.eval_shape((lambda v: model16.apply(v, src, T, method="init_cache")), shapes)
  _, new_cache = jax.eval_shape(lambda v, c: logits_step_fn(model16, v)(tgt[:, 0], c), shapes, cache)
  dtypes = jax.tree_util.tree_map(lambda a: a.dtype, cache)
  assert dtypes["layer_0"]["self_k"] == jnp.bfloat16  # the KV cache is kept in the compute dtype
  assert jax.tree_util.tree_map(lambda a: a.dtype, new_cache) == dtypes  # a while_loop carry must keep dtypes
  out = jax.jit(model16.apply)(v, src, tgt)
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(out, jax.jit(model32.apply)(v, src, tgt), atol=0.1)


def test_config_errors_are_user_errors():
  src, tgt = _src(), _tokens(1, (B, T))
  with pytest.raises(UserError, match="share_embeddings"):
    _model(tgt_vocab_size=V + 1, share_embeddings="all").init(jax.random.key(0), src, tgt)
  with pytest.raises(UserError, match="max_positions"):
    _model(max_positions=4).init(jax.random.key(0), src, tgt)
  with pytest.raises(UserError, match="attention_impl"):
    _model(attention_impl="flash").init(jax.random.key(0), src, tgt)


# ----------------------------------------------------------------------------------------------
# Loss and schedule.


def test_label_smoothed_loss_matches_optax_and_ignores_pads():
  """The Transformer trains with research/losses.cross_entropy: the smoothed target of Vaswani et al. §5.4."""
  logits = jax.random.normal(jax.random.key(0), (B, T, V))
  targets = _tokens(1, (B, T)).at[1, 4:].set(0)
  real = np.asarray(targets != 0)
  for eps in (0.0, 0.1):
    total, count = cross_entropy(logits, targets, targets != 0, eps)
    soft = optax.smooth_labels(jax.nn.one_hot(targets, V), eps)
    expected = optax.softmax_cross_entropy(logits, soft)[real].sum()
    assert float(count) == real.sum()
    np.testing.assert_allclose(total, expected, rtol=1e-5)
  # Extra pad positions add nothing.
  padded_logits = jnp.concatenate([logits, jax.random.normal(jax.random.key(2), (B, 3, V))], axis=1)
  padded_targets = jnp.concatenate([targets, jnp.zeros((B, 3), jnp.int32)], axis=1)
  np.testing.assert_allclose(cross_entropy(padded_logits, padded_targets, padded_targets != 0, 0.1),
                             cross_entropy(logits, targets, targets != 0, 0.1), rtol=1e-6)


def test_warmup_rsqrt_schedule_is_the_papers():
  """research/train/optim.py's 'warmup_rsqrt' with peak learning_rate = (d · w)^-0.5 is the paper's
  d^-0.5 · min(s^-0.5, s · w^-1.5) at every step s ≥ 1 (step 0 gets step 1's rate)."""
  from ml_collections import ConfigDict

  from research.train.optim import warmup_rsqrt
  d, w = 512, 4000
  schedule = warmup_rsqrt(ConfigDict(dict(learning_rate=(d * w) ** -0.5, warmup_steps=w)), 10 * w)
  s = np.arange(1, 3 * w, 7, dtype=np.float64)
  paper = d ** -0.5 * np.minimum(s ** -0.5, s * w ** -1.5)
  np.testing.assert_allclose(jax.vmap(schedule)(jnp.asarray(s, jnp.int32)), paper, rtol=1e-5)
  assert float(schedule(0)) == pytest.approx(float(schedule(1)))
  np.testing.assert_allclose(schedule(w), (d * w) ** -0.5, rtol=1e-6)
