"""Luong attention (Luong, Pham & Manning 2015) on an LSTM encoder–decoder.

Notes §5.2: encode the source with an RNN; at each decoder step compute h_t, score it against every encoder
state h̄_s (one number per source word), normalize the scores ("divide by the sum, or softmax"), weight the h̄_s
to get the context c_t, concatenate c_t with h_t, and predict the next word from that. Here:

  score(h_t, h̄_s) = h_tᵀ h̄_s                       ('dot')
                  = h_tᵀ W_a h̄_s                    ('general')
                  = v_aᵀ tanh(W_1 h_t + W_2 h̄_s)    ('concat', Luong's W_a[h_t; h̄_s] split in two blocks)
  a_t = normalize(scores over unmasked source positions)
  c_t = Σ_s a_ts h̄_s;   h̃_t = tanh(W_c [c_t; h_t]);   p(y_t | ·) = softmax(W_s h̃_t)

Normalizations: 'softmax', or 'sum', the notes' divide-by-sum. Dividing raw scores by their sum is undefined
for scores of mixed sign (the sum can be 0 and weights negative), so 'sum' first maps each score through
softplus: a_ts = softplus(score_ts) / Σ_s' softplus(score_ts'). softplus is positive, smooth and grows
linearly rather than exponentially, so the weights are a genuinely flatter alternative to softmax; padded
positions contribute 0 to the sum and get weight exactly 0.

Input feeding (Luong §3.3): the previous attentional vector h̃_{t-1} is concatenated to the word embedding
at the next step, so the decoder knows where it attended before.

The encoder is a multi-layer (optionally bidirectional) LSTM run with the real source lengths (pads change no
state; source pads are trailing). The decoder's LSTM layers start from the encoder's final states.

Registered as 'luong_seq2seq'. Training: `model.apply(v, src int32[B, S], tgt_in int32[B, T], train)` →
logits float32[B, T, V]; `return_attention=True` adds {'attention': float32[B, T, S]} for plotting.
Decoding: `init_cache(src, max_len)` / `decode_step(tokens, cache)`, driven through
research/decoding/decoder.py's `method_step_fns`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry
from research.errors import UserError

Array = jax.Array
Cache = dict[str, Any]

SCORES = ("dot", "general", "concat")
NORMALIZATIONS = ("softmax", "sum")


def normalize_scores(scores: Array, valid: Array, method: str = "softmax") -> Array:
  """scores: float[..., S], valid: bool broadcastable to [..., S] → weights float32[..., S], summing to 1.

  Masked positions get weight exactly 0. 'softmax': exp-normalized; 'sum': softplus(s) / Σ softplus(s)
  (see the module docstring for why softplus).
  """
  scores = scores.astype(jnp.float32)
  if method == "softmax":
    return jax.nn.softmax(jnp.where(valid, scores, jnp.finfo(jnp.float32).min), axis=-1) * valid
  if method == "sum":
    positive = jnp.where(valid, jax.nn.softplus(scores), 0.0)
    # softplus > 0 everywhere, so the sum is 0 only for a source with no real token at all.
    return positive / jnp.maximum(positive.sum(axis=-1, keepdims=True), jnp.finfo(jnp.float32).tiny)
  raise UserError(f"attention normalization {method!r} is unknown; use one of {', '.join(NORMALIZATIONS)}")


class LuongStep(nn.Module):
  """One decoder step: (carry, y_embed [B, E], keys [B, S, K], memory [B, S, H], src_valid bool[B, S])
  → (carry, (h̃ [B, H], weights float32[B, S])), carry = (LSTM states per layer, h̃_{t-1} [B, H]).

  Scanned over time for teacher forcing and called once per token (on a length-1 time axis) for decoding,
  so both paths run the very same parameters and arithmetic.
  """

  hidden_dim: int
  num_layers: int
  score: str
  normalization: str
  input_feeding: bool
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, carry, y_embed: Array, keys: Array, memory: Array, src_valid: Array):
    states, feed = carry
    x = jnp.concatenate([y_embed, feed.astype(y_embed.dtype)], axis=-1) if self.input_feeding else y_embed
    new_states = []
    for i in range(self.num_layers):
      state, x = nn.OptimizedLSTMCell(self.hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                                      name=f"lstm_{i}")(states[i], x)
      # A scan carry must keep its dtype; with bfloat16 compute the cell would otherwise promote or demote it.
      new_states.append(jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype), state, states[i]))
    h = x
    if self.score in ("dot", "general"):
      # 'general' already applied W_a to the memory once per source (the keys), so both are a dot product.
      scores = jnp.einsum("bh,bsh->bs", h, keys, preferred_element_type=jnp.float32)
    else:
      query = nn.Dense(keys.shape[-1], use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                       name="score_query")(h)
      hidden = jnp.tanh(query[:, None, :] + keys)
      scores = nn.Dense(1, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                        name="score_v")(hidden)[..., 0]
    weights = normalize_scores(scores, src_valid, self.normalization)
    context = jnp.einsum("bs,bsh->bh", weights.astype(memory.dtype), memory)
    h_tilde = jnp.tanh(nn.Dense(self.hidden_dim, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                                name="combine")(jnp.concatenate([context, h], axis=-1)))
    return (tuple(new_states), h_tilde.astype(feed.dtype)), (h_tilde, weights)


_ScannedLuongStep = nn.scan(
    LuongStep, variable_broadcast="params", split_rngs={"params": False},
    in_axes=(1, nn.broadcast, nn.broadcast, nn.broadcast), out_axes=1)


@registry.models.register("luong_seq2seq")
class LuongSeq2Seq(nn.Module):
  """LSTM encoder–decoder with Luong attention; see the module docstring.

  Params: `src_embed`, `tgt_embed`, `encoder_{i}` (LSTM layers), `bridge_*` (bidirectional only), `memory_key`
  ('general'/'concat'), `decoder` (the step: lstm_i, score_*, combine), `output` (W_s).
  """

  src_vocab_size: int
  tgt_vocab_size: int
  embed_dim: int = 256
  hidden_dim: int = 256
  num_layers: int = 1  # encoder and decoder LSTM layers
  bidirectional: bool = False  # encoder; its two directions are projected back to hidden_dim
  score: str = "general"  # dot | general | concat
  normalization: str = "softmax"  # softmax | sum (softplus scores divided by their sum)
  attention_dim: int | None = None  # width of the 'concat' score layer (default hidden_dim)
  input_feeding: bool = True
  dropout_rate: float = 0.0  # on embeddings, between encoder layers and on h̃ before the output layer
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.score not in SCORES:
      raise UserError(f"score={self.score!r} is unknown; use one of {', '.join(SCORES)}")
    if self.normalization not in NORMALIZATIONS:
      raise UserError(f"normalization={self.normalization!r} is unknown; use one of {', '.join(NORMALIZATIONS)}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise UserError(f"dropout_rate={self.dropout_rate} must be in [0, 1)")
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.src_embed = nn.Embed(self.src_vocab_size, self.embed_dim, **dt)
    self.tgt_embed = nn.Embed(self.tgt_vocab_size, self.embed_dim, **dt)
    layers = []
    for i in range(self.num_layers):
      if self.bidirectional:
        layers.append(nn.Bidirectional(
            nn.RNN(nn.OptimizedLSTMCell(self.hidden_dim, **dt)), nn.RNN(nn.OptimizedLSTMCell(self.hidden_dim, **dt)),
            return_carry=True, name=f"encoder_{i}"))
      else:
        layers.append(nn.RNN(nn.OptimizedLSTMCell(self.hidden_dim, **dt), return_carry=True, name=f"encoder_{i}"))
    self.encoder_layers = layers
    if self.bidirectional:
      self.bridge_memory = nn.Dense(self.hidden_dim, **dt)
      self.bridge_c = [nn.Dense(self.hidden_dim, name=f"bridge_c_{i}", **dt) for i in range(self.num_layers)]
      self.bridge_h = [nn.Dense(self.hidden_dim, name=f"bridge_h_{i}", **dt) for i in range(self.num_layers)]
    if self.score == "general":
      self.memory_key = nn.Dense(self.hidden_dim, use_bias=False, **dt)
    elif self.score == "concat":
      self.memory_key = nn.Dense(self.attention_dim or self.hidden_dim, use_bias=False, **dt)
    self.decoder = _ScannedLuongStep(self.hidden_dim, self.num_layers, self.score, self.normalization,
                                     self.input_feeding, **dt)
    self.output = nn.Dense(self.tgt_vocab_size, **dt)
    self.dropout = nn.Dropout(self.dropout_rate)

  def encode(self, src: Array, train: bool = False) -> tuple[Array, Array, Array, tuple]:
    """src: int32[B, S] → (memory [B, S, H], keys [B, S, K], src_valid bool[B, S], decoder init states).

    Init states: one (c, h) pair [B, H] per decoder layer, from the encoder's final states at each row's real
    length.
    """
    valid = src != self.pad_id
    lengths = valid.sum(axis=1).astype(jnp.int32)
    x = self.dropout(self.src_embed(src), deterministic=not train)
    finals = []
    zeros = jnp.zeros((src.shape[0], self.hidden_dim), jnp.dtype(self.dtype))
    # Start from a carry in the compute dtype so the RNN's scan carry keeps one dtype under bfloat16.
    init = ((zeros, zeros), (zeros, zeros)) if self.bidirectional else (zeros, zeros)
    for i, layer in enumerate(self.encoder_layers):
      if i:
        x = self.dropout(x, deterministic=not train)
      carry, x = layer(x, initial_carry=init, seq_lengths=lengths)
      finals.append(carry)
    if self.bidirectional:
      memory = self.bridge_memory(x)
      states = []
      for i, ((c_f, h_f), (c_b, h_b)) in enumerate(finals):
        states.append((self.bridge_c[i](jnp.concatenate([c_f, c_b], -1)),
                       jnp.tanh(self.bridge_h[i](jnp.concatenate([h_f, h_b], -1)))))
    else:
      memory = x
      states = list(finals)
    keys = memory if self.score == "dot" else self.memory_key(memory)
    return memory, keys, valid, tuple(states)

  def __call__(self, src: Array, tgt_in: Array, train: bool = False, *,
               return_attention: bool = False) -> Array | tuple[Array, dict[str, Array]]:
    """src: int32[B, S], tgt_in: int32[B, T] → logits float32[B, T, V] (+ {'attention': float32[B, T, S]})."""
    memory, keys, valid, states = self.encode(src, train)
    y = self.dropout(self.tgt_embed(tgt_in), deterministic=not train)
    feed = jnp.zeros((src.shape[0], self.hidden_dim), memory.dtype)
    _, (h_tilde, weights) = self.decoder((states, feed), y, keys, memory, valid)
    logits = self.output(self.dropout(h_tilde, deterministic=not train)).astype(jnp.float32)
    return (logits, {"attention": weights}) if return_attention else logits

  def init_cache(self, src: Array, max_len: int) -> Cache:
    """Encodes src: int32[B, S]; the cache (leaves with leading batch axis) needs no room per step, so
    `max_len` is unused:
    {'lstm': ((c, h) [B, H] per layer), 'feed': h̃_{t-1} [B, H], 'memory': [B, S, H], 'keys': [B, S, K],
     'src_mask': bool[B, S]}.
    """
    del max_len
    memory, keys, valid, states = self.encode(src)
    return {"lstm": states, "feed": jnp.zeros((src.shape[0], self.hidden_dim), memory.dtype), "memory": memory,
            "keys": keys, "src_mask": valid}

  def decode_step(self, tokens: Array, cache: Cache) -> tuple[Array, Cache]:
    """tokens: int32[B] → (logits float32[B, V], cache advanced by one step)."""
    y = self.tgt_embed(tokens[:, None])
    (states, feed), (h_tilde, _) = self.decoder((cache["lstm"], cache["feed"]), y, cache["keys"], cache["memory"],
                                                cache["src_mask"])
    logits = self.output(h_tilde[:, 0]).astype(jnp.float32)
    return logits, {**cache, "lstm": states, "feed": feed}
