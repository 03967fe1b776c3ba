"""Greedy / beam / exhaustive search on toy Markov chains whose answers can be checked exactly."""

from __future__ import annotations

import functools
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.decoding import NEG_INF, beam_search, exhaustive_search, greedy_search, score_sequences
from research.decoding import search as decoding

# ----------------------------------------------------------------------------------------------------
# Toy models. Token ids 0..V-1 are the vocabulary; bos = V is only ever an input.


def markov_cache(seed: int, batch: int, vocab: int, temperature: float = 1.5) -> dict:
  """A first-order chain per batch item: table[b, prev, next] = log p(next | prev), prev in 0..V (V = bos)."""
  logits = np.random.default_rng(seed).normal(size=(batch, vocab + 1, vocab)) * temperature
  return {"table": jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)}


def markov_step(tokens, cache):
  """log_probs depend on the previous token only; the cache (the chain's table) is per row."""
  rows = jnp.arange(tokens.shape[0])
  return cache["table"][rows, tokens], cache


HASH_BUCKETS = 61


def history_cache(seed: int, batch: int, vocab: int, max_len: int) -> dict:
  """A model whose next-token distribution depends on the whole token history recorded in its cache.

  hist[b, j] is the token fed at step j (-1 = not yet); step_fn hashes the full recorded history to
  pick a distribution, so any mix-up when beams gather the cache changes the scores.
  """
  rng = np.random.default_rng(seed)
  table = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(batch, HASH_BUCKETS, vocab)) * 1.5, jnp.float32), -1)
  return {"hist": jnp.full((batch, max_len + 1), -1, jnp.int32), "t": jnp.zeros((batch,), jnp.int32),
          "table": table}


def history_step(tokens, cache):
  rows = jnp.arange(tokens.shape[0])
  hist = cache["hist"].at[rows, cache["t"]].set(tokens)
  weights = (jnp.arange(hist.shape[1]) * 7 + 3) % HASH_BUCKETS
  key = jnp.sum((hist + 1) * weights, axis=1) % HASH_BUCKETS
  return cache["table"][rows, key], {"hist": hist, "t": cache["t"] + 1, "table": cache["table"]}


@functools.cache
def _jitted(fn, step_fn, options):
  return jax.jit(functools.partial(fn, step_fn, **dict(options)))


def run(fn, step_fn, cache, **kw):
  """fn(step_fn, cache, **kw) under jit; one compile per distinct (fn, step_fn, kw, shapes)."""
  return _jitted(fn, step_fn, tuple(sorted(kw.items())))(cache)


def _score_sequences(step_fn, cache_and_sequences, **kw):
  return score_sequences(step_fn, *cache_and_sequences, **kw)


def rescore(step_fn, cache, sequences, **kw):
  """score_sequences under jit (cached like `run`)."""
  return run(_score_sequences, step_fn, (cache, jnp.asarray(sequences)), **kw)


def beams_needed(vocab: int, max_len: int) -> int:
  """A beam this wide never prunes: ≥ every step's candidate count (V-1)^(T-1)·V, so it must equal exhaustive."""
  return (vocab - 1) ** (max_len - 1) * vocab


# ----------------------------------------------------------------------------------------------------
# Fixed cases.


