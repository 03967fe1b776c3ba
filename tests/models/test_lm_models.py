"""LSTM classifier pooling over masked sequences, the LSTM LM's decoding path and sampling, the 'lm' task."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from research import decoding
from research.errors import UserError
from research.models import elmo, lstm_lm
from research.tasks.language import LanguageModelTask

V = 17


def test_reverse_within_length():
  x = jnp.asarray([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
  lengths = jnp.asarray([3, 5])
  r = lstm_lm.reverse_within_length(x, lengths)
  np.testing.assert_array_equal(r, [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4]])
  np.testing.assert_array_equal(lstm_lm.reverse_within_length(r, lengths), x)


def test_masked_pool_matches_numpy():
  rng = np.random.default_rng(0)
  h = rng.normal(size=(2, 5, 3)).astype(np.float32)
  valid = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
  lengths = valid.sum(1)
  pool = {p: np.asarray(lstm_lm.masked_pool(jnp.asarray(h), jnp.asarray(valid), jnp.asarray(lengths), p))
          for p in lstm_lm.POOLINGS}
  np.testing.assert_allclose(pool["last"], [h[0, 2], h[1, 4]])
  np.testing.assert_allclose(pool["mean"], [h[0, :3].mean(0), h[1].mean(0)], rtol=1e-6)
  np.testing.assert_allclose(pool["max"], [h[0, :3].max(0), h[1].max(0)])
  with pytest.raises(UserError, match="pooling"):
    lstm_lm.masked_pool(jnp.asarray(h), jnp.asarray(valid), jnp.asarray(lengths), "first")


@pytest.mark.parametrize("pooling", lstm_lm.POOLINGS)
def test_classifier_ignores_padding(pooling):
  model = lstm_lm.LSTMClassifier(vocab_size=V, num_classes=2, embed_dim=8, hidden_dim=8, pooling=pooling)
  tok = jnp.asarray([[5, 6, 7, 0], [8, 9, 10, 11]], jnp.int32)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), tok)
  apply = jax.jit(model.apply)
  np.testing.assert_allclose(apply(params, tok), apply(params, jnp.pad(tok, ((0, 0), (0, 3)))), atol=1e-6)


@pytest.fixture(scope="module")
def lm():
  model = lstm_lm.LSTMLanguageModel(vocab_size=V, embed_dim=8, hidden_dim=8, num_layers=2)
  tok = jnp.asarray(np.random.default_rng(1).integers(4, V, (3, 6)), jnp.int32)
  return model, jax.jit(model.init)(jax.random.PRNGKey(0), tok), tok


def test_decode_steps_equal_the_training_pass(lm):
  model, variables, tok = lm
  full = model.apply(variables, tok)["forward"]["logits"]  # full[:, t] predicts token t from tokens < t
  last, cache = jax.jit(lstm_lm.prime, static_argnums=0)(model, variables, tok)
  log_probs, _ = lstm_lm.lm_step_fn(model, variables)(last, cache)  # distribution of the token after tok
  ext = jnp.concatenate([tok, jnp.zeros((3, 1), jnp.int32) + 4], axis=1)
  ref = model.apply(variables, ext)["forward"]["logits"][:, -1]
  np.testing.assert_allclose(log_probs, jax.nn.log_softmax(ref), atol=1e-5)
  assert full.shape == (3, 6, V)


def test_sampling_temperature_and_top_k(lm):
  """The LM generates through research/decoding's searches: decode_fns continues each prompt."""
  model, variables, tok = lm
  step_fn = jax.jit(lstm_lm.lm_step_fn(model, variables))
  last, cache = jax.jit(lstm_lm.prime, static_argnums=0)(model, variables, tok)

  @functools.partial(jax.jit, static_argnums=(1, 2))
  def draw(key, top_k, temperature):
    fns, c = lstm_lm.decode_fns(model, variables, tok)
    seqs, _ = decoding.temperature_sample(fns, c, key, batch_size=3, max_len=5, bos_id=1, eos_id=-1, top_k=top_k,
                                          temperature=temperature)
    return seqs[:, 0]

  greedy = []
  t, c = last, cache
  for _ in range(5):
    lp, c = step_fn(t, c)
    t = lp.argmax(-1).astype(jnp.int32)
    greedy.append(t)
  greedy = np.stack(greedy, 1)
  np.testing.assert_array_equal(draw(jax.random.PRNGKey(0), 1, 1.0), greedy)      # top-1 = greedy
  np.testing.assert_array_equal(draw(jax.random.PRNGKey(3), 0, 1e-4), greedy)     # T → 0 = greedy
  fns, c0 = lstm_lm.decode_fns(model, variables, tok)
  searched, _ = decoding.greedy_search(fns, c0, batch_size=3, max_len=5, bos_id=1, eos_id=-1)
  np.testing.assert_array_equal(searched, greedy)
  samples = np.asarray(draw(jax.random.PRNGKey(4), 3, 1.0))
  t, c = last, cache
  for i in range(5):  # each sampled token is among the 3 most likely given the sampled prefix
    lp, c = step_fn(t, c)
    top3 = np.argsort(-np.asarray(lp), axis=-1)[:, :3]
    assert all(samples[b, i] in top3[b] for b in range(3))
    t = jnp.asarray(samples[:, i])
  many = {tuple(np.asarray(draw(jax.random.PRNGKey(k), 0, 2.0)).ravel()) for k in range(5)}
  assert len(many) > 1  # different keys, different samples


def _task_metrics(model, tokens):
  task = LanguageModelTask(ConfigDict(dict(lm_hide_target=True)), {"unk_id": 3})
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), tokens)
  batch = {"tokens": tokens, "mask": jnp.ones(tokens.shape[0])}
  loss, metrics, _ = jax.jit(lambda v: task.loss_and_metrics(model, v, batch, train=False, rngs=None))(variables)
  return float(loss), {k: float(v[0] / v[1]) for k, v in metrics.items()}


def test_hidden_target_evaluation_exposes_only_the_leaky_model():
  tok = jnp.asarray(np.random.default_rng(2).integers(4, V, (4, 6)), jnp.int32).at[1, 4:].set(0)
  loss, m = _task_metrics(elmo.BiLM(vocab_size=V, embed_dim=8, hidden_dim=8, num_layers=1), tok)
  # Honest models: hiding the predicted token changes nothing.
  assert m["forward_hidden_loss"] == pytest.approx(m["forward_loss"], abs=1e-5)
  assert m["backward_hidden_loss"] == pytest.approx(m["backward_loss"], abs=1e-5)
  assert loss == pytest.approx(m["forward_loss"] + m["backward_loss"], abs=1e-5)
  _, m = _task_metrics(elmo.LeakyBiLM(vocab_size=V, embed_dim=8, hidden_dim=8, num_layers=1), tok)
  assert abs(m["bidirectional_hidden_loss"] - m["bidirectional_loss"]) > 1e-4  # it reads the token it predicts
