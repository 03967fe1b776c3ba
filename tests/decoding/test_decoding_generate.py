"""Sampling, n-best, length-penalty variants, n-gram blocking and forced prefixes (research/decoding/search.py).

Most tests drive the searches with a random Markov chain: log_probs depend only on the previous token, so
every sequence probability, and the exact distribution a filtered sampler must follow, is known in numpy.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.decoding import search as S

BOS, EOS, PAD = 0, 1, 0


def markov_step(table: np.ndarray):
  """step_fn over a Markov chain: log_probs[b] = table[tokens[b]]; the cache is a dummy row per item."""
  table = jnp.asarray(table, jnp.float32)

  def step_fn(tokens, cache):
    return table[tokens], cache
  return step_fn


def random_table(vocab: int, seed: int, scale: float = 2.0, eos_bias: float = 0.0) -> np.ndarray:
  """log-softmax rows [V, V] of random logits; eos_bias lowers eos so sequences run longer."""
  logits = np.random.default_rng(seed).normal(size=(vocab, vocab)) * scale
  logits[:, EOS] -= eos_bias
  logits -= logits.max(axis=1, keepdims=True)
  return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)


def cache_for(batch: int):
  return jnp.zeros((batch,), jnp.float32)


def np_filtered(logits: np.ndarray, top_k: int, top_p: float) -> np.ndarray:
  """Reference of filter_logits + softmax for one row: the distribution a sampler must follow."""
  logits = logits.astype(np.float64).copy()
  if top_k:
    kth = np.sort(logits)[::-1][top_k - 1]
    logits[logits < kth] = -np.inf
  if top_p < 1:
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]
    keep = order[before < top_p]
    cutoff = logits[keep].min()
    logits[logits < cutoff] = -np.inf
  p = np.exp(logits - logits.max())
  return p / p.sum()


def sample(table, key, **kw):
  kw = dict(batch_size=2, max_len=6, bos_id=BOS, eos_id=EOS, pad_id=PAD) | kw
  fn = jax.jit(functools.partial(S.temperature_sample, markov_step(table), **kw))
  return jax.device_get(fn(cache_for(kw["batch_size"]), key))


def test_zero_and_tiny_temperature_and_top_k_1_equal_greedy():
  table = random_table(9, 0, eos_bias=1.0)
  greedy, g_scores = jax.device_get(S.greedy_search(markov_step(table), cache_for(3), batch_size=3, max_len=8,
                                                    bos_id=BOS, eos_id=EOS, pad_id=PAD))
  key = jax.random.key(7)
  for kw in (dict(temperature=0.0), dict(temperature=1e-4), dict(top_k=1), dict(top_k=1, temperature=3.0)):
    seqs, scores = sample(table, key, batch_size=3, max_len=8, num_samples=4, **kw)
    for n in range(4):
      np.testing.assert_array_equal(seqs[:, n], greedy, err_msg=str(kw))
      np.testing.assert_allclose(scores[:, n], g_scores, rtol=1e-6, err_msg=str(kw))


@pytest.mark.parametrize("kw", [dict(temperature=1.0), dict(temperature=0.6, top_k=4),
                                dict(temperature=1.3, top_p=0.7), dict(top_k=5, top_p=0.8)])
def test_sample_frequencies_follow_the_filtered_distribution(kw):
  """Counts of the first and (given the first) second token of 40,000 samples lie within 5 binomial standard
  deviations of the filtered distribution, and filtered-out tokens never appear."""
  vocab, n = 8, 40_000
  table = random_table(vocab, 3, scale=1.0)
  seqs, _ = sample(table, jax.random.key(11), batch_size=1, max_len=2, num_samples=n, **kw)
  seqs = seqs[0]
  temperature = kw.get("temperature", 1.0)
  probs = {t: np_filtered(table[t] / temperature, kw.get("top_k", 0), kw.get("top_p", 1.0)) for t in range(vocab)}

  def check(tokens, p):
    counts = np.bincount(tokens, minlength=vocab)
    total = counts.sum()
    sigma = np.sqrt(total * p * (1 - p))
    assert np.all(np.abs(counts - total * p) <= 5 * sigma + 1e-9), (counts, total * p)
    assert np.all(counts[p == 0] == 0)

  check(seqs[:, 0], probs[BOS])
  first = int(np.argmax(np.bincount(seqs[:, 0], minlength=vocab) * (np.arange(vocab) != EOS)))
  rows = seqs[:, 0] == first
  check(seqs[rows, 1], probs[first])


def test_sampling_is_reproducible_and_independent_of_unroll():
  table = random_table(10, 5, eos_bias=2.0)
  a = sample(table, jax.random.key(1), num_samples=8, unroll=1, top_p=0.9)
  b = sample(table, jax.random.key(1), num_samples=8, unroll=3, top_p=0.9)
  c = sample(table, jax.random.key(2), num_samples=8, unroll=1, top_p=0.9)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[0], c[0])
  # The scores are the model's log-probability of each sample (before temperature and filtering).
  rescored = jax.device_get(S.score_sequences(markov_step(table), cache_for(2), jnp.asarray(a[0]), bos_id=BOS,
                                              eos_id=EOS))
  np.testing.assert_allclose(a[1], rescored, rtol=1e-5)


@pytest.mark.parametrize("kind,alpha", [("gnmt", 0.0), ("gnmt", 0.6), ("power", 1.0), ("power", -0.5)])
def test_wide_beam_n_best_equals_exhaustive_top_n(kind, alpha):
  """With K above the number of hypotheses beam search is exact: its n best are the oracle's n best."""
  vocab, max_len, n = 3, 3, 5  # 15 distinct hypotheses
  table = random_table(vocab, 2)
  kw = dict(batch_size=2, max_len=max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD, length_penalty=alpha,
            length_penalty_type=kind)
  seqs, scores = jax.device_get(S.beam_search(markov_step(table), cache_for(2), beam_size=32,
                                              num_return_sequences=n, **kw))
  ex_seqs, ex_scores = jax.device_get(S.exhaustive_search(markov_step(table), cache_for(2), beam_size=n, **kw))
  assert seqs.shape == (2, n, max_len)
  np.testing.assert_array_equal(seqs, ex_seqs)
  np.testing.assert_allclose(scores, ex_scores, rtol=1e-5)
  assert np.all(np.diff(scores, axis=1) <= 0)