def test_notes_example_beam_beats_greedy():
  # bos -> a (0.6) or b (0.4); after a every token is 1/3; after b, eos has 0.9. Greedy commits to a
  # (best path 0.6 * 1/3 = 0.2) while the best complete sequence is [b, eos] with 0.4 * 0.9 = 0.36.
  eos, a, b, bos = 0, 1, 2, 3
  probs = np.full((4, 3), 1 / 3)
  probs[bos] = [1e-6, 0.6, 0.4 - 1e-6]
  probs[b] = [0.9, 0.05, 0.05]
  cache = {"table": jnp.log(jnp.asarray(probs, jnp.float32))[None]}
  kw = dict(batch_size=1, max_len=2, bos_id=bos, eos_id=eos, pad_id=9)
  greedy_seqs, greedy_scores = run(greedy_search, markov_step, cache, **kw)
  assert greedy_seqs[0, 0] == a
  np.testing.assert_allclose(np.exp(greedy_scores[0]), 0.6 / 3, rtol=1e-5)
  seqs, scores = run(beam_search, markov_step, cache, beam_size=3, **kw)
  np.testing.assert_array_equal(seqs[0, 0], [b, eos])
  np.testing.assert_allclose(np.exp(scores[0, 0]), 0.4 * 0.9, rtol=1e-5)
  ex_seqs, ex_scores = run(exhaustive_search, markov_step, cache, beam_size=3, **kw)
  np.testing.assert_array_equal(ex_seqs[0, 0], seqs[0, 0])
  np.testing.assert_allclose(ex_scores[0, 0], scores[0, 0], rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_is_greedy(seed):
  vocab, max_len, batch = 6, 7, 4
  cache = markov_cache(seed, batch, vocab, temperature=1.0)
  kw = dict(batch_size=batch, max_len=max_len, bos_id=vocab, eos_id=seed % vocab, pad_id=vocab + 1)
  greedy_seqs, greedy_scores = run(greedy_search, markov_step, cache, **kw)
  beam_seqs, beam_scores = run(beam_search, markov_step, cache, beam_size=1, **kw)
  np.testing.assert_array_equal(beam_seqs[:, 0], greedy_seqs)
  np.testing.assert_array_equal(beam_scores[:, 0], greedy_scores)
  rescored = rescore(markov_step, cache, greedy_seqs[:, None], bos_id=vocab, eos_id=kw["eos_id"])
  np.testing.assert_array_equal(rescored[:, 0], greedy_scores)
  for seq in np.asarray(greedy_seqs):
    ends = np.flatnonzero(seq == kw["eos_id"])
    if len(ends):
      assert np.all(seq[ends[0] + 1:] == kw["pad_id"])


def test_greedy_with_the_argmax_pick_is_the_same(monkeypatch):
  """greedy_search with `pick_by_argmax` (the GPU alternative) returns what the default pick returns."""
  for seed in range(3):
    cache = markov_cache(seed, 4, 6, temperature=1.0 + seed)
    kw = dict(batch_size=4, max_len=7, bos_id=6, eos_id=seed, pad_id=7)
    outs = []
    for pick in (decoding.pick_by_top_k, decoding.pick_by_argmax):
      monkeypatch.setattr(decoding, "_greedy_pick", pick)
      outs.append(jax.jit(functools.partial(greedy_search, markov_step, **kw))(cache))  # a fresh trace each
    np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][1], outs[0][1])


@pytest.mark.parametrize("model,alpha", [("markov", 0.0), ("markov", 0.8), ("history", 0.0), ("history", -0.5)])
def test_wide_beam_equals_exhaustive(model, alpha):
  vocab, max_len, batch = 3, 3, 3
  if model == "markov":
    step_fn, cache = markov_step, markov_cache(7, batch, vocab)
  else:
    step_fn, cache = history_step, history_cache(7, batch, vocab, max_len)
  kw = dict(batch_size=batch, max_len=max_len, bos_id=vocab, eos_id=1, pad_id=vocab + 1, length_penalty=alpha,
            beam_size=beams_needed(vocab, max_len))
  beam_seqs, beam_scores = run(beam_search, step_fn, cache, **kw)
  ex_seqs, ex_scores = run(exhaustive_search, step_fn, cache, **kw)
  # The hypotheses are [e], [x e], [x x e], [x x x] with x != eos: 1 + 2 + 4 + 8 = 15 ≥ K = 12, so
  # every slot holds a real hypothesis and the two best-12 lists must agree entry by entry.
  np.testing.assert_array_equal(beam_seqs, ex_seqs)
  np.testing.assert_allclose(beam_scores, ex_scores, rtol=1e-6, atol=1e-6)
  assert np.all(np.asarray(ex_scores) > NEG_INF / 2)


