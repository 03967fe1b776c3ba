"""ELMo (Peters et al. 2018) from two independent LSTM language models, and the leaky biLM it avoids (notes §6).

  'elmo_bilm'        a left→right LM and a right→left LM with nothing shared (embeddings, LSTMs and softmax
                     are separate). Training loss = forward NLL + backward NLL. Output, in the framework's LM
                     format (research/models/lstm_lm.py): {'forward': ..., 'backward': ...}. The forward LM
                     predicts token t from tokens < t, the backward LM from tokens > t, so neither sees the
                     token it predicts (tests/models/test_elmo.py checks this with gradients).
                     `representations(tokens)` → float[L+1, B, T, 2H]: per layer, [forward state; backward
                     state] (layer 0: [forward embedding; backward embedding]; needs embed_dim == hidden_dim).
  'leaky_bilm'       the "fully bidirectional" LSTM LM the notes warn about: a forward and a backward LSTM read
                     the sequence, and token t is predicted from [forward state at t-1; backward state at t-1].
                     The backward state at t-1 has read tokens t-1..end — including token t. Training loss falls
                     towards 0 by copying; the honest evaluation (the 'lm' task's `hide_target`, which replaces
                     the predicted token by <unk> in the input) shows what it can really predict.
  'elmo_classifier'  sentiment from frozen ELMo features: learned scalar mix γ·Σ_j softmax(s)_j·h_j over the
                     L+1 layers, pooled over real tokens (mean | max | last), standardized per dimension
                     (BatchNorm), → dropout → ReLU layer → Dense head. The biLM lives under
                     params['bilm'] and is initialized from a pretrained 'elmo_bilm' run (trainer 'finetune',
                     config.init_from); `freeze=True` stops its gradients.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry
from research.errors import UserError
from research.models.lstm_lm import LSTMLanguageModel, LSTMStack, masked_pool, prediction_weights, shift_predictions

Array = jax.Array


@registry.models.register("elmo_bilm")
class BiLM(nn.Module):
  """Two independent LSTM LMs. Params: `forward`, `backward` (each an 'lstm_lm')."""

  vocab_size: int
  embed_dim: int = 128
  hidden_dim: int = 128
  num_layers: int = 2
  tie_embeddings: bool = False
  dropout_rate: float = 0.0
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    kw = dict(vocab_size=self.vocab_size, embed_dim=self.embed_dim, hidden_dim=self.hidden_dim,
              num_layers=self.num_layers, tie_embeddings=self.tie_embeddings, dropout_rate=self.dropout_rate,
              pad_id=self.pad_id, dtype=self.dtype, param_dtype=self.param_dtype)
    self.forward = LSTMLanguageModel(reverse=False, **kw)
    self.backward = LSTMLanguageModel(reverse=True, **kw)

  def __call__(self, tokens: Array, *, train: bool = False) -> dict[str, dict[str, Array]]:
    return {**self.forward(tokens, train=train), **self.backward(tokens, train=train)}

  def representations(self, tokens: Array, *, train: bool = False) -> Array:
    """tokens: int32[B, T] → float[L+1, B, T, 2H]: [forward; backward] per layer, layer 0 = embeddings."""
    if self.embed_dim != self.hidden_dim:
      raise UserError(f"ELMo representations need embed_dim == hidden_dim (got {self.embed_dim}, {self.hidden_dim})")
    f = self.forward.features(tokens, train=train)
    b = self.backward.features(tokens, train=train)
    return jnp.stack([jnp.concatenate([x, y], axis=-1) for x, y in zip(f, b, strict=True)])


@registry.models.register("leaky_bilm")
class LeakyBiLM(nn.Module):
  """Predicts token t from [h_fwd(t-1); h_bwd(t-1)] — the backward half has read token t (the leak).

  `__call__(tokens, train)` → {'bidirectional': {'logits', 'weights'}} in the LM format.
  `from_embeddings(x, lengths)` → aligned logits (for the gradient test that exposes the leak).
  Params: `embed`, `forward_lstm`, `backward_lstm`, `output`.
  """

  vocab_size: int
  embed_dim: int = 128
  hidden_dim: int = 128
  num_layers: int = 2
  dropout_rate: float = 0.0
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    kw = dict(num_layers=self.num_layers, dropout_rate=self.dropout_rate, dtype=self.dtype,
              param_dtype=self.param_dtype)
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, param_dtype=self.param_dtype)
    self.forward_lstm = LSTMStack(self.hidden_dim, reverse=False, **kw)
    self.backward_lstm = LSTMStack(self.hidden_dim, reverse=True, **kw)
    self.output = nn.Dense(self.vocab_size, dtype=self.dtype, param_dtype=self.param_dtype)
    self.dropout = nn.Dropout(self.dropout_rate)

  def from_embeddings(self, x: Array, lengths: Array, *, train: bool = False) -> Array:
    x = self.dropout(x, deterministic=not train)
    h = jnp.concatenate([self.forward_lstm(x, lengths, train=train)[-1],
                         self.backward_lstm(x, lengths, train=train)[-1]], axis=-1)
    # Both halves shifted like the forward LM: the state at t-1 predicts token t.
    h = shift_predictions(h, reverse=False)
    return self.output(self.dropout(h, deterministic=not train)).astype(jnp.float32)

  def __call__(self, tokens: Array, *, train: bool = False) -> dict[str, dict[str, Array]]:
    valid = tokens != self.pad_id
    logits = self.from_embeddings(self.embed(tokens), valid.sum(1).astype(jnp.int32), train=train)
    return {"bidirectional": {"logits": logits, "weights": prediction_weights(valid, reverse=False)}}

  def representations(self, tokens: Array, *, train: bool = False) -> Array:
    """float[L+1, B, T, 2H] like BiLM.representations (embeddings duplicated at layer 0)."""
    valid = tokens != self.pad_id
    lengths = valid.sum(1).astype(jnp.int32)
    x = self.embed(tokens)
    f, b = self.forward_lstm(x, lengths), self.backward_lstm(x, lengths)
    return jnp.stack([jnp.concatenate([x, x], -1)] + [jnp.concatenate([u, v], -1) for u, v in zip(f, b, strict=True)])


class ScalarMix(nn.Module):
  """γ · Σ_j softmax(s)_j · h_j over layers: h: [L, ...] → [...]. Params: `weights` s [L] (init 0), `gamma` (1)."""

  @nn.compact
  def __call__(self, h: Array) -> Array:
    s = self.param("weights", nn.initializers.zeros, (h.shape[0],), jnp.float32)
    gamma = self.param("gamma", nn.initializers.ones, (), jnp.float32)
    w = jax.nn.softmax(s).astype(h.dtype)
    return gamma.astype(h.dtype) * jnp.einsum("l,l...->...", w, h)


@registry.models.register("elmo_classifier")
class ELMoClassifier(nn.Module):
  """`(tokens: int32[B, T], segments: ignored, train)` → logits float32[B, num_classes] from (frozen) biLM features.

  Params: `bilm` (an 'elmo_bilm', or a 'leaky_bilm' when `leaky`), `mix`, `norm` (when `normalize`; its
  statistics live in the 'batch_stats' collection), `hidden`, `head`.
  """

  vocab_size: int
  num_classes: int
  embed_dim: int = 128
  hidden_dim: int = 128
  num_layers: int = 2
  leaky: bool = False  # features from the leaky biLM instead (for the leakage comparison)
  freeze: bool = True  # stop gradients into the biLM (ELMo's "frozen features")
  pooling: str = "mean"  # mean | max | last
  head_hidden_dim: int = 128
  dropout_rate: float = 0.0  # on the pooled features and the head's hidden layer
  # Standardize the pooled features per dimension (BatchNorm: batch statistics in training, running averages
  # in evaluation). Why: a trained LSTM's pooled states share a large per-dimension offset (|mean| ≈ 0.7) and
  # vary little between sentences (std ≈ 0.03), so without it Adam spends 300 steps moving the head along the
  # offset and the classifier never leaves the majority class.
  normalize: bool = True
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens: Array, segments: Array | None = None, *, train: bool = False) -> Array:
    del segments
    cls = LeakyBiLM if self.leaky else BiLM
    bilm = cls(self.vocab_size, self.embed_dim, self.hidden_dim, self.num_layers, pad_id=self.pad_id,
               dtype=self.dtype, param_dtype=self.param_dtype, name="bilm")
    reps = bilm.representations(tokens)
    if self.freeze:
      reps = jax.lax.stop_gradient(reps)
    valid = tokens != self.pad_id
    lengths = valid.sum(1).astype(jnp.int32)
    drop = nn.Dropout(self.dropout_rate)
    pooled = masked_pool(ScalarMix(name="mix")(reps), valid, lengths, self.pooling)
    if self.normalize:
      pooled = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype,
                            param_dtype=self.param_dtype, name="norm")(pooled)
    # Dropout after pooling and standardizing: dropped per-token features (|x| ≈ 0.7) would add noise far
    # larger than the between-sentence signal that standardization amplifies.
    pooled = drop(pooled, deterministic=not train)
    h = drop(nn.relu(nn.Dense(self.head_hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                              name="hidden")(pooled)), deterministic=not train)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="head")(h).astype(jnp.float32)
