"""The Transformer encoder–decoder (Vaswani et al. 2017), with self-attention written from explicit Wq, Wk, Wv.

Notes §5.3: q, k, v = x·Wq, x·Wk, x·Wv; the score of word j for word i is q_i·k_j, divided by sqrt(d_k)
(d_k = 64 → 1/8); softmax over j; z_i = Σ_j softmax_ij · v_j. `MultiHeadAttention` does exactly that per head
and stores its weights under the same names and shapes as flax's `MultiHeadDotProductAttention`
(query/key/value kernels [D, H, d_k], out kernel [H, d_k, D]), so the two can be compared on one param tree.

Pieces, from small to large:
  MultiHeadAttention  — reference einsum path (returns weights for heatmaps) or the fused
                        `jax.nn.dot_product_attention` path (`attention_impl='xla'|'cudnn'`).
  EncoderBlock / DecoderBlock — pre- or post-LayerNorm residual blocks; `BlockConfig` holds their settings.
  TransformerEncoder  — token ids (+ optional extra embeddings, e.g. BERT's segments) → hidden states; reused by BERT.
  TransformerDecoder  — full teacher-forced pass and one-token incremental steps over a key/value cache.
  Transformer         — registered as 'transformer'; `model.apply(v, src, tgt_in, train)` → logits float32[B, T, V].

Decoding follows the framework's one contract, `step_fn(tokens: int32[B], cache) -> (log_probs float32[B, V], cache)`:
the model's `init_cache(src, max_len)` and `decode_step(tokens, cache)` methods are turned into it by
research/decoding/decoder.py (`method_step_fns`, as for the Luong model of research/models/attention.py). Every cache leaf has the batch as its leading axis, so beam search can gather it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research import registry
from research.errors import UserError

Array = jax.Array
Cache = dict[str, Any]

ATTENTION_IMPLS = ("reference", "xla", "cudnn")
POSITIONS = ("sinusoidal", "learned", "none")
SHARE_EMBEDDINGS = ("none", "target", "all")
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": nn.relu,
    "gelu": lambda x: nn.gelu(x, approximate=False),  # BERT's erf GELU
    "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
    "silu": nn.silu,
}


# ----------------------------------------------------------------------------------------------
# Masks, positions, scale.


def attention_scale(head_dim: int, scale_attention: bool = True) -> float:
  """The factor applied to q·k: 1/sqrt(d_k) (d_k = 64 → exactly 0.125), or 1 for the no-scale ablation."""
  return 1.0 / math.sqrt(head_dim) if scale_attention else 1.0


def causal_mask(length: int) -> Array:
  """bool[1, 1, T, T]: query t may attend to keys 0..t."""
  return jnp.tril(jnp.ones((length, length), dtype=bool))[None, None]


def key_padding_mask(valid: Array) -> Array:
  """valid: bool[B, S] (True for real tokens) → bool[B, 1, 1, S].

  Only keys are masked: a pad query still sees the real keys (its output is ignored by the masked loss), so
  no softmax row is ever empty.
  """
  return valid[:, None, None, :]


def combine_masks(*masks: Array | None) -> Array | None:
  """Logical AND of the masks that are not None (broadcast), or None."""
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  out = masks[0]
  for m in masks[1:]:
    out = jnp.logical_and(out, m)
  return out


def sinusoidal_positions(length: int, d_model: int, max_timescale: float = 1e4) -> np.ndarray:
  """float32[length, d_model]: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d))."""
  if d_model % 2:
    raise UserError(f"sinusoidal positions need an even d_model, got {d_model}; use an even model width")
  pos = np.arange(length, dtype=np.float64)[:, None]
  inv_freq = max_timescale ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)
  table = np.zeros((length, d_model), dtype=np.float64)
  table[:, 0::2] = np.sin(pos * inv_freq)
  table[:, 1::2] = np.cos(pos * inv_freq)
  return table.astype(np.float32)


def _kernel_init(std: float | None, in_axis: int | tuple[int, ...], out_axis: int | tuple[int, ...]):
  """N(0, std²) when std is given (BERT: 0.02), else fan-in scaling over the right axes of a multi-axis kernel."""
  if std is not None:
    return nn.initializers.normal(std)
  return nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", in_axis=in_axis, out_axis=out_axis)


# ----------------------------------------------------------------------------------------------
# Multi-head attention from explicit projections.


class HeadProjection(nn.Module):
  """x: [..., D] → x·W + b: [..., H, d_k], with W: [D, H, d_k] (one Wq/Wk/Wv for all heads)."""

  num_heads: int
  head_dim: int
  use_bias: bool = True
  init_std: float | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    w = self.param("kernel", _kernel_init(self.init_std, 0, (1, 2)),
                   (x.shape[-1], self.num_heads, self.head_dim), self.param_dtype)
    y = jnp.einsum("...d,dhk->...hk", x.astype(self.dtype), w.astype(self.dtype))
    if self.use_bias:
      b = self.param("bias", nn.initializers.zeros, (self.num_heads, self.head_dim), self.param_dtype)
      y = y + b.astype(self.dtype)
    return y


class HeadMerge(nn.Module):
  """z: [..., H, d_k] → Σ_h z_h·Wo_h + b: [..., features], with Wo: [H, d_k, features]."""

  features: int
  use_bias: bool = True
  init_std: float | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array) -> Array:
    w = self.param("kernel", _kernel_init(self.init_std, (0, 1), 2),
                   (z.shape[-2], z.shape[-1], self.features), self.param_dtype)
    y = jnp.einsum("...hk,hkf->...f", z.astype(self.dtype), w.astype(self.dtype))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype).astype(self.dtype)
    return y


class MultiHeadAttention(nn.Module):
  """Scaled dot-product attention over `num_heads` heads of size d_k = qkv_features / num_heads.

  Call: `(inputs_q: [B, T, Dq], inputs_kv: [B, S, Dkv] | None (self-attention), mask: bool broadcastable to
  [B, H, T, S] | None)` → `[B, T, out_features]`, plus weights float32[B, H, T, S] when `return_weights`.

  The pieces (`project_q`, `project_kv`, `attend`, `merge`) are public so the decoder's incremental step can
  project one new token and attend over cached keys/values with the same parameters.

  `attention_impl`: 'reference' computes softmax(q·kᵀ·scale) explicitly in float32 (weights available, attention
  dropout possible); 'xla'/'cudnn' call `jax.nn.dot_product_attention` with that implementation (cuDNN flash
  attention needs a GPU and bfloat16/float16). The fused path cannot return weights, so a call with
  `return_weights=True` always takes the reference path.
  """

  num_heads: int
  qkv_features: int
  out_features: int | None = None  # default: qkv_features
  use_bias: bool = True
  scale_attention: bool = True  # False: the no-1/sqrt(d_k) ablation
  attention_impl: str = "reference"
  dropout_rate: float = 0.0  # on the attention weights (reference path only)
  init_std: float | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.attention_impl not in ATTENTION_IMPLS:
      raise UserError(f"attention_impl={self.attention_impl!r} is unknown; use one of {', '.join(ATTENTION_IMPLS)}")
    if self.attention_impl != "reference" and self.dropout_rate > 0:
      raise UserError(f"attention dropout ({self.dropout_rate}) needs attention_impl='reference'; "
                      "set attention_dropout_rate=0 to use the fused path")
    if self.qkv_features % self.num_heads:
      raise UserError(f"qkv_features={self.qkv_features} is not divisible by num_heads={self.num_heads}")
    self.head_dim = self.qkv_features // self.num_heads
    proj = dict(num_heads=self.num_heads, head_dim=self.head_dim, use_bias=self.use_bias, init_std=self.init_std,
                dtype=self.dtype, param_dtype=self.param_dtype)
    self.query = HeadProjection(**proj)
    self.key = HeadProjection(**proj)
    self.value = HeadProjection(**proj)
    self.out = HeadMerge(self.out_features or self.qkv_features, use_bias=self.use_bias, init_std=self.init_std,
                         dtype=self.dtype, param_dtype=self.param_dtype)
    self.weight_dropout = nn.Dropout(self.dropout_rate)

  def project_q(self, x: Array) -> Array:
    """[B, T, D] → q: [B, T, H, d_k]."""
    return self.query(x)

  def project_kv(self, x: Array) -> tuple[Array, Array]:
    """[B, S, D] → (k, v): [B, S, H, d_k] each."""
    return self.key(x), self.value(x)

  def merge(self, z: Array) -> Array:
    """[B, T, H, d_k] → [B, T, out_features] (the Wo projection)."""
    return self.out(z)

  def attend(self, q: Array, k: Array, v: Array, mask: Array | None, *, deterministic: bool = True,
             return_weights: bool = False) -> tuple[Array, Array | None]:
    """q: [B, T, H, d_k], k, v: [B, S, H, d_k], mask: bool broadcastable to [B, H, T, S] (True = may attend).

    Returns (z: [B, T, H, d_k], weights float32[B, H, T, S] or None).
    """
    scale = attention_scale(self.head_dim, self.scale_attention)
    if self.attention_impl != "reference" and not return_weights:
      t, s = q.shape[1], k.shape[1]
      if mask is not None:
        # The fused kernels want a 4-D mask; cuDNN folds it into a full [B, 1, T, S] bias.
        mask = jnp.broadcast_to(mask, (q.shape[0], mask.shape[1], t, s))
        if self.attention_impl == "cudnn" and (t % 2 or s % 2):
          # cuDNN's fused backward pass with a bias needs even query and key lengths (measured on an H100 with
          # jax 0.11: "Unsupported sequence length Q 7, KV 7"). Pad by one: the extra key is masked out, the extra
          # query row attends to the real keys (a fully masked row would give NaN) and is sliced off below.
          pt, ps = t % 2, s % 2
          q = jnp.pad(q, ((0, 0), (0, pt), (0, 0), (0, 0)))
          k, v = (jnp.pad(x, ((0, 0), (0, ps), (0, 0), (0, 0))) for x in (k, v))
          mask = jnp.pad(mask, ((0, 0), (0, 0), (0, pt), (0, 0)), mode="edge")
          mask = jnp.pad(mask, ((0, 0), (0, 0), (0, 0), (0, ps)), constant_values=False)
      z = jax.nn.dot_product_attention(q, k, v, mask=mask, scale=scale, implementation=self.attention_impl)
      return z[:, :t], None
    # Scores and softmax in float32 whatever the compute dtype: bfloat16 logits lose the small differences
    # that decide the weights.
    logits = jnp.einsum("bthd,bshd->bhts", q, k, preferred_element_type=jnp.float32) * scale
    if mask is not None:
      logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1)
    dropped = self.weight_dropout(weights, deterministic=deterministic)
    z = jnp.einsum("bhts,bshd->bthd", dropped.astype(self.dtype), v.astype(self.dtype))
    return z, (weights if return_weights else None)

  def __call__(self, inputs_q: Array, inputs_kv: Array | None = None, mask: Array | None = None, *,
               deterministic: bool = True, return_weights: bool = False) -> Array | tuple[Array, Array]:
    inputs_kv = inputs_q if inputs_kv is None else inputs_kv
    q = self.project_q(inputs_q)
    k, v = self.project_kv(inputs_kv)
    z, weights = self.attend(q, k, v, mask, deterministic=deterministic, return_weights=return_weights)
    out = self.merge(z)
    return (out, weights) if return_weights else out


# ----------------------------------------------------------------------------------------------
# Blocks.


@dataclasses.dataclass(frozen=True)
class BlockConfig:
  """Settings shared by every encoder/decoder block (hashable, so it can be a flax module field)."""

  d_model: int = 512  # width of the residual stream
  num_heads: int = 8  # d_k = d_model / num_heads
  d_ff: int = 2048  # hidden width of the position-wise feed-forward layer
  dropout_rate: float = 0.1  # on each sublayer output before the residual add, and on the embeddings
  attention_dropout_rate: float = 0.0  # on attention weights (reference path only)
  pre_norm: bool = True  # True: x + f(LN(x)) (+ a final LN); False: LN(x + f(x)) as in the paper and BERT
  activation: str = "relu"  # relu | gelu (erf, BERT) | gelu_tanh | silu
  use_bias: bool = True  # biases in the attention projections and the feed-forward layers
  layer_norm_eps: float = 1e-6  # BERT uses 1e-12
  scale_attention: bool = True  # divide q·k by sqrt(d_k)
  attention_impl: str = "reference"  # reference | xla | cudnn
  init_std: float | None = None  # N(0, std²) kernels (BERT: 0.02); None: fan-in scaling
  dtype: Any = jnp.float32  # compute dtype (bfloat16 for speed; softmax and logits stay float32)
  param_dtype: Any = jnp.float32

  def validate(self) -> None:
    if self.activation not in ACTIVATIONS:
      raise UserError(f"activation={self.activation!r} is unknown; use one of {', '.join(ACTIVATIONS)}")
    if self.d_model % self.num_heads:
      raise UserError(f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}")
    for name in ("dropout_rate", "attention_dropout_rate"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise UserError(f"{name}={getattr(self, name)} must be in [0, 1)")


def _attention(cfg: BlockConfig) -> MultiHeadAttention:
  return MultiHeadAttention(
      num_heads=cfg.num_heads, qkv_features=cfg.d_model, out_features=cfg.d_model, use_bias=cfg.use_bias,
      scale_attention=cfg.scale_attention, attention_impl=cfg.attention_impl, dropout_rate=cfg.attention_dropout_rate,
      init_std=cfg.init_std, dtype=cfg.dtype, param_dtype=cfg.param_dtype)


def _layer_norm(cfg: BlockConfig) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=cfg.dtype, param_dtype=cfg.param_dtype)


class FeedForward(nn.Module):
  """[..., D] → Dense(d_ff) → activation → Dense(D), applied at every position independently."""

  config: BlockConfig

  @nn.compact
  def __call__(self, x: Array) -> Array:
    cfg = self.config
    init = nn.initializers.normal(cfg.init_std) if cfg.init_std is not None else nn.initializers.lecun_normal()
    dense = dict(use_bias=cfg.use_bias, kernel_init=init, dtype=cfg.dtype, param_dtype=cfg.param_dtype)
    h = ACTIVATIONS[cfg.activation](nn.Dense(cfg.d_ff, name="dense_in", **dense)(x))
    return nn.Dense(cfg.d_model, name="dense_out", **dense)(h)


class EncoderBlock(nn.Module):
  """Self-attention + feed-forward, each wrapped in a residual with pre- or post-LayerNorm.

  `(x: [B, S, D], mask: bool[B|1, 1, S|1, S] | None)` → (x: [B, S, D], weights float32[B, H, S, S] | None).
  """

  config: BlockConfig

  def setup(self):
    self.self_attention = _attention(self.config)
    self.attention_norm = _layer_norm(self.config)
    self.ffn = FeedForward(self.config)
    self.ffn_norm = _layer_norm(self.config)
    self.dropout = nn.Dropout(self.config.dropout_rate)

  def __call__(self, x: Array, mask: Array | None, *, train: bool = False,
               return_weights: bool = False) -> tuple[Array, Array | None]:
    pre = self.config.pre_norm
    h = self.attention_norm(x) if pre else x
    out = self.self_attention(h, mask=mask, deterministic=not train, return_weights=return_weights)
    y, weights = out if return_weights else (out, None)
    x = _residual(x, self.dropout(y, deterministic=not train), self.attention_norm, pre)
    h = self.ffn_norm(x) if pre else x
    x = _residual(x, self.dropout(self.ffn(h), deterministic=not train), self.ffn_norm, pre)
    return x, weights


def _residual(x: Array, y: Array, norm: nn.Module, pre_norm: bool) -> Array:
  # Pre-LN normalizes the sublayer input (done by the caller); post-LN normalizes after the add.
  return x + y if pre_norm else norm(x + y)


class DecoderBlock(nn.Module):
  """Causal self-attention, cross-attention over the encoder output, feed-forward.

  Full pass: `(x: [B, T, D], memory: [B, S, D], self_mask, cross_mask)` → (x, {'self': w, 'cross': w} | None).
  Incremental: `decode_step(x: [B, 1, D], layer_cache, src_mask: bool[B, S], index: int32[B])` writes the new
  token's key/value at `index` and attends over cache positions ≤ index; cross-attention keys/values of the
  encoder output are computed once by `cross_kv`.
  """

  config: BlockConfig

  def setup(self):
    self.self_attention = _attention(self.config)
    self.self_norm = _layer_norm(self.config)
    self.cross_attention = _attention(self.config)
    self.cross_norm = _layer_norm(self.config)
    self.ffn = FeedForward(self.config)
    self.ffn_norm = _layer_norm(self.config)
    self.dropout = nn.Dropout(self.config.dropout_rate)

  def _self_sublayer(self, x, attend, train):
    pre = self.config.pre_norm
    h = self.self_norm(x) if pre else x
    y, w = attend(h)
    return _residual(x, self.dropout(y, deterministic=not train), self.self_norm, pre), w

  def _cross_sublayer(self, x, attend, train):
    pre = self.config.pre_norm
    h = self.cross_norm(x) if pre else x
    y, w = attend(h)
    return _residual(x, self.dropout(y, deterministic=not train), self.cross_norm, pre), w

  def _ffn_sublayer(self, x, train):
    pre = self.config.pre_norm
    h = self.ffn_norm(x) if pre else x
    return _residual(x, self.dropout(self.ffn(h), deterministic=not train), self.ffn_norm, pre)

  def __call__(self, x: Array, memory: Array, self_mask: Array | None, cross_mask: Array | None, *,
               train: bool = False, return_weights: bool = False) -> tuple[Array, dict[str, Array] | None]:
    def self_attend(h):
      q = self.self_attention.project_q(h)
      k, v = self.self_attention.project_kv(h)
      z, w = self.self_attention.attend(q, k, v, self_mask, deterministic=not train, return_weights=return_weights)
      return self.self_attention.merge(z), w

    def cross_attend(h):
      q = self.cross_attention.project_q(h)
      k, v = self.cross_attention.project_kv(memory)
      z, w = self.cross_attention.attend(q, k, v, cross_mask, deterministic=not train,
                                         return_weights=return_weights)
      return self.cross_attention.merge(z), w

    x, w_self = self._self_sublayer(x, self_attend, train)
    x, w_cross = self._cross_sublayer(x, cross_attend, train)
    x = self._ffn_sublayer(x, train)
    return x, ({"self": w_self, "cross": w_cross} if return_weights else None)

  def cross_kv(self, memory: Array) -> tuple[Array, Array]:
    """memory: [B, S, D] → cross-attention (k, v): [B, S, H, d_k] each (computed once per source)."""
    return self.cross_attention.project_kv(memory)

  def decode_step(self, x: Array, layer_cache: Cache, src_mask: Array, index: Array) -> tuple[Array, Cache]:
    """x: [B, 1, D]; layer_cache: {'self_k', 'self_v': [B, L, H, d_k], 'cross_k', 'cross_v': [B, S, H, d_k]}."""
    batch = jnp.arange(x.shape[0])
    new_cache = dict(layer_cache)

    def self_attend(h):
      q = self.self_attention.project_q(h)
      k, v = self.self_attention.project_kv(h)
      new_cache["self_k"] = layer_cache["self_k"].at[batch, index].set(k[:, 0].astype(layer_cache["self_k"].dtype))
      new_cache["self_v"] = layer_cache["self_v"].at[batch, index].set(v[:, 0].astype(layer_cache["self_v"].dtype))
      length = layer_cache["self_k"].shape[1]
      # Causality comes from the cache: positions after `index` hold zeros and are masked out.
      mask = (jnp.arange(length)[None, :] <= index[:, None])[:, None, None, :]
      z, _ = self.self_attention.attend(q, new_cache["self_k"], new_cache["self_v"], mask)
      return self.self_attention.merge(z), None

    def cross_attend(h):
      q = self.cross_attention.project_q(h)
      z, _ = self.cross_attention.attend(q, layer_cache["cross_k"], layer_cache["cross_v"],
                                         key_padding_mask(src_mask))
      return self.cross_attention.merge(z), None

    x, _ = self._self_sublayer(x, self_attend, False)
    x, _ = self._cross_sublayer(x, cross_attend, False)
    x = self._ffn_sublayer(x, False)
    return x, new_cache


# ----------------------------------------------------------------------------------------------
# Embeddings, encoder, decoder.


class Embedder(nn.Module):
  """Token embedding (optionally × sqrt(d_model)) + positions. Also the tied output layer (`attend`).

  `__call__(tokens: int32[B, T], positions: int32[B, T])` → float[B, T, D] (in `config.dtype`).
  """

  vocab_size: int
  config: BlockConfig
  positions: str = "sinusoidal"
  max_positions: int = 512
  scale_embeddings: bool = True  # × sqrt(d_model), the paper's choice with N(0, 1/d_model) embeddings
  shared: nn.Module | None = None  # an nn.Embed owned by a parent, to share one table

  def setup(self):
    cfg = self.config
    if self.positions not in POSITIONS:
      raise UserError(f"positions={self.positions!r} is unknown; use one of {', '.join(POSITIONS)}")
    std = cfg.init_std if cfg.init_std is not None else cfg.d_model ** -0.5
    if self.shared is None:
      self.token_embed = make_embedding(self.vocab_size, cfg)
    if self.positions == "learned":
      self.position_embed = nn.Embed(self.max_positions, cfg.d_model, embedding_init=nn.initializers.normal(std),
                                     dtype=cfg.dtype, param_dtype=cfg.param_dtype)

  def _table(self) -> nn.Embed:
    return self.shared if self.shared is not None else self.token_embed

  def position_table(self) -> Array | None:
    if self.positions == "sinusoidal":
      return jnp.asarray(sinusoidal_positions(self.max_positions, self.config.d_model))
    return None

  def __call__(self, tokens: Array, positions: Array) -> Array:
    cfg = self.config
    x = self._table()(tokens).astype(cfg.dtype)
    if self.scale_embeddings:
      x = x * jnp.asarray(math.sqrt(cfg.d_model), cfg.dtype)
    if self.positions == "sinusoidal":
      x = x + jnp.take(self.position_table(), positions, axis=0).astype(cfg.dtype)
    elif self.positions == "learned":
      x = x + self.position_embed(positions).astype(cfg.dtype)
    return x

  def attend(self, x: Array) -> Array:
    """x: [..., D] → logits float32[..., V] with the transposed embedding table (tied output layer)."""
    return self._table().attend(x.astype(self.config.dtype)).astype(jnp.float32)


def make_embedding(vocab_size: int, cfg: BlockConfig, name: str | None = None) -> nn.Embed:
  """nn.Embed with N(0, 1/d_model) rows (or N(0, init_std²)), the scale that makes the tied output layer sane."""
  std = cfg.init_std if cfg.init_std is not None else cfg.d_model ** -0.5
  return nn.Embed(vocab_size, cfg.d_model, embedding_init=nn.initializers.normal(std), dtype=cfg.dtype,
                  param_dtype=cfg.param_dtype, name=name)


def _check_length(length: int, max_positions: int, positions: str, what: str) -> None:
  if positions != "none" and length > max_positions:
    raise UserError(f"{what} length {length} exceeds max_positions={max_positions}; raise config.model.max_positions "
                    "or truncate the data")


class TransformerEncoder(nn.Module):
  """Token ids → hidden states. Reused by BERT (post-LN, learned positions, GELU, embedding LayerNorm).

  `__call__(tokens: int32[B, S], *, mask: bool[B, S] | None = None (default tokens != pad_id),
  extra_embeddings: float[B, S, D] | None (added to token + position embeddings, e.g. BERT's segments),
  train: bool, return_attention: bool)` → hidden [B, S, D] (in `config.dtype`), and when `return_attention`
  also a list of per-layer weights float32[B, H, S, S].

  Params: `embedder` (token_embed/position_embed), `embed_norm` (if `embed_norm`), `layer_{i}`, `final_norm`
  (pre-LN only).
  """

  config: BlockConfig
  num_layers: int
  vocab_size: int
  positions: str = "sinusoidal"
  max_positions: int = 512
  scale_embeddings: bool = True
  embed_norm: bool = False  # LayerNorm after summing embeddings (BERT)
  pad_id: int = 0
  shared_embedding: nn.Module | None = None

  def setup(self):
    self.config.validate()
    self.embedder = Embedder(self.vocab_size, self.config, self.positions, self.max_positions, self.scale_embeddings,
                             shared=self.shared_embedding)
    if self.embed_norm:
      self.embed_layer_norm = _layer_norm(self.config)
    self.dropout = nn.Dropout(self.config.dropout_rate)
    self.layers = [EncoderBlock(self.config, name=f"layer_{i}") for i in range(self.num_layers)]
    if self.config.pre_norm:
      self.final_norm = _layer_norm(self.config)

  def __call__(self, tokens: Array, *, mask: Array | None = None, extra_embeddings: Array | None = None,
               train: bool = False, return_attention: bool = False) -> Array | tuple[Array, list[Array]]:
    _check_length(tokens.shape[1], self.max_positions, self.positions, "source")
    valid = tokens != self.pad_id if mask is None else mask.astype(bool)
    positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    x = self.embedder(tokens, positions)
    if extra_embeddings is not None:
      x = x + extra_embeddings.astype(x.dtype)
    if self.embed_norm:
      x = self.embed_layer_norm(x)
    x = self.dropout(x, deterministic=not train)
    attn_mask = key_padding_mask(valid)
    weights = []
    for layer in self.layers:
      x, w = layer(x, attn_mask, train=train, return_weights=return_attention)
      weights.append(w)
    if self.config.pre_norm:
      x = self.final_norm(x)
    return (x, weights) if return_attention else x


class TransformerDecoder(nn.Module):
  """Target prefix + encoder output → next-token logits float32, full-sequence or one token at a time.

  Params: `embedder`, `layer_{i}`, `final_norm` (pre-LN), `logits` (untied output layer only).
  """

  config: BlockConfig
  num_layers: int
  vocab_size: int
  positions: str = "sinusoidal"
  max_positions: int = 512
  scale_embeddings: bool = True
  tie_output: bool = True  # logits = x · Eᵀ with the target embedding table
  shared_embedding: nn.Module | None = None

  def setup(self):
    self.config.validate()
    self.embedder = Embedder(self.vocab_size, self.config, self.positions, self.max_positions, self.scale_embeddings,
                             shared=self.shared_embedding)
    self.dropout = nn.Dropout(self.config.dropout_rate)
    self.layers = [DecoderBlock(self.config, name=f"layer_{i}") for i in range(self.num_layers)]
    if self.config.pre_norm:
      self.final_norm = _layer_norm(self.config)
    if not self.tie_output:
      self.logits_layer = nn.Dense(self.vocab_size, dtype=self.config.dtype, param_dtype=self.config.param_dtype,
                                   name="logits")

  def _logits(self, x: Array) -> Array:
    if self.config.pre_norm:
      x = self.final_norm(x)
    if self.tie_output:
      return self.embedder.attend(x)
    return self.logits_layer(x).astype(jnp.float32)

  def __call__(self, tgt_in: Array, memory: Array, src_valid: Array, *, train: bool = False,
               return_attention: bool = False) -> Array | tuple[Array, list[dict[str, Array]]]:
    """tgt_in: int32[B, T] (starts with BOS), memory: [B, S, D], src_valid: bool[B, S] → logits float32[B, T, V]."""
    _check_length(tgt_in.shape[1], self.max_positions, self.positions, "target")
    positions = jnp.broadcast_to(jnp.arange(tgt_in.shape[1]), tgt_in.shape)
    x = self.dropout(self.embedder(tgt_in, positions), deterministic=not train)
    # Target pads sit after EOS, so the causal mask already keeps every real position from seeing them.
    self_mask = causal_mask(tgt_in.shape[1])
    cross_mask = key_padding_mask(src_valid)
    weights = []
    for layer in self.layers:
      x, w = layer(x, memory, self_mask, cross_mask, train=train, return_weights=return_attention)
      weights.append(w)
    logits = self._logits(x)
    return (logits, weights) if return_attention else logits

  def init_cache(self, memory: Array, src_valid: Array, max_len: int) -> Cache:
    """An empty cache for `max_len` decoding steps; every leaf has the batch as its leading axis.

    {'index': int32[B] (next position), 'src_mask': bool[B, S],
     'layer_{i}': {'self_k', 'self_v': [B, max_len, H, d_k] zeros, 'cross_k', 'cross_v': [B, S, H, d_k]}}
    """
    _check_length(max_len, self.max_positions, self.positions, "decoding")
    cfg = self.config
    batch = memory.shape[0]
    head_dim = cfg.d_model // cfg.num_heads
    cache: Cache = {"index": jnp.zeros((batch,), jnp.int32), "src_mask": src_valid.astype(bool)}
    for i, layer in enumerate(self.layers):
      k, v = layer.cross_kv(memory)
      zeros = jnp.zeros((batch, max_len, cfg.num_heads, head_dim), cfg.dtype)
      cache[f"layer_{i}"] = {"self_k": zeros, "self_v": zeros, "cross_k": k, "cross_v": v}
    return cache

  def decode_step(self, tokens: Array, cache: Cache) -> tuple[Array, Cache]:
    """tokens: int32[B] (the previous output, BOS first) → (logits float32[B, V], cache advanced by one)."""
    index = cache["index"]
    x = self.embedder(tokens[:, None], index[:, None])
    new_cache: Cache = {"index": index + 1, "src_mask": cache["src_mask"]}
    for i, layer in enumerate(self.layers):
      x, new_cache[f"layer_{i}"] = layer.decode_step(x, cache[f"layer_{i}"], cache["src_mask"], index)
    return self._logits(x)[:, 0], new_cache


# ----------------------------------------------------------------------------------------------
# The registered model.


@registry.models.register("transformer")
class Transformer(nn.Module):
  """Encoder–decoder Transformer for translation.

  `model.apply(variables, src: int32[B, S], tgt_in: int32[B, T], train, rngs={'dropout': key})`
  → logits float32[B, T, tgt_vocab_size]; with `return_attention=True` → (logits, {'encoder': [w[B, H, S, S]] per
  layer, 'decoder_self': [w[B, H, T, T]], 'decoder_cross': [w[B, H, T, S]]}). Source pads (`pad_id`) are masked.

  Decoding methods: `init_cache(src, max_len)` and `decode_step(tokens, cache)` (research/decoding/decoder.py `method_step_fns`).
  """

  src_vocab_size: int
  tgt_vocab_size: int
  d_model: int = 512
  num_heads: int = 8
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  d_ff: int = 2048
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  pre_norm: bool = True  # pre-LN trains without careful warmup; False gives the paper's post-LN
  activation: str = "relu"
  use_bias: bool = True
  layer_norm_eps: float = 1e-6
  scale_attention: bool = True  # False: the ablation without 1/sqrt(d_k)
  attention_impl: str = "reference"  # reference | xla | cudnn
  positions: str = "sinusoidal"  # sinusoidal | learned | none
  max_positions: int = 512  # longest source/target/decode length (size of the position tables)
  share_embeddings: str = "target"  # none | target (target input = output layer) | all (also the source)
  scale_embeddings: bool = True
  pad_id: int = 0
  init_std: float | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def block_config(self) -> BlockConfig:
    return BlockConfig(
        d_model=self.d_model, num_heads=self.num_heads, d_ff=self.d_ff, dropout_rate=self.dropout_rate,
        attention_dropout_rate=self.attention_dropout_rate, pre_norm=self.pre_norm, activation=self.activation,
        use_bias=self.use_bias, layer_norm_eps=self.layer_norm_eps, scale_attention=self.scale_attention,
        attention_impl=self.attention_impl, init_std=self.init_std, dtype=jnp.dtype(self.dtype),
        param_dtype=jnp.dtype(self.param_dtype))

  def setup(self):
    cfg = self.block_config()
    if self.share_embeddings not in SHARE_EMBEDDINGS:
      raise UserError(f"share_embeddings={self.share_embeddings!r} is unknown; use one of "
                      f"{', '.join(SHARE_EMBEDDINGS)}")
    if self.share_embeddings == "all" and self.src_vocab_size != self.tgt_vocab_size:
      raise UserError(f"share_embeddings='all' needs one shared vocabulary, but src_vocab_size="
                      f"{self.src_vocab_size} != tgt_vocab_size={self.tgt_vocab_size}; use 'target' or 'none'")
    shared = make_embedding(self.tgt_vocab_size, cfg, name="shared_embedding") \
        if self.share_embeddings == "all" else None
    common = dict(positions=self.positions, max_positions=self.max_positions, scale_embeddings=self.scale_embeddings)
    self.encoder = TransformerEncoder(cfg, self.num_encoder_layers, self.src_vocab_size, pad_id=self.pad_id,
                                      shared_embedding=shared, **common)
    self.decoder = TransformerDecoder(cfg, self.num_decoder_layers, self.tgt_vocab_size,
                                      tie_output=self.share_embeddings != "none", shared_embedding=shared, **common)

  def encode(self, src: Array, train: bool = False) -> tuple[Array, Array]:
    """src: int32[B, S] → (memory [B, S, D], src_valid bool[B, S])."""
    valid = src != self.pad_id
    return self.encoder(src, mask=valid, train=train), valid

  def __call__(self, src: Array, tgt_in: Array, train: bool = False, *,
               return_attention: bool = False) -> Array | tuple[Array, dict[str, list[Array]]]:
    valid = src != self.pad_id
    if return_attention:
      memory, enc_w = self.encoder(src, mask=valid, train=train, return_attention=True)
      logits, dec_w = self.decoder(tgt_in, memory, valid, train=train, return_attention=True)
      return logits, {"encoder": enc_w, "decoder_self": [w["self"] for w in dec_w],
                      "decoder_cross": [w["cross"] for w in dec_w]}
    memory = self.encoder(src, mask=valid, train=train)
    return self.decoder(tgt_in, memory, valid, train=train)

  def init_cache(self, src: Array, max_len: int) -> Cache:
    """Encodes `src: int32[B, S]` and returns the decoding cache for up to `max_len` steps."""
    memory, valid = self.encode(src)
    return self.decoder.init_cache(memory, valid, max_len)

  def decode_step(self, tokens: Array, cache: Cache) -> tuple[Array, Cache]:
    """tokens: int32[B] → (logits float32[B, V], cache)."""
    return self.decoder.decode_step(tokens, cache)


# ----------------------------------------------------------------------------------------------
# Decoding glue, loss, schedule — shared by every encoder–decoder model.