def test_slots_beyond_the_number_of_hypotheses_are_empty():
  # V = 2, T = 2 has 3 hypotheses: [e], [x e], [x x]; a beam of 5 leaves 2 empty slots.
  vocab, max_len = 2, 2
  cache = markov_cache(3, 2, vocab)
  kw = dict(batch_size=2, max_len=max_len, bos_id=vocab, eos_id=0, pad_id=7, beam_size=5)
  beam_seqs, beam_scores = run(beam_search, markov_step, cache, **kw)
  ex_seqs, ex_scores = run(exhaustive_search, markov_step, cache, **kw)
  np.testing.assert_array_equal(beam_seqs, ex_seqs)
  np.testing.assert_allclose(beam_scores, ex_scores, rtol=1e-6)
  np.testing.assert_array_equal(beam_scores[:, 3:], NEG_INF)
  np.testing.assert_array_equal(beam_seqs[:, 3:], 7)
  # The three real hypotheses are a probability distribution over complete sequences.
  np.testing.assert_allclose(np.exp(np.asarray(beam_scores[:, :3])).sum(axis=1), 1.0, rtol=1e-5)


def test_batch_items_are_independent():
  vocab, max_len, batch, beam = 5, 5, 4, 3
  cache = history_cache(11, batch, vocab, max_len)
  kw = dict(max_len=max_len, bos_id=vocab, eos_id=2, pad_id=vocab + 1, beam_size=beam, length_penalty=0.6)
  seqs, scores = run(beam_search, history_step, cache, batch_size=batch, **kw)
  for i in range(batch):
    alone = jax.tree_util.tree_map(lambda x, i=i: x[i:i + 1], cache)
    seqs_i, scores_i = run(beam_search, history_step, alone, batch_size=1, **kw)
    np.testing.assert_array_equal(seqs_i[0], seqs[i])
    np.testing.assert_array_equal(scores_i[0], scores[i])


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_gathered_history_cache_matches_returned_sequences(alpha):
  # The model reads its whole token history from the cache. Re-scoring each returned sequence with a
  # fresh, un-gathered cache reproduces the beam's score only if beam search gathered the cache rows
  # along the same lineage as the sequences.
  vocab, max_len, batch, beam = 5, 6, 3, 4
  cache = history_cache(5, batch, vocab, max_len)
  kw = dict(batch_size=batch, max_len=max_len, bos_id=vocab, eos_id=0, pad_id=vocab + 1, length_penalty=alpha)
  seqs, scores = run(beam_search, history_step, cache, beam_size=beam, **kw)
  rescored = rescore(history_step, cache, seqs, bos_id=vocab, eos_id=0, length_penalty=alpha)
  np.testing.assert_allclose(scores, rescored, rtol=1e-6)
  if alpha == 0.0:  # same float32 additions in the same order
    np.testing.assert_array_equal(scores, rescored)


def test_gather_beams_on_a_pytree():
  tree = {"a": jnp.arange(2 * 3).reshape(2, 3), "b": (jnp.arange(2 * 3 * 4).reshape(2, 3, 4) * 1.5,)}
  index = jnp.array([[2, 0], [1, 1]])
  out = decoding.gather_beams(tree, index)
  np.testing.assert_array_equal(out["a"], [[2, 0], [4, 4]])
  expected = np.asarray(tree["b"][0])[np.array([[0, 0], [1, 1]]), np.asarray(index)]
  np.testing.assert_array_equal(out["b"][0], expected)
  flat = decoding.flatten_beam_dim(tree["b"][0])
  assert flat.shape == (6, 4)
  np.testing.assert_array_equal(decoding.unflatten_beam_dim(flat, 2, 3), tree["b"][0])


