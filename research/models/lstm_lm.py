"""LSTMs over masked token sequences: a sentiment classifier and a language model (notes §6).

Both read `tokens: int32[B, T]` whose trailing positions equal `pad_id` (0) and are ignored.

  'lstm_classifier'  embed → L LSTM layers (left to right) → pool over real positions → Dense(num_classes).
                     pooling: 'last' (the state after the last real token: the notes' "final context vector"),
                     'mean' or 'max' over real positions.
  'lstm_lm'          embed → L LSTM layers → Dense(V) (optionally tied to the embedding). Reading direction
                     `reverse=False` (left→right) or True (right→left, each row reversed within its length).

Language models in this framework return their predictions *aligned with the token they predict*:
`{name: {'logits': float32[B, T, V], 'weights': float32[B, T]}}` where logits[:, t] is the distribution of
tokens[:, t] and weights[:, t] is 1 where a prediction exists (the left→right LM has none for the first token,
the right→left LM none for the last). The 'lm' task in research/tasks/language.py turns that into losses for any LM
(this one, ELMo's two directions, the leaky bidirectional LM).

Text generation: `decode_fns(model, variables, prompt)` puts an 'lstm_lm' behind the decoding contract
`step_fn(tokens: int32[B], cache) -> (log_probs: float32[B, V], cache)`, continuing each prompt, so every search
of research/decoding (greedy, beam, temperature sampling with top-k / top-p, n-gram blocking) generates text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry
from research.errors import UserError

Array = jax.Array
POOLINGS = ("last", "mean", "max")


class _CellStep(nn.Module):
  """One LSTM step (scanned over time): (carry, x_t [B, E]) → (carry, h_t [B, H])."""

  hidden_dim: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, carry, x):
    return nn.OptimizedLSTMCell(self.hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype, name="cell")(carry, x)


_ScannedCell = nn.scan(_CellStep, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)


def reverse_within_length(x: Array, lengths: Array) -> Array:
  """x: [B, T, ...] → each row's first lengths[b] entries reversed, padding left in place (an involution)."""
  t = jnp.arange(x.shape[1])[None, :]
  idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  return jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1)


def masked_pool(h: Array, valid: Array, lengths: Array, pooling: str) -> Array:
  """h: [B, T, D], valid: bool[B, T], lengths: int32[B] → [B, D] ('last' | 'mean' | 'max' over valid positions).

  A row with no valid position pools to zeros (mean/max) or position 0 (last), never nan.
  """
  if pooling == "last":
    return jnp.take_along_axis(h, jnp.maximum(lengths - 1, 0)[:, None, None], axis=1)[:, 0]
  w = valid[..., None].astype(h.dtype)
  if pooling == "mean":
    return (h * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)
  if pooling == "max":
    out = jnp.where(valid[..., None], h, jnp.finfo(h.dtype).min).max(axis=1)
    return jnp.where(valid.any(axis=1, keepdims=True), out, 0.0)
  raise UserError(f"pooling={pooling!r} is unknown; use one of {', '.join(POOLINGS)}")


class LSTMStack(nn.Module):
  """L LSTM layers over x: [B, T, E] in one direction → per-layer outputs, a list of L arrays [B, T, H].

  `reverse=True` reads each row right to left within its real length (outputs are returned in the original
  order, so output t has seen positions t..len-1). Dropout is applied between layers.
  """

  hidden_dim: int
  num_layers: int = 1
  reverse: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    self.layers = [_ScannedCell(self.hidden_dim, self.dtype, self.param_dtype, name=f"lstm_{i}")
                   for i in range(self.num_layers)]
    self.dropout = nn.Dropout(self.dropout_rate)

  def initial_carry(self, batch: int) -> tuple:
    z = jnp.zeros((batch, self.hidden_dim), self.dtype)
    return tuple((z, z) for _ in range(self.num_layers))

  def __call__(self, x: Array, lengths: Array, *, train: bool = False) -> list[Array]:
    if self.reverse:
      x = reverse_within_length(x, lengths)
    outs = []
    for i, layer in enumerate(self.layers):
      if i:
        x = self.dropout(x, deterministic=not train)
      z = jnp.zeros((x.shape[0], self.hidden_dim), self.dtype)
      _, x = layer((z, z), x)
      outs.append(x)
    return [reverse_within_length(o, lengths) for o in outs] if self.reverse else outs

  def step(self, carry: tuple, x: Array) -> tuple[tuple, Array]:
    """One left-to-right step for decoding: x [B, E] → (carry, top output [B, H])."""
    new = []
    for i, layer in enumerate(self.layers):
      c, y = layer(carry[i], x[:, None])
      new.append(c)
      x = y[:, 0]
    return tuple(new), x


