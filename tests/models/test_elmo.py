"""ELMo's two LMs cannot see the token they predict; the leaky biLM can (gradient tests); features and mix."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import elmo
from research.tasks.language import token_nll

V, T, E = 23, 7, 8


def _tokens(lengths=(T, 5)):
  rng = np.random.default_rng(0)
  tok = rng.integers(4, V, (len(lengths), T)).astype(np.int32)
  for i, n in enumerate(lengths):
    tok[i, n:] = 0
  return jnp.asarray(tok)


def _grad_pattern(lm, params, tokens):
  """g[b, t, s] = ‖∂ loss_t / ∂ embedding_s‖ for row b, loss_t = −log p(token t) from the aligned logits."""
  lengths = (tokens != 0).sum(1)
  emb = lm.apply({"params": params}, tokens, method=lambda m, t: m.embed(t))

  def losses(e):  # [B, T]: per-row, per-position losses (rows are independent)
    logits = lm.apply({"params": params}, e, lengths, method="from_embeddings")
    return token_nll(logits, tokens)

  jac = jax.jit(jax.jacrev(losses))(emb)  # [B, T, B, T, E]
  b = np.arange(tokens.shape[0])
  return np.linalg.norm(np.asarray(jac)[b, :, b], axis=-1)


def _direction(model, reverse):
  """The standalone LM with the same settings as one direction of `model` (reads params['forward'|'backward'])."""
  return elmo.LSTMLanguageModel(vocab_size=V, embed_dim=E, hidden_dim=E, num_layers=model.num_layers, reverse=reverse)


@pytest.fixture(scope="module")
def bilm():
  model = elmo.BiLM(vocab_size=V, embed_dim=E, hidden_dim=E, num_layers=2)
  params = model.init(jax.random.PRNGKey(0), _tokens())["params"]
  return model, params


def test_forward_lm_sees_only_the_past(bilm):
  model, params = bilm
  tokens = _tokens()
  g = _grad_pattern(_direction(model, False), params["forward"], tokens)
  for b, n in enumerate((T, 5)):
    for t in range(1, n):
      assert np.all(g[b, t, t:] == 0.0), (b, t)           # tokens ≥ t: exactly no influence
      assert np.all(g[b, t, :t] > 0.0), (b, t)            # every earlier token matters


def test_backward_lm_sees_only_the_future(bilm):
  model, params = bilm
  tokens = _tokens()
  g = _grad_pattern(_direction(model, True), params["backward"], tokens)
  for b, n in enumerate((T, 5)):
    for t in range(n - 1):
      assert np.all(g[b, t, :t + 1] == 0.0), (b, t)       # tokens ≤ t: no influence
      assert np.all(g[b, t, t + 1:n] > 0.0), (b, t)       # later real tokens matter
      assert np.all(g[b, t, n:] == 0.0), (b, t)           # padding never matters


def test_leaky_bilm_sees_the_token_it_predicts():
  model = elmo.LeakyBiLM(vocab_size=V, embed_dim=E, hidden_dim=E, num_layers=1)
  tokens = _tokens((T,))
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  g = _grad_pattern(model, params, tokens)
  for t in range(1, T):
    assert g[0, t, t] > 0.0  # the leak: the loss at t depends on token t itself


def test_lm_outputs_and_weights(bilm):
  model, params = bilm
  tokens = _tokens()
  out = model.apply({"params": params}, tokens)
  assert set(out) == {"forward", "backward"}
  assert out["forward"]["logits"].shape == (2, T, V)
  np.testing.assert_array_equal(out["forward"]["weights"][1], [0, 1, 1, 1, 1, 0, 0])
  np.testing.assert_array_equal(out["backward"]["weights"][1], [1, 1, 1, 1, 0, 0, 0])


def test_representations_mix_and_frozen_features(bilm):
  model, params = bilm
  tokens = _tokens()
  reps = model.apply({"params": params}, tokens, method="representations")
  assert reps.shape == (3, 2, T, 2 * E)
  clf = elmo.ELMoClassifier(vocab_size=V, num_classes=2, embed_dim=E, hidden_dim=E, num_layers=2, head_hidden_dim=4)
  variables = clf.init(jax.random.PRNGKey(2), tokens)
  cp = {**variables["params"], "bilm": params}
  stats = variables["batch_stats"]
  mix = elmo.ScalarMix()
  mp = {"weights": jnp.array([0.0, 1.0, 2.0]), "gamma": jnp.array(2.0)}
  w = jax.nn.softmax(mp["weights"])
  np.testing.assert_allclose(mix.apply({"params": mp}, reps), 2.0 * jnp.einsum("l,l...->...", w, reps), rtol=1e-5)

  def loss(p):
    return clf.apply({"params": p, "batch_stats": stats}, tokens).sum()

  g = jax.grad(loss)(cp)
  assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g["bilm"]))   # frozen
  assert float(jnp.abs(g["mix"]["weights"]).max()) > 0.0                           # the mix learns