@pytest.mark.parametrize("platform", ["cpu", "gpu"])
def test_unroll_changes_nothing(platform):
  """Greedy and beam search give the same sequences and scores with 1 or 3 steps per loop iteration (and 2 in the
  first two cases), with each platform's selection variants: steps run past max_len (no max_len below is a
  multiple of 3) or after every row is complete (early stops) change nothing."""
  cases = [("markov", 3, 5, 3, 5, 0.0), ("markov", 2, 30, 4, 8, 0.6), ("history", 2, 4, 3, 7, -0.4),
           ("history", 3, 3, 2, 4, 0.0), ("markov", 1, 3, 1, 1, 0.0)]
  for seed, (model, batch, vocab, beam, max_len, alpha) in enumerate(cases):
    if model == "markov":
      step, cache = markov_step, markov_cache(seed, batch, vocab, temperature=3.0)  # peaked: early eos and stops
    else:
      step, cache = history_step, history_cache(seed, batch, vocab, max_len)
    kw = dict(max_len=max_len, bos_id=vocab, eos_id=seed % vocab, pad_id=vocab + 1)
    results = []
    with decoding.tuned_for(platform):
      for unroll in ((1, 2, 3) if seed < 2 else (1, 3)):  # a fresh jit each: the variants are picked while tracing
        greedy = jax.jit(functools.partial(greedy_search, step, batch_size=batch, unroll=unroll, **kw))(cache)
        beams = jax.jit(functools.partial(beam_search, step, batch_size=batch, beam_size=beam, unroll=unroll,
                                          length_penalty=alpha, **kw))(cache)
        results.append(jax.tree_util.tree_map(np.asarray, (greedy, beams)))
    for other in results[1:]:
      for want, got in zip(jax.tree_util.tree_leaves(results[0]), jax.tree_util.tree_leaves(other), strict=True):
        assert want.shape == got.shape
        np.testing.assert_array_equal(got, want)


def test_unroll_default_and_bad_values():
  with decoding.tuned_for("cpu"):
    assert decoding.default_unroll() == 1
  with decoding.tuned_for("gpu"):
    assert decoding.default_unroll() == 2
  assert decoding.tuned_platform() == jax.default_backend()
  cache = markov_cache(0, 2, 4)
  for bad in (0, -1, 1.5, True):
    with pytest.raises(ValueError, match="unroll must be a positive int"):
      greedy_search(markov_step, cache, batch_size=2, max_len=3, bos_id=4, eos_id=0, unroll=bad)
    with pytest.raises(ValueError, match="unroll must be a positive int"):
      beam_search(markov_step, cache, batch_size=2, beam_size=2, max_len=3, bos_id=4, eos_id=0, unroll=bad)


def test_beam_search_is_one_while_loop():
  cache = markov_cache(0, 2, 4)
  fn = functools.partial(beam_search, markov_step, batch_size=2, beam_size=3, max_len=5, bos_id=4, eos_id=0)
  jaxpr = jax.make_jaxpr(fn)(cache)
  loops = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "while"]
  assert len(loops) == 1
  assert not any(e.primitive.name in ("pure_callback", "io_callback") for e in jaxpr.jaxpr.eqns)