@registry.models.register("lstm_classifier")
class LSTMClassifier(nn.Module):
  """`(tokens: int32[B, T], segments: ignored, train)` → logits float32[B, num_classes].

  Params: `embed`, `encoder` (lstm_i), `hidden` (when hidden_dim_head > 0), `head`.
  """

  vocab_size: int
  num_classes: int
  embed_dim: int = 128
  hidden_dim: int = 128
  num_layers: int = 1
  pooling: str = "last"  # last | mean | max
  head_hidden_dim: int = 0  # a ReLU layer between the pooled vector and the output (0 = none)
  dropout_rate: float = 0.0  # on embeddings, between layers and on the pooled vector
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens: Array, segments: Array | None = None, *, train: bool = False) -> Array:
    del segments
    if self.pooling not in POOLINGS:
      raise UserError(f"pooling={self.pooling!r} is unknown; use one of {', '.join(POOLINGS)}")
    valid = tokens != self.pad_id
    lengths = valid.sum(axis=1).astype(jnp.int32)
    drop = nn.Dropout(self.dropout_rate)
    x = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, param_dtype=self.param_dtype, name="embed")(tokens)
    x = drop(x, deterministic=not train)
    h = LSTMStack(self.hidden_dim, self.num_layers, dropout_rate=self.dropout_rate, dtype=self.dtype,
                  param_dtype=self.param_dtype, name="encoder")(x, lengths, train=train)[-1]
    pooled = drop(masked_pool(h, valid, lengths, self.pooling), deterministic=not train)
    if self.head_hidden_dim:
      pooled = nn.relu(nn.Dense(self.head_hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                                name="hidden")(pooled))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name="head")(pooled).astype(jnp.float32)


def shift_predictions(h: Array, reverse: bool) -> Array:
  """Aligns states with the token they predict: left→right state t-1 predicts token t (position 0 gets zeros);
  right→left state t+1 predicts token t (rows are padded at the end, so the last real position reads a pad
  state and is given weight 0 by `prediction_weights`)."""
  zero = jnp.zeros_like(h[:, :1])
  return jnp.concatenate([h[:, 1:], zero], axis=1) if reverse else jnp.concatenate([zero, h[:, :-1]], axis=1)


def prediction_weights(valid: Array, reverse: bool) -> Array:
  """float32[B, T]: 1 where a real token has a real context state on the reading side."""
  shifted = jnp.concatenate([valid[:, 1:], jnp.zeros_like(valid[:, :1])], 1) if reverse else \
      jnp.concatenate([jnp.zeros_like(valid[:, :1]), valid[:, :-1]], 1)
  return (valid & shifted).astype(jnp.float32)


