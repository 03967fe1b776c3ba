"""Captioning models and task: grid pooling, attention weights, the decoding contract against the
teacher-forced forward pass, the doubly stochastic term, the alignment metric, the warm start from a
classifier checkpoint, and a short end-to-end run through the Trainer."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import make_fashion_fixture
from ml_collections import ConfigDict

from research.data.vocab import BOS_ID, EOS_ID
from research.decoding import beam_search, greedy_search
from research.decoding.decoder import method_step_fns
from research.errors import UserError
from research.models.captioning import ShowAttendTell, ShowTell, pool_to_grid
from research.models.cnn import CNNClassifier
from research.tasks.multimodal import CaptioningTask, doubly_stochastic_penalty
from research.train.checkpoint import Checkpointer
from research.train.init_from import load_pretrained_params, merge_params

V, B, T, S = 11, 3, 6, 24


def key(seed: int) -> jax.Array:
  return jax.random.key(seed, impl="rbg")


ATT = ShowAttendTell(vocab_size=V, grid=3, features=(4, 6), embed_dim=8, hidden_dim=12, attention_dim=5)
PLAIN = ShowTell(vocab_size=V, grid=3, features=(4, 6), embed_dim=8, hidden_dim=12)


def inputs(seed=0):
  rng = np.random.default_rng(seed)
  image = jnp.asarray(rng.uniform(size=(B, S, S, 1)), jnp.float32)
  tokens = jnp.asarray(rng.integers(4, V, (B, T)), jnp.int32).at[:, 0].set(BOS_ID)
  return image, tokens


@pytest.fixture(scope="module")
def variables():
  image, tokens = inputs()
  return {m: jax.jit(m.init)(key(0), image, tokens) for m in (ATT, PLAIN)}


def test_pool_to_grid_matches_block_means():
  x = jax.random.normal(key(1), (2, 7, 8, 3))
  got = np.asarray(pool_to_grid(x, 3))
  xs = np.asarray(x)
  rows, cols = [(0, 2), (2, 4), (4, 7)], [(0, 2), (2, 5), (5, 8)]
  for r, (r0, r1) in enumerate(rows):
    for c, (c0, c1) in enumerate(cols):
      np.testing.assert_allclose(got[:, 3 * r + c], xs[:, r0:r1, c0:c1].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_shapes_and_attention_is_a_distribution(variables):
  image, tokens = inputs()
  logits, alphas = ATT.apply(variables[ATT], image, tokens)
  assert logits.shape == (B, T, V) and alphas.shape == (B, T, 9)
  np.testing.assert_allclose(np.asarray(alphas).sum(-1), 1.0, rtol=1e-5)
  assert (np.asarray(alphas) >= 0).all()
  assert np.asarray(alphas).std() > 0  # not uniform: it depends on the cells and the state
  logits_p, alphas_p = PLAIN.apply(variables[PLAIN], image, tokens)
  assert logits_p.shape == (B, T, V)
  np.testing.assert_allclose(np.asarray(alphas_p), 1.0 / 9, rtol=1e-6)
  assert "att_h" in variables[ATT]["params"] and "att_h" not in variables[PLAIN]["params"]


def test_attention_changes_with_the_image(variables):
  # Each cell's features enter the attention scores: moving content to another cell moves attention.
  image, tokens = inputs()
  moved = jnp.roll(image, S // 3, axis=2)
  _, a = ATT.apply(variables[ATT], image, tokens)
  _, b = ATT.apply(variables[ATT], moved, tokens)
  assert not np.allclose(np.asarray(a), np.asarray(b), atol=1e-4)


@pytest.mark.parametrize("model", [ATT, PLAIN], ids=["attention", "plain"])
def test_step_fn_equals_teacher_forced_forward(model, variables):
  image, tokens = inputs()
  v = variables[model]
  logits, alphas = model.apply(v, image, tokens)
  step_fn, cache = method_step_fns(model, v, image, 0)
  for t in range(T):
    log_probs, cache = step_fn(tokens[:, t], cache)
    np.testing.assert_allclose(np.asarray(log_probs), np.asarray(jax.nn.log_softmax(logits[:, t])), atol=1e-5)
    np.testing.assert_allclose(np.asarray(cache["alpha"]), np.asarray(alphas[:, t]), atol=1e-6)


def test_greedy_and_beam_decode(variables):
  image, _ = inputs()
  step_fn, cache = method_step_fns(ATT, variables[ATT], image, 0)
  greedy, g_scores = greedy_search(step_fn, cache, batch_size=B, max_len=7, bos_id=BOS_ID, eos_id=EOS_ID)
  beams, b_scores = beam_search(step_fn, cache, batch_size=B, beam_size=3, max_len=7, bos_id=BOS_ID, eos_id=EOS_ID)
  assert greedy.shape == (B, 7) and beams.shape == (B, 3, 7)
  assert (np.asarray(b_scores[:, 0]) >= np.asarray(g_scores) - 1e-4).all()  # beam never scores below greedy


def test_doubly_stochastic_term():
  rng = np.random.default_rng(0)
  alphas = rng.dirichlet(np.ones(4), size=(2, 5)).astype(np.float32)  # [B=2, T=5, L=4]
  mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
  want = [sum((1 - sum(alphas[b, t, i] * mask[b, t] for t in range(5))) ** 2 for i in range(4)) for b in range(2)]
  got = np.asarray(doubly_stochastic_penalty(jnp.asarray(alphas), jnp.asarray(mask)))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  changed = alphas.copy()
  changed[0, 3:] = rng.dirichlet(np.ones(4), size=2)  # masked steps do not count
  np.testing.assert_allclose(np.asarray(doubly_stochastic_penalty(jnp.asarray(changed), jnp.asarray(mask))), got,
                             rtol=1e-6)
  # One step per cell, each attending fully to its own cell, pays nothing.
  perfect = np.eye(4, dtype=np.float32)[None]
  assert float(doubly_stochastic_penalty(jnp.asarray(perfect), jnp.ones((1, 4)))[0]) == 0.0


class FixedOutputs(nn.Module):
  """Returns given (logits, alphas) whatever the input: to test the task's metrics exactly."""

  logits: np.ndarray
  alphas: np.ndarray
  attention: bool = True

  @nn.compact
  def __call__(self, image, tokens, *, train=False):
    del image, tokens, train
    self.param("unused", nn.initializers.zeros, (1,))
    return jnp.asarray(self.logits), jnp.asarray(self.alphas)


