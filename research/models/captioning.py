"""Image captioning (notes §3 "CNN → vector → LSTM" and §5.1 "Show, Attend and Tell").

Both models share a CNN encoder: research/models/cnn.py's trunk over the whole image, average-pooled
into a grid of L = G×G cells, a_i ∈ R^D (the notes' 3×3×D feature grid). The LSTM decoder starts from
h_0 = tanh(W_h ā + b_h), c_0 = tanh(W_c ā + b_c), ā = mean_i a_i.

'show_tell' (no attention): the LSTM reads only the previous word; the image enters through h_0, c_0.
'show_attend_tell' (soft attention, Xu et al. 2015): at step t, from the previous state h_{t-1},
    e_ti = v·tanh(W_a a_i + U_a h_{t-1}),  α_t = softmax_i(e_t),
    z_t = β_t Σ_i α_ti a_i,  β_t = σ(w_β·h_{t-1} + b_β)   (the gating scalar),
the LSTM takes [E y_{t-1}, z_t] and h_{t-1}, and the word distribution is softmax(W_o [h_t, z_t]).
Training adds the doubly stochastic term λ Σ_i (1 − Σ_t α_ti)² (research/tasks/multimodal.py), which
pushes the model to look at every cell over the course of a caption.

`apply(variables, image float[B, H, W, C], tokens_in int32[B, T], train=bool)` →
    (logits float32[B, T, V], alphas float32[B, T, L]);
alphas[b, t] is the attention used to predict token t (uniform 1/L for 'show_tell', which has none).

Decoding: the methods `init_cache(image, max_len)` and `decode_step(tokens, cache)`, which
research/decoding/decoder.py turns into the one step_fn contract (`method_step_fns`), with cache {'c', 'h': [B, H], 'feats': [B, L, D], 'proj': [B, L, A], 'alpha': [B, L]};
'alpha' holds the attention of the last step, for plots.

The LSTM and attention weights are plain arrays used inside one `lax.scan` (a pure step function
shared by teacher forcing and decoding), so `step_fn` provably computes what the forward pass does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research import registry
from research.models.cnn import CNNTrunk
from research.models.seq2seq import _forget_bias_init

Array = jax.Array
Cache = dict[str, Array]


def pool_to_grid(x: Array, grid: int) -> Array:
  """float[B, h, w, D] → float[B, G·G, D]: the mean of each of G×G near-equal blocks, row-major.

  Block g along an axis covers indices [⌊g·h/G⌋, ⌊(g+1)·h/G⌋), so any h ≥ G works (21 → 7, 7, 7).
  """
  b, h, w, d = x.shape
  if h < grid or w < grid:
    raise ValueError(f"feature map {h}×{w} is smaller than the {grid}×{grid} attention grid; use fewer CNN stages")

  def weights(n: int) -> np.ndarray:
    edges = (np.arange(grid + 1) * n) // grid
    m = np.zeros((grid, n), np.float32)
    for g in range(grid):
      m[g, edges[g]:edges[g + 1]] = 1.0 / (edges[g + 1] - edges[g])
    return m

  pooled = jnp.einsum("gi,bijd,kj->bgkd", weights(h), x, weights(w))
  return pooled.reshape(b, grid * grid, d)


def attend_step(p: dict[str, Array], carry: tuple[Array, Array], xw_t: Array, feats: Array, proj: Array, *,
                attention: bool, gate: bool) -> tuple[tuple[Array, Array], tuple[Array, Array, Array]]:
  """One decoder step, pure.

  Args:
    p: the weight arrays (see `Captioner._weights`).
    carry: (c, h), each float32[B, H], the previous state.
    xw_t: float32[B, 4H], the previous word's embedding already projected to gate space (plus bias).
    feats: float32[B, L, D] cells a_i.  proj: float32[B, L, A] = W_a a_i (attention only).
  Returns:
    ((c, h) new state, (h float32[B, H], z float32[B, D] or [B, 0], alpha float32[B, L])).
  """
  c, h = carry
  b, n_cells, _ = feats.shape
  gates = xw_t + h @ p["lstm_h"]
  if attention:
    scores = jnp.tanh(proj + (h @ p["att_h"])[:, None, :]) @ p["att_v"]  # [B, L]
    alpha = jax.nn.softmax(scores, axis=-1)
    z = jnp.einsum("bl,bld->bd", alpha, feats)
    if gate:
      z = jax.nn.sigmoid(h @ p["gate_w"] + p["gate_b"]) * z
    gates = gates + z @ p["lstm_z"]
  else:
    alpha = jnp.full((b, n_cells), 1.0 / n_cells, jnp.float32)
    z = jnp.zeros((b, 0), jnp.float32)
  i, f, g, o = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return (c, h), (h, z, alpha)


class Captioner(nn.Module):
  """CNN encoder + (attention) LSTM decoder; see the module docstring. Registered twice below.

  Attributes:
    vocab_size: V (from the dataset info).  grid: G, attention cells per side (from the dataset info).
    features: channels of the CNN stages (D = features[-1]).  embed_dim: E.  hidden_dim: H.
    attention_dim: A.  attention: soft attention on/off.  gate: the β gating scalar on/off.
    dropout_rate: on word embeddings and before the output layer.
  """

  vocab_size: int
  grid: int = 3
  features: Sequence[int] = (16, 32)
  embed_dim: int = 64
  hidden_dim: int = 128
  attention_dim: int = 64
  attention: bool = True
  gate: bool = True
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    d, h, e, a = self.features[-1], self.hidden_dim, self.embed_dim, self.attention_dim
    pd = self.param_dtype
    lecun = nn.initializers.lecun_normal()
    self.trunk = CNNTrunk(tuple(self.features), dtype=self.dtype, param_dtype=pd, name="trunk")
    self.embed = nn.Embed(self.vocab_size, e, param_dtype=pd, name="embed")
    self.init_c = nn.Dense(h, param_dtype=pd, name="init_c")
    self.init_h = nn.Dense(h, param_dtype=pd, name="init_h")
    self.lstm_word = self.param("lstm_word", lecun, (e, 4 * h), pd)
    self.lstm_h = self.param("lstm_h", nn.initializers.orthogonal(column_axis=-1), (h, 4 * h), pd)
    self.lstm_b = self.param("lstm_b", _forget_bias_init, (4 * h,), pd)
    if self.attention:
      self.lstm_z = self.param("lstm_z", lecun, (d, 4 * h), pd)
      self.att_feat = nn.Dense(a, param_dtype=pd, name="att_feat")
      self.att_h = self.param("att_h", lecun, (h, a), pd)
      self.att_v = self.param("att_v", nn.initializers.normal(1.0 / np.sqrt(a)), (a,), pd)
      if self.gate:
        self.gate_w = self.param("gate_w", lecun, (h, 1), pd)
        self.gate_b = self.param("gate_b", nn.initializers.zeros, (1,), pd)
    self.out = nn.Dense(self.vocab_size, param_dtype=pd, name="logits")
    self.dropout = nn.Dropout(self.dropout_rate)

  def _weights(self) -> dict[str, Array]:
    p = {"lstm_h": self.lstm_h}
    if self.attention:
      p.update(lstm_z=self.lstm_z, att_h=self.att_h, att_v=self.att_v)
      if self.gate:
        p.update(gate_w=self.gate_w, gate_b=self.gate_b)
    return {k: v.astype(jnp.float32) for k, v in p.items()}

  def encode(self, image: Array) -> Array:
    """image float[B, H, W, C] in [0, 1] → cells a float32[B, L, D]."""
    if image.ndim == 3:
      image = image[..., None]
    return pool_to_grid(self.trunk(image.astype(jnp.float32)), self.grid)

  def _start(self, feats: Array) -> tuple[tuple[Array, Array], Array]:
    mean = feats.mean(axis=1)
    carry = (jnp.tanh(self.init_c(mean)), jnp.tanh(self.init_h(mean)))
    proj = self.att_feat(feats) if self.attention else jnp.zeros(feats.shape[:2] + (0,), jnp.float32)
    return carry, proj

  def _word_gates(self, tokens: Array, *, train: bool) -> Array:
    emb = self.dropout(self.embed(tokens.astype(jnp.int32)), deterministic=not train)
    return emb @ self.lstm_word.astype(jnp.float32) + self.lstm_b.astype(jnp.float32)

  def _logits(self, h: Array, z: Array, *, train: bool) -> Array:
    return self.out(self.dropout(jnp.concatenate([h, z], axis=-1), deterministic=not train)).astype(jnp.float32)

  def __call__(self, image: Array, tokens_in: Array, *, train: bool = False) -> tuple[Array, Array]:
    feats = self.encode(image)
    carry, proj = self._start(feats)
    xw = jnp.swapaxes(self._word_gates(tokens_in, train=train), 0, 1)  # time-major [T, B, 4H]
    p = self._weights()

    def body(carry, xw_t):
      return attend_step(p, carry, xw_t, feats, proj, attention=self.attention, gate=self.gate)

    _, (hs, zs, alphas) = jax.lax.scan(body, carry, xw)
    hs, zs, alphas = (jnp.swapaxes(x, 0, 1) for x in (hs, zs, alphas))
    return self._logits(hs, zs, train=train), alphas

  def init_cache(self, image: Array, max_len: int = 0) -> Cache:
    """Encodes the image once: the decoding cache (see the module docstring); max_len is unused."""
    del max_len
    feats = self.encode(image)
    (c, h), proj = self._start(feats)
    return {"c": c, "h": h, "feats": feats, "proj": proj,
            "alpha": jnp.zeros(feats.shape[:2], jnp.float32)}

  def decode_step(self, tokens: Array, cache: Cache) -> tuple[Array, Cache]:
    """tokens int32[B] (previous word, <bos> first) → (logits float32[B, V], advanced cache)."""
    xw = self._word_gates(tokens, train=False)
    (c, h), (h, z, alpha) = attend_step(self._weights(), (cache["c"], cache["h"]), xw, cache["feats"], cache["proj"],
                                        attention=self.attention, gate=self.gate)
    return self._logits(h, z, train=False), {**cache, "c": c, "h": h, "alpha": alpha}


@registry.models.register("show_tell")
class ShowTell(Captioner):
  """Captioning without attention: CNN → mean feature → h_0, c_0 → LSTM."""

  attention: bool = False


@registry.models.register("show_attend_tell")
class ShowAttendTell(Captioner):
  """Show, Attend and Tell: soft attention over the G×G cells with a gating scalar."""

  attention: bool = True