def test_length_penalty_variants():
  lengths = jnp.arange(1, 6)
  np.testing.assert_allclose(S.length_penalty_factor(lengths, 0.6, "gnmt"), ((5 + np.arange(1, 6)) / 6) ** 0.6,
                             rtol=1e-6)
  np.testing.assert_allclose(S.length_penalty_factor(lengths, 1.0, "power"), np.arange(1, 6), rtol=1e-6)
  with pytest.raises(ValueError, match="length_penalty_type"):
    S.length_penalty_factor(lengths, 1.0, "average")


def repeated_ngrams(seq: np.ndarray, n: int, eos: int = EOS) -> list[tuple]:
  seq = [int(t) for t in seq]
  if eos in seq:
    seq = seq[:seq.index(eos) + 1]
  grams = [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
  return [g for g in set(grams) if grams.count(g) > 1]


def looping_table(vocab: int) -> np.ndarray:
  """A chain that strongly prefers t → t + 1 (mod a 3-cycle over tokens 2..4) and never ends: greedy loops."""
  logits = np.random.default_rng(0).normal(size=(vocab, vocab))
  for t in range(vocab):
    logits[t, 2 + (t - 1) % 3] += 6.0
  logits[:, EOS] = -8.0
  return (logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_blocking_never_repeats(n):
  vocab, max_len = 24, 14
  table = looping_table(vocab)
  step, cache = markov_step(table), cache_for(3)
  kw = dict(batch_size=3, max_len=max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD)
  plain, _ = jax.device_get(S.greedy_search(step, cache, **kw))
  assert repeated_ngrams(plain[0], n), "the chain must loop without blocking, or the test proves nothing"
  outputs = [jax.device_get(S.greedy_search(step, cache, no_repeat_ngram_size=n, **kw))[0][:, None]]
  outputs.append(jax.device_get(S.beam_search(step, cache, beam_size=4, no_repeat_ngram_size=n, **kw))[0])
  outputs.append(sample(table, jax.random.key(0), num_samples=16, no_repeat_ngram_size=n, **kw)[0])
  for out in outputs:
    for seq in out.reshape(-1, max_len):
      assert not repeated_ngrams(seq, n), seq


def test_banned_ngram_mask_matches_a_python_reference():
  rng = np.random.default_rng(4)
  vocab, length = 5, 12
  history = rng.integers(0, 3, size=(6, length)).astype(np.int32)  # few distinct tokens: many repeats
  for n in (1, 2, 3, 4):
    for t in range(length + 1):
      got = np.asarray(S.banned_ngram_mask(jnp.asarray(history), jnp.int32(t), n, vocab))
      for r in range(history.shape[0]):
        seen = [int(x) for x in history[r, :t]]
        want = np.zeros(vocab, bool)
        context = tuple(seen[len(seen) - n + 1:]) if n > 1 else ()
        if len(seen) >= n - 1:
          for j in range(len(seen) - n + 1):
            if tuple(seen[j:j + n - 1]) == context:
              want[seen[j + n - 1]] = True
        np.testing.assert_array_equal(got[r], want, err_msg=f"n={n} t={t} row={r}")


def test_forced_prefix_every_decoder():
  vocab, max_len = 7, 8
  table = random_table(vocab, 9, eos_bias=1.5)
  step, cache = markov_step(table), cache_for(2)
  prefix = np.array([[3, 4, 5], [6, 2, 0]], np.int32)
  lengths = np.array([3, 2], np.int32)
  kw = dict(batch_size=2, max_len=max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD, prefix=prefix,
            prefix_lengths=lengths)
  greedy, g_scores = jax.device_get(S.greedy_search(step, cache, **kw))
  beams, b_scores = jax.device_get(S.beam_search(step, cache, beam_size=3, **kw))
  samples, s_scores = sample(table, jax.random.key(3), num_samples=5, **kw)
  for b in range(2):
    forced = prefix[b, :lengths[b]]
    for seq in [greedy[b], *beams[b], *samples[b]]:
      np.testing.assert_array_equal(seq[:lengths[b]], forced)
    # Greedy continues from the last forced token as a fresh greedy walk of the chain would.
    tok, walk = int(forced[-1]), []
    for _ in range(max_len - lengths[b]):
      tok = int(np.argmax(table[tok]))
      walk.append(tok)
      if tok == EOS:
        break
    np.testing.assert_array_equal(greedy[b, lengths[b]:lengths[b] + len(walk)], walk)
  # Scores count the tokens after the prefix only: the full re-score minus the prefix's own log-prob.
  full = jax.device_get(S.score_sequences(step, cache, jnp.asarray(greedy)[:, None], bos_id=BOS, eos_id=EOS))[:, 0]
  prefix_lp = [sum(table[a, c] for a, c in zip([BOS, *prefix[b, :lengths[b] - 1]], prefix[b, :lengths[b]],
                                               strict=True)) for b in range(2)]
  np.testing.assert_allclose(g_scores, full - np.array(prefix_lp), rtol=1e-5)


def test_filter_logits_keeps_ties_and_the_best_token():
  logits = jnp.array([[3.0, 1.0, 1.0, 0.0, -1.0]])
  np.testing.assert_array_equal(np.isfinite(S.filter_logits(logits, top_k=2)), [[True, True, True, False, False]])
  np.testing.assert_array_equal(np.isfinite(S.filter_logits(logits, top_p=1e-6)), [[True, False, False, False, False]])
  np.testing.assert_array_equal(np.isfinite(S.filter_logits(logits, top_k=0, top_p=1.0)), [[True] * 5])


def test_draw_categorical_never_draws_a_filtered_token():
  logits = jnp.where(jnp.arange(50) % 7 == 3, 0.0, -jnp.inf)[None].repeat(4096, 0)
  tokens = np.asarray(S.draw_categorical(jax.random.key(0), logits))
  assert set(tokens.tolist()) <= set(range(3, 50, 7))
  assert len(set(tokens.tolist())) == len(range(3, 50, 7))


@pytest.mark.parametrize("kw,match", [(dict(temperature=-1.0), "temperature"), (dict(top_p=0.0), "top_p"),
                                      (dict(top_k=-2), "top_k"), (dict(num_samples=0), "num_samples"),
                                      (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
                                      (dict(prefix=np.zeros((3, 2), np.int32)), "prefix")])
def test_bad_arguments_raise(kw, match):
  with pytest.raises(ValueError, match=match):
    S.temperature_sample(markov_step(random_table(4, 0)), cache_for(2), jax.random.key(0), batch_size=2, max_len=3,
                         bos_id=BOS, eos_id=EOS, **kw)


def test_num_return_sequences_range():
  with pytest.raises(ValueError, match="num_return_sequences"):
    S.beam_search(markov_step(random_table(4, 0)), cache_for(2), batch_size=2, beam_size=2, max_len=3, bos_id=BOS,
                  eos_id=EOS, num_return_sequences=3)


def test_draw_categorical_frequencies_across_blocks():
  """The two-level inversion over blocks of 32 draws each of V = 150 tokens (5 blocks, the last one partial, some
  blocks without any allowed token) at its probability, within 5 binomial standard deviations."""
  vocab, n = 150, 200_000
  logits = np.random.default_rng(1).normal(size=vocab).astype(np.float32)
  logits[32:64] = -np.inf  # a whole block that can never be drawn
  logits[::7] = -np.inf
  p = np.exp(logits.astype(np.float64) - logits[np.isfinite(logits)].max())
  p /= p.sum()
  tokens = np.asarray(jax.jit(S.draw_categorical)(jax.random.key(5), jnp.broadcast_to(jnp.asarray(logits),
                                                                                     (n, vocab))))
  counts = np.bincount(tokens, minlength=vocab)
  assert np.all(counts[p == 0] == 0)
  assert np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 1e-9)


# ----------------------------------------------------------------------------------------------------
# Every token decoder of the framework, through the one Decoder harness.

_SEQ = dict(src_vocab_size=11, tgt_vocab_size=13, embed_dim=6, hidden_dim=8, num_layers=2)
_DECODERS = {
    "lstm_seq2seq": ("lstm_seq2seq", _SEQ),
    "luong_seq2seq": ("luong_seq2seq", _SEQ),
    "transformer": ("transformer", dict(src_vocab_size=11, tgt_vocab_size=13, d_model=16, num_heads=2,
                                        num_encoder_layers=1, num_decoder_layers=2, d_ff=32)),
    "show_attend_tell": ("show_attend_tell", dict(vocab_size=13, grid=2, features=(4, 8), embed_dim=6, hidden_dim=8,
                                                  attention_dim=5)),
    "lstm_lm": ("lstm_lm", dict(vocab_size=13, embed_dim=8, hidden_dim=8, num_layers=2)),
}


@pytest.mark.parametrize("name", list(_DECODERS))
def test_every_decoder_samples_blocks_and_continues_prefixes(name):
  """For each model: sampling with top_k=1 equals greedy, sampling / beam / greedy honour a forced prefix and
  n-gram blocking, and beam returns an n-best list best first — all through research/decoding/decoder.py."""
  from research import registry
  from research.decoding import decoder as D
  from research.models import attention, captioning, lstm_lm, seq2seq, transformer  # noqa: F401  (register)

  model_name, fields = _DECODERS[name]
  model = registry.models.get(model_name)(**fields)
  rng = np.random.default_rng(0)
  batch = 3
  make_step = None
  if name == "show_attend_tell":
    inputs = rng.random((batch, 8, 8, 1)).astype(np.float32)
    variables = model.init(jax.random.key(0), jnp.asarray(inputs), jnp.ones((batch, 4), jnp.int32))
  elif name == "lstm_lm":
    inputs = rng.integers(4, 13, (batch, 3)).astype(np.int32)  # prompts
    variables = model.init(jax.random.key(0), jnp.asarray(inputs))
  else:
    inputs = rng.integers(4, 11, (batch, 5)).astype(np.int32)
    variables = model.init(jax.random.key(0), jnp.asarray(inputs), jnp.ones((batch, 4), jnp.int32))
  # Sharpen the output layer so the greedy path has clear margins (random tiny models are near uniform).
  variables = jax.tree.map(lambda x: x * 3.0, variables)
  dec = D.Decoder(model, bos_id=1, eos_id=2, pad_id=0, make_step=make_step)
  max_len = 7
  greedy, g_scores = dec.decode(variables, inputs, D.DecodeSettings("greedy", max_len=max_len))
  top1, t_scores = dec.decode(variables, inputs, D.DecodeSettings("sample", max_len=max_len, top_k=1, num_samples=2))
  np.testing.assert_array_equal(top1[:, 0], greedy[:, 0])
  np.testing.assert_array_equal(top1[:, 1], greedy[:, 0])
  np.testing.assert_allclose(t_scores[:, 0], g_scores[:, 0], rtol=1e-5, atol=1e-5)
  prefix = np.array([[5, 6], [7, 7], [8, 4]], np.int32)
  # (Greedy search shares the processing with these two; the Markov-chain tests above cover it.)
  for settings in (D.DecodeSettings("beam", 4, 0.6, max_len, no_repeat_ngram_size=2, num_return_sequences=3),
                   D.DecodeSettings("sample", max_len=max_len, num_samples=4, temperature=2.0,
                                    no_repeat_ngram_size=2)):
    seqs, scores = dec.decode(variables, inputs, settings, prefix=prefix)
    if settings.method == "beam":  # the n-best list, best first
      assert seqs.shape == (batch, 3, max_len) and np.all(np.diff(scores, axis=1) <= 1e-6)
    for b in range(batch):
      for seq in seqs[b]:
        np.testing.assert_array_equal(seq[:2], prefix[b], err_msg=settings.method)
        assert not repeated_ngrams(seq, 2, eos=2), (settings.method, seq)