@registry.models.register("lstm_lm")
class LSTMLanguageModel(nn.Module):
  """An LSTM language model reading in one direction; see the module docstring for the output format.

  `__call__(tokens: int32[B, T], train)` → {name: {'logits': float32[B, T, V], 'weights': float32[B, T]}}
  with name 'forward' (or 'backward' when `reverse`). `features(tokens)` → list of [B, T, E|H]: the token
  embeddings then each layer's states (state t has read tokens ≤ t, or ≥ t when reversed) — ELMo's layers.
  `from_embeddings(x, lengths)` runs on given embeddings [B, T, E] (for gradient tests).

  Params: `embed`, `lstm` (lstm_i), `output` (untied only; tied uses embed.attend + `output_bias`).
  """

  vocab_size: int
  embed_dim: int = 128
  hidden_dim: int = 128
  num_layers: int = 1
  reverse: bool = False
  tie_embeddings: bool = False  # needs embed_dim == hidden_dim
  dropout_rate: float = 0.0
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    if self.tie_embeddings and self.embed_dim != self.hidden_dim:
      raise UserError(f"tie_embeddings needs embed_dim == hidden_dim (got {self.embed_dim} and {self.hidden_dim})")
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, param_dtype=self.param_dtype)
    self.lstm = LSTMStack(self.hidden_dim, self.num_layers, reverse=self.reverse, dropout_rate=self.dropout_rate,
                          dtype=self.dtype, param_dtype=self.param_dtype)
    self.dropout = nn.Dropout(self.dropout_rate)
    if self.tie_embeddings:
      self.output_bias = self.param("output_bias", nn.initializers.zeros, (self.vocab_size,), self.param_dtype)
    else:
      self.output = nn.Dense(self.vocab_size, dtype=self.dtype, param_dtype=self.param_dtype)

  @property
  def direction(self) -> str:
    return "backward" if self.reverse else "forward"

  def project(self, h: Array) -> Array:
    """States [..., H] → logits float32[..., V]."""
    if self.tie_embeddings:
      return (self.embed.attend(h) + self.output_bias).astype(jnp.float32)
    return self.output(h).astype(jnp.float32)

  def features(self, tokens: Array, *, train: bool = False) -> list[Array]:
    valid = tokens != self.pad_id
    x = self.embed(tokens)
    return [x] + self.lstm(self.dropout(x, deterministic=not train), valid.sum(1).astype(jnp.int32), train=train)

  def from_embeddings(self, x: Array, lengths: Array, *, train: bool = False) -> Array:
    """x: [B, T, E] embeddings, lengths: int32[B] → aligned logits float32[B, T, V]."""
    h = self.lstm(self.dropout(x, deterministic=not train), lengths, train=train)[-1]
    return self.project(self.dropout(shift_predictions(h, self.reverse), deterministic=not train))

  def __call__(self, tokens: Array, *, train: bool = False) -> dict[str, dict[str, Array]]:
    valid = tokens != self.pad_id
    logits = self.from_embeddings(self.embed(tokens), valid.sum(1).astype(jnp.int32), train=train)
    return {self.direction: {"logits": logits, "weights": prediction_weights(valid, self.reverse)}}

  # -- decoding (left-to-right models) -------------------------------------------------------------
  def init_cache(self, batch_size: int) -> tuple:
    """Zero LSTM states: ((c, h) [B, H] per layer)."""
    return self.lstm.initial_carry(batch_size)

  def decode_step(self, tokens: Array, cache: tuple) -> tuple[Array, tuple]:
    """tokens: int32[B] → (logits float32[B, V] for the next token, cache)."""
    if self.reverse:
      raise UserError("decode_step reads left to right; sample from a model with reverse=False")
    cache, h = self.lstm.step(cache, self.embed(tokens))
    return self.project(h), cache


def lm_step_fn(model: LSTMLanguageModel, variables: Any) -> Callable[[Array, Any], tuple[Array, Any]]:
  """The decoding contract `step_fn(tokens: int32[B], cache) -> (log_probs float32[B, V], cache)`."""
  def step_fn(tokens: Array, cache: Any) -> tuple[Array, Any]:
    logits, cache = model.apply(variables, tokens.astype(jnp.int32), cache, method="decode_step")
    return jax.nn.log_softmax(logits, axis=-1), cache
  return step_fn


def prime(model: LSTMLanguageModel, variables: Any, prompt: Array) -> tuple[Array, Any]:
  """Feeds prompt: int32[B, P] (P ≥ 1) except its last token; returns (last prompt token int32[B], cache)."""
  cache = model.apply(variables, prompt.shape[0], method="init_cache")
  step_fn = lm_step_fn(model, variables)
  cache, _ = jax.lax.scan(lambda c, tok: (step_fn(tok, c)[1], None), cache, prompt[:, :-1].T)
  return prompt[:, -1], cache


def decode_fns(model: LSTMLanguageModel, variables: Any, prompt: Array, max_len: int = 0
               ) -> tuple[Callable[[Array, Any], tuple[Array, Any]], Any]:
  """(step_fn, cache) continuing each row of prompt: int32[B, P] (P ≥ 1), for research/decoding's searches.

  The LM has no <bos>: its first prediction follows the prompt's last token. So the cache holds that token
  and the first call of step_fn reads it in place of the token the search feeds (its bos_id); the searches'
  outputs then hold the continuation only. max_len is unused (the LSTM state does not grow).
  """
  del max_len
  last, state = prime(model, variables, jnp.asarray(prompt, jnp.int32))
  lm_step = lm_step_fn(model, variables)

  def step_fn(tokens: Array, cache: Any) -> tuple[Array, Any]:
    tokens = jnp.where(cache["primed"], cache["next"], tokens.astype(jnp.int32))
    log_probs, state = lm_step(tokens, cache["lstm"])
    return log_probs, {"lstm": state, "next": cache["next"], "primed": jnp.zeros_like(cache["primed"])}

  return step_fn, {"lstm": state, "next": last, "primed": jnp.ones(last.shape, bool)}
