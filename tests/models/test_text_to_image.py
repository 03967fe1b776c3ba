"""Text → image: shapes, caption masking, the conditional VAE's KL term, cutting scenes into cells,
the fixed-classifier metric, and a few training steps that lower the loss."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

from research.data.scenes import PairedSource, ragged
from research.models.cnn import CNNClassifier
from research.models.text_to_image import TextToImage
from research.tasks.multimodal import TextToImageTask, scene_cells

V, B, T = 9, 3, 5


def key(seed: int) -> jax.Array:
  return jax.random.key(seed, impl="rbg")


MODEL = TextToImage(vocab_size=V, image_shape=(12, 12, 1), embed_dim=6, hidden_dim=8, channels=8, num_upsamples=2)
CVAE = TextToImage(vocab_size=V, image_shape=(12, 12, 1), embed_dim=6, hidden_dim=8, channels=8, num_upsamples=2,
                   latent_dim=3)


def inputs(seed=0):
  rng = np.random.default_rng(seed)
  tokens = jnp.asarray(rng.integers(4, V, (B, T)), jnp.int32)
  mask = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], jnp.float32)
  image = jnp.asarray(rng.uniform(size=(B, 12, 12, 1)), jnp.float32)
  return tokens, mask, image


@pytest.fixture(scope="module")
def variables():
  tokens, mask, image = inputs()
  return {m: jax.jit(m.init)({"params": key(0), "noise": key(1)}, tokens, mask, image) for m in (MODEL, CVAE)}


def test_shapes_and_padding(variables):
  tokens, mask, image = inputs()
  logits, kl = MODEL.apply(variables[MODEL], tokens, mask, image)
  assert logits.shape == (B, 12, 12, 1) and kl.shape == (B,) and float(jnp.abs(kl).max()) == 0.0
  # What follows a caption's last real token cannot change the picture.
  other = jnp.where(mask > 0, tokens, 7)
  np.testing.assert_allclose(np.asarray(MODEL.apply(variables[MODEL], other, mask, image)[0]), np.asarray(logits),
                             atol=1e-6)
  drawn = MODEL.apply(variables[MODEL], tokens, mask, method="generate")
  assert drawn.shape == (B, 12, 12, 1) and float(drawn.min()) >= 0 and float(drawn.max()) <= 1
  np.testing.assert_allclose(np.asarray(drawn), np.asarray(jax.nn.sigmoid(logits)), atol=1e-6)


def test_cvae_kl_matches_its_posterior(variables):
  tokens, mask, image = inputs()
  v = variables[CVAE]
  _, kl = CVAE.apply(v, tokens, mask, image, train=False)
  text = CVAE.apply(v, tokens, mask, method="encode_text")
  mu, logvar = CVAE.apply(v, image, text, method="posterior")
  want = 0.5 * np.sum(np.exp(logvar) + np.square(mu) - 1 - logvar, axis=-1)
  np.testing.assert_allclose(np.asarray(kl), want, rtol=1e-5)
  assert (np.asarray(kl) >= 0).all()
  # Training samples z (so two noise keys differ); evaluation uses the posterior mean (deterministic).
  a = CVAE.apply(v, tokens, mask, image, train=True, rngs={"noise": key(5)})[0]
  b = CVAE.apply(v, tokens, mask, image, train=True, rngs={"noise": key(6)})[0]
  assert not np.allclose(np.asarray(a), np.asarray(b))
  drawn = CVAE.apply(v, tokens, mask, method="generate")
  z0 = CVAE.apply(v, tokens, mask, jnp.zeros((B, 3)), method="generate")
  np.testing.assert_allclose(np.asarray(drawn), np.asarray(z0), atol=1e-6)


def test_scene_cells_are_row_major():
  x = jnp.arange(2 * 6 * 6, dtype=jnp.float32).reshape(2, 6, 6, 1)
  cells = np.asarray(scene_cells(x, 3))
  assert cells.shape == (2, 9, 2, 2, 1)
  for cell in range(9):
    r, c = divmod(cell, 3)
    np.testing.assert_array_equal(cells[:, cell], np.asarray(x)[:, 2 * r:2 * r + 2, 2 * c:2 * c + 2])


def test_classifier_accuracy_counts_items_in_their_cells():
  clf = CNNClassifier(num_classes=10, features=(4, 6))
  clf_vars = clf.init(key(2), jnp.zeros((1, 28, 28, 1)))
  rng = np.random.default_rng(3)
  images = jnp.asarray(rng.uniform(size=(4, 42, 42, 1)), jnp.float32)  # 14-pixel cells: resized to 28 to classify
  task = TextToImageTask(ConfigDict(dict(classifier_workdir="unused")), {"grid": 3, "max_caption_len": 4})
  task._classifier = (clf, clf_vars, (28, 28, 1))
  cells = np.array([[0, 4], [8, -1], [3, 5], [2, -1]])
  x = jax.image.resize(scene_cells(images, 3).reshape(36, 14, 14, 1), (36, 28, 28, 1), "bilinear")
  pred = np.asarray(clf.apply(clf_vars, x).argmax(-1)).reshape(4, 9)
  labels = np.array([[pred[0, 0], (pred[0, 4] + 1) % 10], [pred[1, 8], -1], [pred[2, 3], pred[2, 5]], [12, -1]])
  correct, total = task.classify_cells(images, labels, cells)
  assert (correct, total) == (4, 5)  # one wrong label; class 12 (a digit) is not scored by a fashion classifier


def test_evaluate_extra_and_training(variables):
  tokens, mask, image = inputs()
  task = TextToImageTask(ConfigDict(dict(pixel_loss="bce")), {"grid": 3, "max_caption_len": 4, "max_value": 1.0})
  batch = {"image": image, "caption_out": tokens, "caption_mask": mask, "mask": jnp.ones((B,), jnp.float32)}
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, opt):
    loss, grads = jax.value_and_grad(lambda p: task.loss_and_metrics(MODEL, {"params": p}, batch, train=True,
                                                                      rngs={"noise": key(0)})[0])(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt, loss

  params = variables[MODEL]["params"]
  opt = tx.init(params)
  losses = []
  for _ in range(25):
    params, opt, loss = step(params, opt)
    losses.append(float(loss))
  assert losses[-1] < losses[0] - 0.05
  caps = [np.asarray(t[:int(m.sum()) - 1]) for t, m in zip(np.asarray(tokens), np.asarray(mask), strict=True)]
  source = PairedSource({"image_index": np.arange(B), "caption": ragged(caps), "refs": ragged([[c] for c in caps]),
                         "labels": -np.ones((B, 1), np.int64), "cells": -np.ones((B, 1), np.int64),
                         "num_items": np.zeros(B, np.int64)}, images=np.asarray(image))
  results = task.evaluate_extra(MODEL, {"params": params}, "test", source,
                                ConfigDict(dict(decode=dict(max_examples=B, batch_size=2))))
  collated = task.collate(source.__getitems__(np.arange(B)))
  drawn = np.asarray(MODEL.apply({"params": params}, jnp.asarray(collated["caption_out"]),
                                 jnp.asarray(collated["caption_mask"]), method="generate"))
  assert results["pixel_mse"] == pytest.approx(float(np.mean(np.square(drawn - np.asarray(image)))), rel=1e-4)
  assert "classifier_accuracy" not in results


def test_caption_decides_what_and_where():
  """A short training on a tiny scene fixture must make different captions draw different scenes: each of
  2 shapes × 9 cells, named by its caption (word orders vary), drawn closest to its own target. A model
  that ignores or loses the caption draws the mean scene and fails (its error is the mean-scene error)."""
  side = 4
  shapes = np.zeros((2, side, side), np.float32)
  shapes[0] = 1.0                                        # a filled square
  shapes[1, [0, -1], :] = shapes[1, :, [0, -1]] = 1.0    # a ring
  tokens, images = [], []
  for k in range(2):
    for cell in range(9):
      r, c = divmod(cell, 3)
      img = np.zeros((3 * side, 3 * side, 1), np.float32)
      img[r * side:(r + 1) * side, c * side:(c + 1) * side, 0] = shapes[k]
      images.append(img)
      # "a <shape> at <cell> <eos>" or "<cell> a <shape> <eos>": the shape word is early or late.
      tokens.append([6, 4 + k, 7, 8 + cell, 3] if (k + cell) % 2 else [8 + cell, 6, 4 + k, 3, 0])
  tokens = jnp.asarray(tokens, jnp.int32)
  mask = (tokens > 0).astype(jnp.float32)
  images = jnp.asarray(np.stack(images))
  # The configured caption vector (configs/text_to_image.py): LayerNorm([last state, mean of outputs]).
  model = TextToImage(vocab_size=17, image_shape=(12, 12, 1), embed_dim=16, hidden_dim=32, channels=8,
                      num_upsamples=2, text_pool="both", text_norm=True)
  task = TextToImageTask(ConfigDict(dict(pixel_loss="bce")), {"grid": 3, "max_caption_len": 4, "max_value": 1.0})
  batch = {"image": images, "caption_out": tokens, "caption_mask": mask, "mask": jnp.ones((18,), jnp.float32)}
  params = model.init(key(0), tokens, mask)["params"]
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, opt):
    grads = jax.grad(lambda p: task.loss_and_metrics(model, {"params": p}, batch, train=True, rngs=None)[0])(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt

  opt = tx.init(params)
  for _ in range(120):
    params, opt = step(params, opt)
  drawn = np.asarray(model.apply({"params": params}, tokens, mask, method="generate"))
  err = np.square(drawn[:, None] - np.asarray(images)[None]).mean((2, 3, 4))  # [drawn, target]
  mean_scene_err = float(np.square(images - images.mean(0)).mean())
  assert (err.argmin(1) == np.arange(18)).mean() >= 0.6  # a caption-blind model: 1/18
  assert float(np.diag(err).mean()) < 0.25 * mean_scene_err


def test_t2i_table_pools_seeds_of_the_deterministic_decoder():
  # experiments/multimodal/run.py: one README line per drawer, mean ± sample std over its seeds.
  from experiments.multimodal.run import t2i_markdown

  def row(name, seed, mse, acc):
    parts = ("all", "cells named", "relation only")
    return {"drawn by": name, "seed": seed, "pixel_mse": mse, "pixel_mae": 0.5,
            **{f"classifier_accuracy_{p}": acc for p in parts}, **{f"items_{p}": 10 for p in parts}}

  rows = [row("mean training scene (reference)", None, 0.03, 0.1), row("deterministic decoder", 0, 0.01, 0.2),
          row("deterministic decoder", 2, 0.03, 0.4), row("conditional VAE, z = 0", 0, 0.02, 0.3)]
  results = {"t2i_s0": {"wall_seconds": 600.0}, "t2i_s2": {"wall_seconds": 700.0},
             "t2i_cvae_s0": {"wall_seconds": 800.0}}
  lines = t2i_markdown(rows, results).splitlines()
  assert len(lines) == 2 + 3
  assert lines[2].split(" | ")[1:3] == ["—", "0.0300"]
  # mean 0.02, sample std 0.0141; accuracy 30 ± 14.14 %; wall 650 ± 71 s.
  assert lines[3].split(" | ")[1:] == ["0,2", "0.0200 ± 0.0141", "0.5000 ± 0.0000", "30.00 ± 14.14 (n=10)",
                                       "30.00 ± 14.14 (n=10)", "30.00 ± 14.14 (n=10)", "650 ± 71 |"]
  assert lines[4].split(" | ")[1:3] == ["0", "0.0200"] and lines[4].endswith("| 800 |")