@pytest.mark.parametrize("unroll", [1, 2])
def test_early_stop_when_no_live_beam_can_win(unroll):
  # eos is near-certain at every step: after a couple of steps the finished beams dominate every live
  # one, so the loop must stop long before max_len and still return the exhaustive answer. The stop test
  # runs between loop iterations: with 2 steps per iteration the step count rounds up to an even number.
  vocab, max_len, beam = 3, 8, 2
  logits = np.full((1, vocab + 1, vocab), -6.0)
  logits[:, :, 0] = 6.0
  logits[:, :, 1] = np.random.default_rng(0).normal(size=(vocab + 1,))
  cache = {"table": jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)}
  calls = []

  def counting_step(tokens, cache):
    jax.debug.callback(lambda: calls.append(1))
    return markov_step(tokens, cache)

  kw = dict(batch_size=1, max_len=max_len, bos_id=vocab, eos_id=0, pad_id=9, beam_size=beam)
  seqs, scores = run(beam_search, counting_step, cache, unroll=unroll, **kw)
  jax.effects_barrier()
  most = -(-3 // unroll) * unroll
  assert 1 <= len(calls) <= most, f"beam search ran {len(calls)} steps; early stopping should cut it to ≤ {most}"
  ex_seqs, ex_scores = run(exhaustive_search, markov_step, cache, **kw)
  np.testing.assert_array_equal(seqs, ex_seqs)
  np.testing.assert_allclose(scores, ex_scores, rtol=1e-6)


def test_early_stop_respects_length_penalty():
  # bos -> eos (0.7) or a (0.3); a -> a with probability ~1. With alpha = 3 the finished [eos] scores
  # log 0.7 / 1 = -0.36 while [a a a a a a] reaches log 0.3 / ((5 + 6) / 6)^3 = -0.20. A bound that
  # divided the live log-prob by the penalty of the *next* length (-1.20 / 1.59 = -0.76) would stop
  # after one step and return [eos]; the search must keep going and find the long hypothesis.
  eos, a, bos = 0, 1, 3
  probs = np.full((4, 3), 1 / 3)
  probs[bos] = [0.7, 0.3 - 1e-6, 1e-6]
  probs[a] = [1e-6, 1 - 2e-6, 1e-6]
  cache = {"table": jnp.log(jnp.asarray(probs, jnp.float32))[None]}
  kw = dict(batch_size=1, max_len=6, bos_id=bos, eos_id=eos, pad_id=9, beam_size=1, length_penalty=3.0)
  seqs, scores = run(beam_search, markov_step, cache, **kw)
  np.testing.assert_array_equal(seqs[0, 0], [a] * 6)
  np.testing.assert_allclose(scores[0, 0], np.log(0.3) / (11 / 6) ** 3, rtol=1e-4)
  ex_seqs, ex_scores = run(exhaustive_search, markov_step, cache, **kw)
  np.testing.assert_array_equal(ex_seqs, seqs)


def test_cache_without_batch_dimension_is_rejected():
  cache = markov_cache(0, 2, 3)
  cache["step"] = jnp.int32(0)  # a scalar leaf cannot be repeated per beam
  with pytest.raises(ValueError, match="leading dimension B=2"):
    beam_search(markov_step, cache, batch_size=2, beam_size=2, max_len=3, bos_id=3, eos_id=0)


def test_minus_inf_log_probs_stay_finite():
  # A model that masks a token with -inf must not produce nan scores.
  vocab = 4
  cache = markov_cache(2, 2, vocab)
  cache["table"] = cache["table"].at[:, :, 3].set(-jnp.inf)
  kw = dict(batch_size=2, max_len=4, bos_id=vocab, eos_id=0, pad_id=9, beam_size=3)
  seqs, scores = run(beam_search, markov_step, cache, **kw)
  assert np.all(np.isfinite(scores))
  assert not np.any(np.asarray(seqs) == 3)


# ----------------------------------------------------------------------------------------------------
# Properties on random chains.


@settings(max_examples=20, deadline=None)
@given(vocab=st.integers(2, 4), max_len=st.integers(1, 4), batch=st.integers(1, 2), beam=st.integers(1, 4),
       eos_offset=st.integers(0, 3), alpha=st.sampled_from([0.0, 0.6, -0.4]), seed=st.integers(0, 2**16))
def test_decoder_properties(vocab, max_len, batch, beam, eos_offset, alpha, seed):
  eos, bos, pad = eos_offset % vocab, vocab, vocab + 1
  cache = markov_cache(seed, batch, vocab)
  kw = dict(batch_size=batch, max_len=max_len, bos_id=bos, eos_id=eos, pad_id=pad)
  seqs, scores = map(np.asarray, run(beam_search, markov_step, cache, beam_size=beam, length_penalty=alpha, **kw))
  ex_seqs, ex_scores = map(np.asarray, run(exhaustive_search, markov_step, cache, beam_size=beam,
                                           length_penalty=alpha, **kw))

  assert seqs.shape == ex_seqs.shape == (batch, beam, max_len) and seqs.dtype == np.int32
  assert scores.shape == (batch, beam) and scores.dtype == np.float32

  real = scores > NEG_INF / 2
  for s, ok in ((seqs, real), (ex_seqs, ex_scores > NEG_INF / 2)):
    for seq, is_real in zip(s.reshape(-1, max_len), ok.reshape(-1), strict=True):
      if not is_real:
        assert np.all(seq == pad)
        continue
      ends = np.flatnonzero(seq == eos)
      length = ends[0] + 1 if len(ends) else max_len
      assert np.all(seq[length:] == pad), seq  # nothing but pad after eos
      assert np.all(seq[:length] < vocab), seq  # no pad or bos inside a hypothesis

  # Best first, and real hypotheses before empty slots.
  assert np.all(np.diff(scores, axis=1) <= 1e-6)
  assert np.all(np.diff(ex_scores, axis=1) <= 1e-6)
  # The oracle is an upper bound on what beam search finds; K distinct real hypotheses per item.
  assert np.all(scores[:, 0] <= ex_scores[:, 0] + 1e-5)
  for b in range(batch):
    rows = {tuple(r) for r, ok in zip(seqs[b], real[b], strict=True) if ok}
    assert len(rows) == real[b].sum()
  # Scores are what the chain says about the returned sequences (re-scored here in numpy).
  table = np.asarray(cache["table"])
  for b in range(batch):
    for seq, score, is_real in zip(seqs[b], scores[b], real[b], strict=True):
      if not is_real:
        assert score == NEG_INF
        continue
      ends = np.flatnonzero(seq == eos)
      length = ends[0] + 1 if len(ends) else max_len
      prev, total = bos, np.float32(0.0)
      for token in seq[:length]:
        total, prev = np.float32(total + table[b, prev, token]), token
      np.testing.assert_allclose(score, total / ((5.0 + length) / 6.0) ** alpha, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vocab", [3, 50])
def test_two_stage_candidate_selection_equals_one_top_k(vocab):
  """The beam's best-2K selection (per-beam top_k, then over K·2K) equals one top_k over all K·V scores,
  including which (parent, token) wins among equal scores (lower parent, then lower token)."""
  b, k = 3, 4
  key_lp, key_live = jax.random.split(jax.random.key(0))
  log_probs = jax.random.normal(key_lp, (b, k, vocab))
  log_probs = jnp.round(log_probs * 2) / 2  # coarse values: many exact ties
  live = jnp.array([[0.0, -1.0, -1.0, NEG_INF]] * b)
  flat = (live[:, :, None] + log_probs).reshape(b, k * vocab)
  want_scores, want_index = jax.lax.top_k(flat, 2 * k)
  selectors = [decoding._top_candidates, decoding.top_candidates_one_stage]
  if vocab > 2 * k:  # two stages need at least 2K tokens per beam; `_top_candidates` falls back below that
    selectors.append(decoding.top_candidates_two_stage)
  for select in selectors:
    scores, parent, token = select(live, log_probs, 2 * k)
    np.testing.assert_array_equal(scores, want_scores)
    np.testing.assert_array_equal(parent * vocab + token, want_index)


def tie_heavy_rows(rows: int, n: int) -> jax.Array:
  """float32[rows, n]: coarse values (many exact ties), 20% -inf, one NEG_INF, and -0.0 / +0.0 in row 1."""
  rng = np.random.default_rng(n)
  x = np.round(rng.normal(size=(rows, n)) * 2) / 2
  x[rng.random(x.shape) < 0.2] = -np.inf
  x[0, 0] = NEG_INF
  x[1, 0], x[1, -1] = -0.0, 0.0  # top_k ranks +0.0 above -0.0 (its total order)
  return jnp.asarray(x, jnp.float32)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (5, 2), (8, 4), (12, 4), (13, 13)])
