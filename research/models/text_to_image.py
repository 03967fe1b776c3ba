"""Text → image (notes §3 "LSTM → vector → CNN"): an LSTM reads the caption into one vector, a
transposed-convolution decoder draws the scene from it.

  caption int32[B, T] → embed → LSTM (masked) → caption vector v → dense → [S/2^n, S/2^n, C] → n × (2×
  transposed conv, relu) → 3×3 conv → pixel logits float32[B, S, S, 1]

v is the last LSTM state h_T (`text_pool='last'`, H entries), the masked mean of the LSTM outputs ('mean'),
or both concatenated ('both', 2H), optionally layer-normalized (`text_norm`). Why the options: trained on
fashion_scenes with the raw h_T, the vector barely moved between captions and the decoder settled on the
mean scene; the normalized [h_T, mean] lets the caption steer the decoder from the first few hundred steps
(experiments/multimodal/README.md, "Diagnosis").

Trained with per-pixel binary cross-entropy against the image scaled to [0, 1] (or squared error).
A caption fixes which articles appear and where, not their exact look, so the deterministic model
draws the average article of each named class in its cell. With `latent_dim > 0` the model is a
conditional VAE (Sohn et al. 2015): a CNN encoder q(z | image, caption) gives μ, log σ², the decoder
draws from [text vector, z], and the loss adds KL(q ‖ N(0, I)); generation uses z = 0 (the prior's mode)
unless a z is given.

`apply(variables, caption, caption_mask, image=None, train=bool)` → (logits float32[B, S, S, 1],
kl float32[B]) — kl is 0 without a latent. `apply(..., method='generate')` draws from a caption alone.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry
from research.models.lstm_lm import masked_pool
from research.models.seq2seq import LSTMLayer

Array = jax.Array


@registry.models.register("text_to_image")
class TextToImage(nn.Module):
  """Attributes:
    vocab_size: V.  image_shape: (S, S, C) from the dataset info; S must be divisible by 2^num_upsamples.
    embed_dim, hidden_dim: caption encoder sizes (the caption vector has hidden_dim entries).
    channels: channels of the first decoder feature map (halved at each upsampling, at least 8).
    num_upsamples: n, 2× transposed convolutions.  latent_dim: 0 = deterministic, > 0 = conditional VAE.
    text_pool: 'last' | 'mean' | 'both' (see the module docstring).  text_norm: LayerNorm on the vector.
  """

  vocab_size: int
  image_shape: tuple[int, int, int] = (84, 84, 1)
  embed_dim: int = 64
  hidden_dim: int = 128
  channels: int = 32
  num_upsamples: int = 2
  latent_dim: int = 0
  text_pool: str = "last"
  text_norm: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    s = self.image_shape[0]
    if s % (2 ** self.num_upsamples) or self.image_shape[1] != s:
      raise ValueError(f"image side {s} must be square and divisible by 2^num_upsamples = {2 ** self.num_upsamples}")
    pd = self.param_dtype
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, param_dtype=pd, name="embed")
    self.lstm = LSTMLayer(self.embed_dim, self.hidden_dim, param_dtype=pd, name="lstm")
    self.dropout = nn.Dropout(self.dropout_rate)
    if self.text_pool not in ("last", "mean", "both"):
      raise ValueError(f"text_pool={self.text_pool!r}; use 'last', 'mean' or 'both'")
    if self.text_norm:
      self.text_ln = nn.LayerNorm(param_dtype=pd, name="text_ln")
    s0 = s // 2 ** self.num_upsamples
    self.start = nn.Dense(s0 * s0 * self.channels, param_dtype=pd, name="start")
    self.ups = [nn.ConvTranspose(max(self.channels // 2 ** (i + 1), 8), (4, 4), strides=(2, 2), padding="SAME",
                                 param_dtype=pd, name=f"up_{i}") for i in range(self.num_upsamples)]
    self.to_pixels = nn.Conv(self.image_shape[2], (3, 3), padding="SAME", param_dtype=pd, name="to_pixels")
    if self.latent_dim > 0:
      self.enc_convs = [nn.Conv(c, (3, 3), strides=(2, 2), padding="SAME", param_dtype=pd, name=f"enc_{i}")
                        for i, c in enumerate((16, 32))]
      self.enc_stats = nn.Dense(2 * self.latent_dim, param_dtype=pd, name="enc_stats")

  def encode_text(self, caption: Array, caption_mask: Array, *, train: bool = False) -> Array:
    """caption int32[B, T], caption_mask float[B, T] → the caption vector float32[B, H] ('both': [B, 2H])."""
    x = self.dropout(self.embed(caption.astype(jnp.int32)), deterministic=not train)
    ys, (_, h) = self.lstm(x, mask=caption_mask)
    valid = caption_mask > 0
    mean = masked_pool(ys, valid, valid.sum(1), "mean")
    v = {"last": h, "mean": mean}.get(self.text_pool)
    v = jnp.concatenate([h, mean], axis=-1) if v is None else v  # 'both'
    return self.text_ln(v) if self.text_norm else v

  def draw(self, vector: Array) -> Array:
    """vector float[B, K] → pixel logits float32[B, S, S, C]."""
    s0 = self.image_shape[0] // 2 ** self.num_upsamples
    x = nn.relu(self.start(vector)).reshape(vector.shape[0], s0, s0, self.channels)
    for up in self.ups:
      x = nn.relu(up(x))
    return self.to_pixels(x).astype(jnp.float32)

  def posterior(self, image: Array, text: Array) -> tuple[Array, Array]:
    """q(z | image, caption): (μ, log σ²), each float32[B, latent_dim]."""
    x = image.astype(jnp.float32)
    for conv in self.enc_convs:
      x = nn.relu(conv(x))
    stats = self.enc_stats(jnp.concatenate([x.reshape(x.shape[0], -1), text], axis=-1))
    mu, logvar = jnp.split(stats, 2, axis=-1)
    return mu, jnp.clip(logvar, -10.0, 10.0)

  def __call__(self, caption: Array, caption_mask: Array, image: Array | None = None, *,
               train: bool = False) -> tuple[Array, Array]:
    text = self.encode_text(caption, caption_mask, train=train)
    kl = jnp.zeros((caption.shape[0],), jnp.float32)
    if self.latent_dim > 0:
      if image is None:
        z = jnp.zeros((caption.shape[0], self.latent_dim), jnp.float32)
      else:
        mu, logvar = self.posterior(image, text)
        # Sample only in training: evaluation losses use the posterior mean, so they are deterministic.
        z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(self.make_rng("noise"), mu.shape) if train else mu
        kl = 0.5 * jnp.sum(jnp.exp(logvar) + mu ** 2 - 1.0 - logvar, axis=-1)
      text = jnp.concatenate([text, z], axis=-1)
    return self.draw(text), kl

  def generate(self, caption: Array, caption_mask: Array, z: Array | None = None) -> Array:
    """Pixel values in [0, 1], float32[B, S, S, C], drawn from the caption (z = 0 for the VAE unless given)."""
    text = self.encode_text(caption, caption_mask)
    if self.latent_dim > 0:
      z = jnp.zeros((caption.shape[0], self.latent_dim), jnp.float32) if z is None else z
      text = jnp.concatenate([text, z], axis=-1)
    return jax.nn.sigmoid(self.draw(text))