def test_task_loss_mask_and_alignment():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(2, 4, V)).astype(np.float32)
  alphas = np.full((2, 4, 9), 0.01, np.float32)
  alphas[0, 0, 2] = alphas[0, 2, 5] = alphas[1, 1, 7] = 0.92  # peaks: cell 2 (hit), 5 (miss: item at 6), 7 (hit)
  batch = {
      "image": jnp.zeros((2, 6, 6, 1), jnp.uint8), "caption_in": jnp.zeros((2, 4), jnp.int32),
      "caption_out": jnp.asarray(rng.integers(4, V, (2, 4)), jnp.int32),
      "caption_mask": jnp.asarray([[1, 1, 1, 0], [1, 1, 0, 0]], jnp.float32),
      "word_cell": jnp.asarray([[2, -1, 6, 6], [-1, 7, -1, -1]], jnp.int32),  # [0, 3] is padding: ignored
      "mask": jnp.ones((2,), jnp.float32),
  }
  task = CaptioningTask(ConfigDict(dict(doubly_stochastic=0.5)), {"max_value": 255})
  model = FixedOutputs(logits, alphas)
  variables = model.init(key(0), batch["image"], batch["caption_in"])
  loss, metrics, _ = task.loss_and_metrics(model, variables, batch, train=False, rngs=None)
  assert np.asarray(metrics["alignment"]).tolist() == [2.0, 3.0]
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, np.asarray(batch["caption_out"]))
  m = np.asarray(batch["caption_mask"])
  ds = np.asarray(doubly_stochastic_penalty(jnp.asarray(alphas), batch["caption_mask"]))
  np.testing.assert_allclose(float(loss), (ce * m).sum() / m.sum() + 0.5 * ds.mean(), rtol=1e-5)
  # A padded example (mask 0) changes nothing.
  padded = {k: jnp.concatenate([v, v[:1]]) for k, v in batch.items()}
  padded["mask"] = jnp.asarray([1, 1, 0], jnp.float32)
  model3 = FixedOutputs(np.concatenate([logits, logits[:1] * 5]), np.concatenate([alphas, alphas[:1]]))
  loss3, metrics3, _ = task.loss_and_metrics(model3, variables, padded, train=False, rngs=None)
  np.testing.assert_allclose(float(loss3), float(loss), rtol=1e-5)
  assert np.asarray(metrics3["alignment"]).tolist() == [2.0, 3.0]