def test_top_k_by_rank_equals_lax_top_k(n, k):
  """Values and indices as jax.lax.top_k's, on coarse values (many ties), -inf, NEG_INF and ±0.0 entries."""
  x = tie_heavy_rows(64, n).reshape(8, 8, n)
  want_values, want_index = jax.lax.top_k(x, k)
  values, index = decoding.top_k_by_rank(x, k)
  np.testing.assert_array_equal(values, want_values)
  np.testing.assert_array_equal(index, want_index)
  assert index.dtype == jnp.int32
  with pytest.raises(ValueError, match="k <= n"):
    decoding.top_k_by_rank(x, n + 1)


SELECTION_VARIANTS = [("one_stage", "top_k"), ("two_stage", "top_k"), ("one_stage", "rank"), ("two_stage", "rank"),
                      ("two_stage_padded", "rank")]


@pytest.mark.parametrize(("n", "k"), [(1, 1), (7, 3), (50, 8), (1000, 8), (1030, 4)])
def test_top_k_padded_and_argmax_pick_equal_lax_top_k(n, k):
  """The GPU alternatives give what jax.lax.top_k gives, on coarse values (ties), -inf, NEG_INF and ±0.0 entries."""
  x = tie_heavy_rows(6, n)
  want_values, want_index = jax.lax.top_k(x, k)
  for fn in (jax.jit(decoding.top_k_padded, static_argnums=1), decoding.top_k_padded):
    values, index = fn(x, k)
    np.testing.assert_array_equal(values, want_values)
    np.testing.assert_array_equal(index, want_index)
  want_lp, want_token = decoding.pick_by_top_k(x)
  lp, token = jax.jit(decoding.pick_by_argmax)(x)
  np.testing.assert_array_equal(lp, want_lp)
  np.testing.assert_array_equal(token, want_token)
  assert token.dtype == jnp.int32
  with pytest.raises(ValueError, match="k <= n"):
    decoding.top_k_padded(x, n + 1)


