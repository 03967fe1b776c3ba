"""LSTM encoder–decoder (Sutskever et al. 2014), the translation model of notes §3–4.

An LSTM reads the Chinese sentence; its final states are the sentence's "meaning vector"; a second
LSTM, started from those states, writes the English sentence one word at a time (teacher forcing in
training: the decoder reads the reference's previous word, `tgt_in`, and predicts the next, `tgt_out`).

Padding (notes §4: build for the longest sentence, pad the shorter ones) must not change what the
model computes. The encoder therefore freezes its carry wherever `src_mask` is 0, so the final states
equal the states after each sentence's last real token, however many pads follow. The backward
direction of a bidirectional encoder runs the same masked scan from the end: pads come first in that
order and, with the carry frozen, leave the zero initial state untouched — no per-sentence reversal
is needed. The decoder is causal, so pads after a target's <eos> cannot affect earlier positions; the
loss masks them out (research/tasks/losses.py).

Decoding: the methods `init_cache(src, max_len)` (encodes once) and `decode_step(tokens, cache)` →
(logits, cache), which research/decoding/decoder.py turns into the one contract
`step_fn(tokens int32[B], cache) -> (log_probs float32[B, V], cache)` (`method_step_fns`).
The cache is {'c', 'h': float32[B, L, H]} (batch first on every leaf, so beam search can gather it).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry

Array = jax.Array
Carry = tuple[Array, Array]  # (c, h), each float32[B, H]
Cache = dict[str, Array]


def _forget_bias_init(key: Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> Array:
  """Bias of the 4 gates (i, f, g, o) with the forget gate at 1, so early training keeps memory."""
  del key
  h = shape[0] // 4
  return jnp.zeros(shape, dtype).at[h:2 * h].set(1.0)


class LSTMLayer(nn.Module):
  """One LSTM layer. The input projection of all time steps is one matmul; only h·W_h is in the scan.

  Attributes:
    in_features: D, the size of each input vector.
    hidden_dim: H.
  """

  in_features: int
  hidden_dim: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    h4 = 4 * self.hidden_dim
    self.input_kernel = self.param("input_kernel", nn.initializers.lecun_normal(), (self.in_features, h4),
                                   self.param_dtype)
    self.recurrent_kernel = self.param("recurrent_kernel", nn.initializers.orthogonal(column_axis=-1),
                                       (self.hidden_dim, h4), self.param_dtype)
    self.bias = self.param("bias", _forget_bias_init, (h4,), self.param_dtype)

  def zero_carry(self, batch: int) -> Carry:
    z = jnp.zeros((batch, self.hidden_dim), jnp.float32)
    return z, z

  def _project(self, x: Array) -> Array:
    xp = jnp.dot(x.astype(self.dtype), self.input_kernel.astype(self.dtype))
    return xp.astype(jnp.float32) + self.bias.astype(jnp.float32)

  def _cell(self, xp: Array, carry: Carry) -> Carry:
    c, h = carry
    z = xp + jnp.dot(h.astype(self.dtype), self.recurrent_kernel.astype(self.dtype)).astype(jnp.float32)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return c, jax.nn.sigmoid(o) * jnp.tanh(c)

  def __call__(self, x: Array, carry: Carry | None = None, mask: Array | None = None,
               reverse: bool = False) -> tuple[Array, Carry]:
    """Runs the whole sequence.

    Args:
      x: float[B, T, D] inputs.
      carry: initial (c, h), each float32[B, H] (default zeros).
      mask: bool/float[B, T]; where 0 the carry is left unchanged and the output is 0. None = all real.
      reverse: scan from t = T-1 down to 0 (outputs stay at their original positions).
    Returns:
      (outputs float32[B, T, H], final carry).
    """
    batch = x.shape[0]
    carry = self.zero_carry(batch) if carry is None else carry
    xp = jnp.swapaxes(self._project(x), 0, 1)  # time-major for the scan: [T, B, 4H]

    if mask is None:
      def body(carry, xp_t):
        carry = self._cell(xp_t, carry)
        return carry, carry[1]
      carry, ys = jax.lax.scan(body, carry, xp, reverse=reverse)
    else:
      m = jnp.swapaxes(mask.astype(bool), 0, 1)[..., None]  # [T, B, 1]

      def body(carry, inputs):
        xp_t, m_t = inputs
        new = self._cell(xp_t, carry)
        # A pad step must leave the state exactly as it was: select, don't blend, so no rounding creeps in.
        carry = (jnp.where(m_t, new[0], carry[0]), jnp.where(m_t, new[1], carry[1]))
        return carry, jnp.where(m_t, new[1], 0.0)
      carry, ys = jax.lax.scan(body, carry, (xp, m), reverse=reverse)
    return jnp.swapaxes(ys, 0, 1), carry

  def step(self, x: Array, carry: Carry) -> Carry:
    """One time step: x float[B, D] → new (c, h)."""
    return self._cell(self._project(x), carry)


class LSTMEncoder(nn.Module):
  """src int32[B, S] → (outputs float32[B, S, H·dirs], final states: one (c, h) per layer, each [B, H]).

  With `bidirectional`, layer l's two final states are concatenated and mapped back to H by a Dense
  ("bridge_c_l", "bridge_h_l"), so the decoder always starts from [B, H] states.
  """

  vocab_size: int
  embed_dim: int = 256
  hidden_dim: int = 512
  num_layers: int = 2
  bidirectional: bool = False
  dropout_rate: float = 0.0
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, param_dtype=self.param_dtype, name="embed")
    dirs = 2 if self.bidirectional else 1
    sizes = [self.embed_dim] + [dirs * self.hidden_dim] * (self.num_layers - 1)
    kw = dict(hidden_dim=self.hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype)
    self.fwd = [LSTMLayer(d, name=f"fwd_{i}", **kw) for i, d in enumerate(sizes)]
    if self.bidirectional:
      self.bwd = [LSTMLayer(d, name=f"bwd_{i}", **kw) for i, d in enumerate(sizes)]
      self.bridge_c = [nn.Dense(self.hidden_dim, param_dtype=self.param_dtype, name=f"bridge_c_{i}")
                       for i in range(self.num_layers)]
      self.bridge_h = [nn.Dense(self.hidden_dim, param_dtype=self.param_dtype, name=f"bridge_h_{i}")
                       for i in range(self.num_layers)]
    self.dropout = nn.Dropout(self.dropout_rate)

  def __call__(self, src: Array, src_mask: Array | None = None, *, train: bool = False) -> tuple[Array, list[Carry]]:
    mask = (src != self.pad_id) if src_mask is None else src_mask.astype(bool)
    x = self.dropout(self.embed(src), deterministic=not train)
    states = []
    for i in range(self.num_layers):
      if i > 0:
        x = self.dropout(x, deterministic=not train)
      out, (c, h) = self.fwd[i](x, mask=mask)
      if self.bidirectional:
        out_b, (cb, hb) = self.bwd[i](x, mask=mask, reverse=True)
        out = jnp.concatenate([out, out_b], axis=-1)
        c = self.bridge_c[i](jnp.concatenate([c, cb], axis=-1))
        h = jnp.tanh(self.bridge_h[i](jnp.concatenate([h, hb], axis=-1)))
      states.append((c, h))
      x = out
    return x, states


class LSTMDecoder(nn.Module):
  """Stacked LSTM language model conditioned on initial states; `__call__` for teacher forcing, `step` for decoding."""

  vocab_size: int
  embed_dim: int = 256
  hidden_dim: int = 512
  num_layers: int = 2
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, param_dtype=self.param_dtype, name="embed")
    sizes = [self.embed_dim] + [self.hidden_dim] * (self.num_layers - 1)
    self.layers = [LSTMLayer(d, self.hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype, name=f"layer_{i}")
                   for i, d in enumerate(sizes)]
    self.dropout = nn.Dropout(self.dropout_rate)
    self.logits_layer = nn.Dense(self.vocab_size, dtype=self.dtype, param_dtype=self.param_dtype, name="logits")

  def __call__(self, tgt_in: Array, states: list[Carry], *, train: bool = False) -> Array:
    """tgt_in int32[B, T], states per layer → logits float32[B, T, V]."""
    x = self.dropout(self.embed(tgt_in), deterministic=not train)
    for i, layer in enumerate(self.layers):
      if i > 0:
        x = self.dropout(x, deterministic=not train)
      x, _ = layer(x, states[i])
    x = self.dropout(x, deterministic=not train)
    return self.logits_layer(x).astype(jnp.float32)

  def step(self, tokens: Array, states: list[Carry]) -> tuple[Array, list[Carry]]:
    """tokens int32[B] → (logits float32[B, V], new states)."""
    x = self.embed(tokens)
    new_states = []
    for i, layer in enumerate(self.layers):
      c, h = layer.step(x, states[i])
      new_states.append((c, h))
      x = h
    return self.logits_layer(x).astype(jnp.float32), new_states


@registry.models.register("lstm_seq2seq")
class LSTMSeq2Seq(nn.Module):
  """`apply(variables, src int32[B, S], tgt_in int32[B, T], train=bool)` → logits float32[B, T, tgt_vocab_size].

  Source pads are `pad_id` (or pass `src_mask`). Encoder and decoder have `num_layers` layers each;
  decoder layer l starts from the encoder's final state of layer l.
  """

  src_vocab_size: int
  tgt_vocab_size: int
  embed_dim: int = 256
  hidden_dim: int = 512
  num_layers: int = 2
  bidirectional: bool = False
  dropout_rate: float = 0.0
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    kw = dict(embed_dim=self.embed_dim, hidden_dim=self.hidden_dim, num_layers=self.num_layers,
              dropout_rate=self.dropout_rate, dtype=self.dtype, param_dtype=self.param_dtype)
    self.encoder = LSTMEncoder(self.src_vocab_size, bidirectional=self.bidirectional, pad_id=self.pad_id, **kw)
    self.decoder = LSTMDecoder(self.tgt_vocab_size, **kw)

  def __call__(self, src: Array, tgt_in: Array, *, train: bool = False, src_mask: Array | None = None) -> Array:
    _, states = self.encoder(src, src_mask, train=train)
    return self.decoder(tgt_in, states, train=train)

  def encode(self, src: Array, src_mask: Array | None = None, *, train: bool = False) -> list[Carry]:
    """Final (c, h) of every encoder layer, each float32[B, H]."""
    return self.encoder(src, src_mask, train=train)[1]

  def meaning_vector(self, src: Array, src_mask: Array | None = None) -> Array:
    """The notes' "meaning vector": the top encoder layer's final hidden state, float32[B, H]."""
    return self.encode(src, src_mask)[-1][1]

  def init_cache(self, src: Array, max_len: int = 0, src_mask: Array | None = None) -> Cache:
    """Encodes `src` once. Returns {'c', 'h': float32[B, L, H]}; `max_len` is unused (the state is fixed-size)."""
    del max_len
    states = self.encode(src, src_mask)
    return {"c": jnp.stack([c for c, _ in states], axis=1), "h": jnp.stack([h for _, h in states], axis=1)}

  def decode_step(self, tokens: Array, cache: Cache) -> tuple[Array, Cache]:
    """tokens int32[B] (previous output, <bos> first) → (logits float32[B, V], advanced cache)."""
    states = [(cache["c"][:, i], cache["h"][:, i]) for i in range(self.num_layers)]
    logits, states = self.decoder.step(tokens.astype(jnp.int32), states)
    return logits, {"c": jnp.stack([c for c, _ in states], axis=1), "h": jnp.stack([h for _, h in states], axis=1)}