def test_padding_after_eos_does_not_change_the_loss(variables):
  image, tokens = inputs()
  task = CaptioningTask(ConfigDict(), {"max_value": 1.0})
  mask = jnp.asarray([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], jnp.float32)
  batch = {"image": image, "caption_in": tokens, "caption_out": jnp.roll(tokens, -1, axis=1), "caption_mask": mask,
           "word_cell": -jnp.ones((B, T), jnp.int32), "mask": jnp.ones((B,), jnp.float32)}
  loss, _, _ = task.loss_and_metrics(ATT, variables[ATT], batch, train=False, rngs=None)
  garbled = dict(batch, caption_in=jnp.where(jnp.roll(mask, 1, axis=1).at[:, 0].set(1) > 0, tokens, 5),
                 caption_out=jnp.where(mask > 0, batch["caption_out"], 7))
  loss2, _, _ = task.loss_and_metrics(ATT, variables[ATT], garbled, train=False, rngs=None)
  np.testing.assert_allclose(float(loss), float(loss2), rtol=1e-6)


def test_training_lowers_loss(variables):
  image, tokens = inputs()
  task = CaptioningTask(ConfigDict(), {"max_value": 1.0})
  batch = {"image": image, "caption_in": tokens, "caption_out": jnp.roll(tokens, -1, axis=1),
           "caption_mask": jnp.ones((B, T), jnp.float32), "word_cell": -jnp.ones((B, T), jnp.int32),
           "mask": jnp.ones((B,), jnp.float32)}
  tx = optax.adam(3e-2)
  params = variables[ATT]["params"]

  @jax.jit
  def step(params, opt):
    loss, grads = jax.value_and_grad(lambda p: task.loss_and_metrics(ATT, {"params": p}, batch, train=False,
                                                                      rngs=None)[0])(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt, loss

  opt = tx.init(params)
  first = None
  for _ in range(30):
    params, opt, loss = step(params, opt)
    first = float(loss) if first is None else first
  assert float(loss) < 0.5 * first


def test_warm_start_copies_the_classifier_trunk(tmp_path):
  clf = CNNClassifier(num_classes=10, features=(4, 6))
  clf_params = clf.init(key(3), jnp.zeros((1, 28, 28, 1)))["params"]
  ckpt = Checkpointer(str(tmp_path / "cnn" / "checkpoints"), async_save=False)
  ckpt.save(5, {"params": clf_params}, force=True)
  ckpt.close()
  image, tokens = inputs()
  params = ATT.init(key(4), image, tokens)["params"]
  new = merge_params(params, load_pretrained_params(str(tmp_path / "cnn")), [("trunk", "trunk")])
  for a, b in zip(jax.tree.leaves(new["trunk"]), jax.tree.leaves(clf_params["trunk"]), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(new["lstm_h"]), np.asarray(params["lstm_h"]))
  wider = ShowAttendTell(vocab_size=V, grid=3, features=(4, 8), embed_dim=8, hidden_dim=12, attention_dim=5)
  with pytest.raises(UserError, match="does not fit"):
    merge_params(wider.init(key(4), image, tokens)["params"], load_pretrained_params(str(tmp_path / "cnn")),
                 [("trunk", "trunk")])


def test_evaluate_extra_decodes_and_scores(variables, tmp_path):
  from research.data.scenes import PairedSource, ragged
  from research.data.vocab import Vocab
  from research.evaluation.bleu import corpus_bleu_tokens
  from research.evaluation.outputs import read_decodes
  image, _ = inputs()
  refs = [[np.array([4, 6, 7]), np.array([4, 8])], [np.array([5, 9])], [np.array([6, 4, 5]), np.array([10])]]
  source = PairedSource({"image_index": np.arange(B), "caption": ragged([r[0] for r in refs]), "refs": ragged(refs),
                         "labels": np.array([[0, -1], [1, 0], [1, -1]]), "cells": np.array([[4, -1], [0, 8], [2, -1]]),
                         "num_items": np.array([1, 2, 1])}, images=np.asarray(image * 255, np.float32))
  vocab = Vocab.from_tokens([f"w{i}" for i in range(4, V)])
  info = {"max_value": 255, "max_caption_len": 5, "noun_ids": np.array([4, 5]), "vocab": vocab}
  task = CaptioningTask(ConfigDict(), info)
  task.prepare_workdir(str(tmp_path))
  config = ConfigDict(dict(decode=dict(beam_size=2, max_examples=B, batch_size=2, length_penalty=0.0,
                                       num_return_sequences=2)))
  results = task.evaluate_extra(ATT, variables[ATT], "test", source, config)
  # The decodes files: every returned caption, best first, and multi-reference statistics whose corpus BLEU and
  # chrF are the logged ones.
  for name, prefix in (("greedy", ""), ("beam", "beam_")):
    saved = read_decodes(str(tmp_path / "decodes" / f"test.{name}.jsonl"))
    assert saved.references == [[vocab.decode(r) for r in rs] for rs in refs]
    assert saved.bleu() == pytest.approx(results[f"{prefix}bleu4"], abs=1e-9)
    assert saved.chrf() == pytest.approx(results[f"{prefix}chrf"], abs=1e-9)
  beam = read_decodes(str(tmp_path / "decodes" / "test.beam.jsonl"))
  assert all(len(h) == 2 for h in beam.hypotheses) and np.all(np.diff(beam.scores, axis=1) <= 1e-6)
  out = task.decode_split(ATT, variables[ATT], source, config)
  assert len(out["greedy"]) == B and all(len(h) <= 6 for h in out["greedy"])
  refs_lists = [[list(map(int, r)) for r in rs] for rs in refs]
  assert results["bleu2"] == pytest.approx(corpus_bleu_tokens(out["greedy"], refs_lists, max_ngram_order=2).score)
  assert results["beam_bleu4"] == pytest.approx(corpus_bleu_tokens(out["beam"], refs_lists).score)
  for name in ("object_precision", "object_recall", "alignment_greedy"):
    if name in results:
      assert 0.0 <= results[name] <= 1.0
  # Sampling through config.decode.methods: scored as sample_bleu<n>; top_k=1 samples are the greedy captions.
  config.decode.methods = ("greedy", "sample")
  config.decode.top_k = 1
  sampled = task.evaluate_extra(ATT, variables[ATT], "test", source, config)
  assert "beam_bleu4" not in sampled
  assert sampled["sample_bleu4"] == pytest.approx(results["bleu4"])


@pytest.mark.skipif(not os.environ.get("RESEARCH_SLOW_TESTS"), reason="~1-2 min on 2 CPU cores; set RESEARCH_SLOW_TESTS=1")
def test_end_to_end_run(tmp_path):
  """configs/captioning.py:runlocal through the Trainer on an idx.gz fixture: loss, BLEU, alignment."""
  import importlib

  import research.data.scenes  # noqa: F401  (registers fashion_scenes)
  from research import registry
  fixture = make_fashion_fixture(str(tmp_path / "src"), n_train=40, n_test=12)
  config = importlib.import_module("configs.captioning").get_config(f"runlocal,local_dir={fixture}")
  config.data_dir = str(tmp_path / "tfds")
  results = registry.trainers.get(config.trainer)(config, str(tmp_path / "run"))["test"]
  for name in ("loss", "token_accuracy", "alignment", "bleu1", "bleu4", "beam_bleu4", "chrf", "beam_chrf",
               "doubly_stochastic"):
    assert np.isfinite(results[name]), name
  assert 0 <= results["bleu4"] <= results["bleu1"] <= 100
  assert os.path.exists(tmp_path / "run" / "results.md")