@pytest.mark.parametrize(("candidates", "small"), SELECTION_VARIANTS)
def test_beam_search_equals_host_reference(candidates, small, monkeypatch):
  """The jitted search, with each selection variant, returns exactly what the decoding benchmark's numpy beam
  search (selections by stable sort on the host) returns."""
  from experiments.benchmarks.decoding import python_loop_beam_search

  def two_stage(live, log_probs, num):  # as `_top_candidates` dispatches: two stages need V > 2K
    select = decoding.top_candidates_two_stage if log_probs.shape[-1] > num else decoding.top_candidates_one_stage
    return select(live, log_probs, num)
  monkeypatch.setattr(decoding, "_top_candidates",
                      two_stage if candidates.startswith("two_stage") else decoding.top_candidates_one_stage)
  if candidates == "two_stage_padded":
    monkeypatch.setattr(decoding, "_vocab_top_k", decoding.top_k_padded)
  monkeypatch.setattr(decoding, "_small_top_k", decoding.top_k_by_rank if small == "rank" else jax.lax.top_k)
  step = jax.jit(lambda params, tokens, cache: markov_step(tokens, cache))
  for seed, (batch, vocab, beam, max_len, alpha) in enumerate(
      [(3, 4, 3, 6, 0.0), (2, 30, 4, 9, 0.6), (4, 6, 5, 7, -0.4), (2, 3, 1, 5, 0.0)]):
    cache = markov_cache(seed, batch, vocab, temperature=2.5)
    kw = dict(batch_size=batch, beam_size=beam, max_len=max_len, bos_id=vocab, eos_id=seed % vocab,
              pad_id=vocab + 1, length_penalty=alpha)
    seqs, scores = jax.jit(functools.partial(beam_search, markov_step, **kw))(cache)
    want_seqs, want_scores = python_loop_beam_search(step, None, cache, **kw)
    np.testing.assert_array_equal(seqs, want_seqs)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6)
