"""Greedy, beam, sampling and exhaustive search over one decoding contract.

Every decoder drives a model through

    step_fn(tokens: int32[B], cache) -> (log_probs: float32[B, V], cache)

where `tokens` holds the previous token of each row (`bos_id` at the first step), `log_probs` are
normalised log-probabilities (each ≤ 0) of the next token, and `cache` is any pytree whose leaves have
leading dimension B (an RNN state, a KV-cache, a step counter, encoder outputs, ...). Decoders never
look inside the cache: beam search only repeats and gathers its rows.

Conventions shared by all three decoders, so their outputs can be compared one to one:

* A returned sequence EXCLUDES `bos_id` (position 0 is the first generated token) and INCLUDES the
  first `eos_id`; every position after it holds `pad_id`. `pad_id` defaults to 0 — pick a token the
  model never needs to produce (or `pad_id == eos_id`), since a sequence is read up to its first eos.
* Completion rule: a hypothesis is complete when it emits `eos_id`, or when it reaches `max_len`
  tokens without one (it then counts as finished, without an eos).
* Score: summed log-probability of the generated tokens (eos included), divided by the length penalty
  `((5 + length) / 6) ** alpha` (Wu et al. 2016; `length_penalty_type='power'`: `length ** alpha`) when
  `alpha = length_penalty != 0`; `length` counts the generated tokens, eos included.
* Logit processing, the same in every decoder (`_process_log_probs`): `no_repeat_ngram_size = n > 0` bans
  any token that would repeat an n-gram of the row's output so far; `prefix` int32[B, P] (with optional
  `prefix_lengths` int32[B]) forces the first tokens of each output, which the sequences then include and
  the scores do not count (a forced token has log-prob 0).
* Sampling (`temperature_sample`) draws `num_samples` outputs per item from softmax(log_probs / temperature)
  after top-k / top-p filtering, folded into the batch like beams; beam search returns its n best
  (`num_return_sequences`) best first with their scores.
* A hypothesis whose summed log-probability is ≤ NEG_INF / 2 is impossible (the model gave one of its
  tokens probability ~0). When fewer than `beam_size` possible hypotheses exist, the spare slots hold
  score NEG_INF and a sequence of `pad_id`s.

* `unroll` (greedy and beam search): decoding steps per loop iteration; the stop condition is checked
  between iterations, so up to `unroll - 1` steps may run after every row is complete or past `max_len`.
  Those steps change nothing in the result (step_fn's outputs are then ignored), so every `unroll` gives
  the same sequences and scores; step_fn must only tolerate them (a position-indexed cache of length
  `max_len` sees index `max_len`: JAX clamps such updates and reads). None picks `default_unroll()`.

All functions trace to fixed-shape XLA programs (one `lax.while_loop` / `lax.scan`, no host round
trips); wrap them in `jax.jit` with `functools.partial` for the keyword arguments, e.g.

    decode = jax.jit(functools.partial(beam_search, step_fn, batch_size=8, beam_size=4, max_len=32,
                                       bos_id=1, eos_id=2))
    sequences, scores = decode(cache)
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
StepFn = Callable[[jax.Array, PyTree], tuple[jax.Array, PyTree]]

# A finite stand-in for -inf: sums and differences stay finite (no inf - inf = nan), and a hypothesis
# built on a NEG_INF entry stays far below any real one.
NEG_INF = -1.0e7

# Exhaustive search scores |V|^T sequences per batch item; beyond this it is no longer a "tiny" oracle.
_MAX_EXHAUSTIVE_ROWS = 1 << 20


# ----------------------------------------------------------------------------------------------------
# Beam bookkeeping: beams are folded into the batch so step_fn only ever sees [B * K, ...] rows.


def flatten_beam_dim(x: jax.Array) -> jax.Array:
  """[B, K, ...] -> [B * K, ...], batch-major (the K beams of one item are adjacent rows)."""
  return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])


def unflatten_beam_dim(x: jax.Array, batch_size: int, beam_size: int) -> jax.Array:
  """[B * K, ...] -> [B, K, ...]; the inverse of `flatten_beam_dim`."""
  return x.reshape((batch_size, beam_size) + x.shape[1:])


def expand_to_beams(tree: PyTree, beam_size: int) -> PyTree:
  """Repeats every leaf's rows: leaves [B, ...] -> [B * K, ...], each row K times, batch-major."""
  return jax.tree_util.tree_map(lambda x: jnp.repeat(jnp.asarray(x), beam_size, axis=0), tree)


def gather_beams(tree: PyTree, beam_indices: jax.Array) -> PyTree:
  """Selects beams per batch item from every leaf of a pytree.

  Args:
    tree: pytree with leaves [B, K_old, ...].
    beam_indices: int32[B, K_new], values in [0, K_old).

  Returns:
    the pytree with leaves [B, K_new, ...], `out[b, j] = leaf[b, beam_indices[b, j]]`.
  """
  batch_index = jnp.arange(beam_indices.shape[0])[:, None]
  return jax.tree_util.tree_map(lambda x: x[batch_index, beam_indices], tree)


def _gather_flat_beams(tree: PyTree, beam_indices: jax.Array, batch_size: int, beam_size: int) -> PyTree:
  """`gather_beams` for leaves folded as [B * K_old, ...] -> [B * K_new, ...] (the cache layout)."""
  unflat = jax.tree_util.tree_map(lambda x: unflatten_beam_dim(x, batch_size, beam_size), tree)
  return jax.tree_util.tree_map(flatten_beam_dim, gather_beams(unflat, beam_indices))


# Length penalties: the divisor of a summed log-probability, a function of the hypothesis length (tokens, eos
# included) and alpha. Both are monotone in the length for any alpha, which beam search's early stop relies on.
#   'gnmt':  ((5 + length) / 6) ** alpha — Wu et al. 2016; t5x's `brevity_penalty` is the same function.
#   'power': length ** alpha — Hugging Face `generate`'s `length_penalty` (alpha = 1: mean log-prob per token).
LENGTH_PENALTIES = ("gnmt", "power")


def length_penalty_factor(length: jax.Array, alpha: float, kind: str = "gnmt") -> jax.Array:
  """The divisor of a summed log-probability for `length` generated tokens (see LENGTH_PENALTIES); 1 when alpha == 0."""
  length = jnp.asarray(length, jnp.float32)
  if kind == "gnmt":
    return ((5.0 + length) / 6.0) ** alpha
  if kind == "power":
    return jnp.maximum(length, 1.0) ** alpha
  raise ValueError(f"length_penalty_type={kind!r} must be one of {LENGTH_PENALTIES}")


# ----------------------------------------------------------------------------------------------------
# Logit processing shared by every decoder: n-gram blocking and forced prefixes. Both act on the normalised
# log-probs before a decoder picks, so greedy, beam and sampling obey them alike.


def banned_ngram_mask(history: jax.Array, t: jax.Array, ngram_size: int, vocab_size: int) -> jax.Array:
  """Tokens that would repeat an n-gram of the history: bool[R, V].

  history: int32[R, L], row r's tokens so far at positions < t (later positions are ignored); t: int32[].
  Token v is banned for row r when the n - 1 last tokens followed by v already occur in the row's history
  (Hugging Face's `no_repeat_ngram_size`; n = 1 bans every token already emitted). The bos token is not part
  of the history; forced prefix tokens are.
  """
  rows, length = history.shape
  n = int(ngram_size)
  row_index = jnp.arange(rows)[:, None]
  if n == 1:
    seen = (jnp.arange(length) < t)[None, :]
    return jnp.zeros((rows, vocab_size), jnp.int32).at[row_index, history].max(
        jnp.broadcast_to(seen, history.shape).astype(jnp.int32)) > 0
  m = n - 1  # the context length of an n-gram
  if length <= m:
    return jnp.zeros((rows, vocab_size), bool)
  last = jax.lax.dynamic_slice_in_dim(history, jnp.clip(t - m, 0, length - m), m, axis=1)  # [R, m]
  starts = length - m  # n-gram j spans positions j .. j + m, its last token history[:, j + m]
  match = jnp.ones((rows, starts), bool)
  for i in range(m):
    match &= history[:, i:i + starts] == last[:, i:i + 1]
  # Only n-grams whose last token is already emitted count, and only once a full context exists.
  match &= ((jnp.arange(starts) + m < t) & (t >= m))[None, :]
  return jnp.zeros((rows, vocab_size), jnp.int32).at[row_index, history[:, m:]].max(match.astype(jnp.int32)) > 0


def _check_prefix(prefix: jax.Array | None, prefix_lengths: jax.Array | None, batch_size: int
                  ) -> tuple[jax.Array, jax.Array] | None:
  """(prefix int32[B, P], lengths int32[B]) or None; lengths default to P."""
  if prefix is None:
    if prefix_lengths is not None:
      raise ValueError("prefix_lengths given without a prefix")
    return None
  prefix = jnp.asarray(prefix, jnp.int32)
  if prefix.ndim != 2 or prefix.shape[0] != batch_size or prefix.shape[1] < 1:
    raise ValueError(f"prefix must be int32[B={batch_size}, P >= 1], got shape {prefix.shape}")
  if prefix_lengths is None:
    lengths = jnp.full((batch_size,), prefix.shape[1], jnp.int32)
  else:
    lengths = jnp.asarray(prefix_lengths, jnp.int32)
    if lengths.shape != (batch_size,):
      raise ValueError(f"prefix_lengths must be int32[B={batch_size}], got shape {lengths.shape}")
  return prefix, lengths


def _process_log_probs(log_probs: jax.Array, t: jax.Array, history: jax.Array, *, no_repeat_ngram_size: int,
                       prefix: tuple[jax.Array, jax.Array] | None) -> jax.Array:
  """Cleaned log_probs [R, V] with banned n-grams at NEG_INF and, while t < prefix length, the prefix token forced
  (log-prob 0, every other token NEG_INF: a forced token adds nothing to a score). prefix rows match R."""
  log_probs = _clean_log_probs(log_probs)
  vocab_size = log_probs.shape[-1]
  if no_repeat_ngram_size > 0:
    banned = banned_ngram_mask(history, t, no_repeat_ngram_size, vocab_size)
    log_probs = jnp.where(banned, NEG_INF, log_probs)
  if prefix is not None:
    tokens, lengths = prefix
    forced = jax.lax.dynamic_index_in_dim(tokens, jnp.minimum(t, tokens.shape[1] - 1), axis=1, keepdims=False)
    one_hot = jnp.where(jnp.arange(vocab_size)[None, :] == forced[:, None], 0.0, NEG_INF)
    log_probs = jnp.where((t < lengths)[:, None], one_hot, log_probs)
  return log_probs


def _check_ngram_size(no_repeat_ngram_size: int) -> int:
  if isinstance(no_repeat_ngram_size, bool) or not isinstance(no_repeat_ngram_size, (int, np.integer)) or \
      no_repeat_ngram_size < 0:
    raise ValueError(f"no_repeat_ngram_size must be an int >= 0 (0 = off), got {no_repeat_ngram_size!r}")
  return int(no_repeat_ngram_size)


def _vocab_size(step_fn: StepFn, cache: PyTree, batch_size: int, rows: int) -> int:
  """V, read from step_fn's output shape on `rows` rows (cache leaves [B, ...]) without running it."""
  tokens = jax.ShapeDtypeStruct((rows,), jnp.int32)
  cache_shapes = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct((rows,) + jnp.shape(x)[1:], jnp.result_type(x)), cache)
  log_probs, _ = jax.eval_shape(step_fn, tokens, cache_shapes)
  if log_probs.ndim != 2 or log_probs.shape[0] != rows:
    raise ValueError(f"step_fn must return log_probs of shape [rows={rows}, V], got {log_probs.shape}")
  for leaf in jax.tree_util.tree_leaves(cache):
    if not jnp.shape(leaf) or jnp.shape(leaf)[0] != batch_size:
      raise ValueError(f"every cache leaf needs leading dimension B={batch_size}, got shape {jnp.shape(leaf)}")
  return int(log_probs.shape[1])


# ----------------------------------------------------------------------------------------------------
# Backend-dependent choices. All give the same results; which is fastest depends on the platform.

_TUNED_FOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("decoding_tuned_for", default=None)


def tuned_platform() -> str:
  """The platform whose fastest variants the decoders trace: `jax.default_backend()` unless `tuned_for` says."""
  return _TUNED_FOR.get() or jax.default_backend()


@contextlib.contextmanager
def tuned_for(platform: str) -> Iterator[None]:
  """Decoders traced inside pick the variants chosen for `platform` ('cpu', 'gpu', 'tpu') whatever is attached.

  For compiling ahead of time for a device that is not here (`experiments/benchmarks/decoding_kernels.py`), and
  for testing every variant on a CPU.
  """
  token = _TUNED_FOR.set(platform)
  try:
    yield
  finally:
    _TUNED_FOR.reset(token)


def default_unroll() -> int:
  """Decoding steps per `lax.while_loop` iteration when a decoder is not told: 1 on a CPU, 2 elsewhere.

  On a GPU every iteration pays for its stop test (kernels, and a device-to-host copy of the predicate) and, in
  beam search, for copies of the beam arrays its gathers cannot write in place: with two steps per iteration
  the first step's results are temporaries and the second writes the carried buffers directly. In the H100
  program of the decoding benchmark's default size, counted without a GPU by `python -m
  experiments.benchmarks.decoding_kernels`, beam search launches 24 kernels per step (4 of them copies) with
  1 and 17 (1 copy) with 2; greedy search 12 and 10. Not yet timed on a GPU. On a CPU neither cost exists and
  unrolling only doubles the compile time.
  """
  return 1 if tuned_platform() == "cpu" else 2


def _resolve_unroll(unroll: int | None) -> int:
  unroll = default_unroll() if unroll is None else unroll
  if isinstance(unroll, bool) or not isinstance(unroll, (int, np.integer)) or unroll < 1:
    raise ValueError(f"unroll must be a positive int (decoding steps per loop iteration), got {unroll!r}")
  return int(unroll)


def _total_order_key(x: jax.Array) -> jax.Array:
  """int32 keys that order as float32's total order, the order top_k ranks in (+0.0 above -0.0): the float's
  bits as an int32, with the magnitude bits of negative numbers flipped so that integer order is float order."""
  bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)
  return jnp.where(bits < 0, bits ^ jnp.int32(0x7FFFFFFF), bits)


def _clean_log_probs(log_probs: jax.Array) -> jax.Array:
  # A model that masks tokens with -inf would otherwise poison the running sums with inf - inf = nan.
  return jnp.maximum(log_probs.astype(jnp.float32), NEG_INF)


# ----------------------------------------------------------------------------------------------------
# Greedy search.


def greedy_search(step_fn: StepFn, cache: PyTree, *, batch_size: int, max_len: int, bos_id: int, eos_id: int,
                  pad_id: int = 0, no_repeat_ngram_size: int = 0, prefix: jax.Array | None = None,
                  prefix_lengths: jax.Array | None = None, unroll: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Takes the most likely token at every step until eos or `max_len` tokens.

  Args:
    step_fn: the decoding contract (see module docstring).
    cache: pytree, leaves [B, ...].
    batch_size: B.
    max_len: T, the most tokens generated per row (eos included, prefix included).
    bos_id, eos_id: start and end tokens.
    pad_id: written after eos (default 0).
    no_repeat_ngram_size: n > 0 never emits an n-gram twice in a row (`banned_ngram_mask`); 0 = off.
    prefix: optional int32[B, P]: the first tokens of each output are forced (decoding continues after them).
    prefix_lengths: optional int32[B]: row b forces only its first prefix_lengths[b] tokens (default P).
    unroll: decoding steps per loop iteration (see the module docstring); None: `default_unroll()`.

  Returns:
    sequences: int32[B, T], bos excluded, prefix and eos included, pad after eos.
    scores: float32[B], summed log-probability of the generated tokens after the prefix (eos included).
  """
  _vocab_size(step_fn, cache, batch_size, batch_size)  # checks shapes before tracing the loop
  seqs, scores = _token_loop(step_fn, cache, lambda log_probs, t: _greedy_pick(log_probs), rows=batch_size,
                             max_len=max_len, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id,
                             no_repeat_ngram_size=no_repeat_ngram_size,
                             prefix=_check_prefix(prefix, prefix_lengths, batch_size), unroll=unroll)
  return seqs, scores


def _token_loop(step_fn: StepFn, cache: PyTree, pick: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]],
                *, rows: int, max_len: int, bos_id: int, eos_id: int, pad_id: int, no_repeat_ngram_size: int,
                prefix: tuple[jax.Array, jax.Array] | None, unroll: int | None) -> tuple[jax.Array, jax.Array]:
  """One token per row per step until eos or max_len: the loop of greedy search and sampling.

  pick(log_probs float32[R, V] (processed), t) → (log-prob float32[R], token int32[R]) chooses each row's token.
  Returns (sequences int32[R, max_len], scores float32[R]).
  """
  unroll = _resolve_unroll(unroll)
  ngram = _check_ngram_size(no_repeat_ngram_size)

  def cond(carry):
    t, _, _, _, done, _ = carry
    return (t < max_len) & ~jnp.all(done)

  def body(carry):
    t, prev, seqs, scores, done, cache = carry
    log_probs, cache = step_fn(prev, cache)
    log_probs = _process_log_probs(log_probs, t, seqs, no_repeat_ngram_size=ngram, prefix=prefix)
    token_lp, token = pick(log_probs, t)
    token = jnp.where(done, pad_id, token)
    scores = scores + jnp.where(done | (t >= max_len), 0.0, token_lp)  # steps past max_len only unroll
    seqs = jax.lax.dynamic_update_slice(seqs, token[:, None], (0, t))
    return t + 1, token, seqs, scores, done | (token == eos_id), cache

  # unroll - 1 spare columns take the tokens of steps run past max_len; they are cut off at the end.
  init = (jnp.int32(0), jnp.full((rows,), bos_id, jnp.int32), jnp.full((rows, max_len + unroll - 1), pad_id, jnp.int32),
          jnp.zeros((rows,), jnp.float32), jnp.zeros((rows,), bool), cache)
  _, _, seqs, scores, _, _ = jax.lax.while_loop(cond, _repeat(body, unroll), init)
  return seqs[:, :max_len], scores


def pick_by_top_k(log_probs: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The best token of each row by `jax.lax.top_k(., 1)`: log_probs [B, V] → (float32[B], int32[B]).

  On a CPU XLA's top-k kernel is several times faster than its (value, index) argmax reduction. On a GPU,
  rows shorter than 1024 entries have no top-k kernel: XLA sorts them (experiments/benchmarks/decoding_kernels.py).
  """
  token_lp, token = jax.lax.top_k(log_probs, 1)
  return token_lp[:, 0], token[:, 0].astype(jnp.int32)


def pick_by_argmax(log_probs: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`pick_by_top_k` by an argmax reduction (no sort) over keys in top_k's order, float32's total order (+0.0
  above -0.0), ties to the lower token id; the value is gathered at the picked token."""
  token = jnp.argmax(_total_order_key(log_probs), axis=-1).astype(jnp.int32)
  return jnp.take_along_axis(log_probs, token[:, None], axis=-1)[:, 0], token


# Greedy search's pick. `pick_by_argmax` avoids the GPU's sort of short rows but is untimed on a GPU: `python -m
# experiments.benchmarks.beam_topk` times both (`greedy_argmax`); swap once a GPU run says it is faster there.
_greedy_pick = pick_by_top_k


def _repeat(body: Callable[[Any], Any], times: int) -> Callable[[Any], Any]:
  """body applied `times` times: one loop iteration that runs several decoding steps."""
  def repeated(carry):
    for _ in range(times):
      carry = body(carry)
    return carry
  return repeated


# ----------------------------------------------------------------------------------------------------
# Temperature sampling.


def filter_logits(logits: jax.Array, *, top_k: int = 0, top_p: float = 1.0) -> jax.Array:
  """Keeps the tokens sampling may draw, others at -inf: logits float32[R, V] → float32[R, V].

  top_k > 0 keeps the k largest logits of each row (ties with the k-th are kept too); top_p < 1 keeps the
  smallest set of most likely tokens whose probability reaches top_p (nucleus sampling, Holtzman et al. 2019;
  the most likely token always stays, ties with the last kept one too). Both filters, when both are set, apply
  in that order, as in Hugging Face `generate`.
  """
  if top_k > 0 and top_k < logits.shape[-1]:
    kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
    logits = jnp.where(logits >= kth, logits, -jnp.inf)
  if top_p < 1.0:
    ordered = -jnp.sort(-logits, axis=-1)  # descending
    probs = jax.nn.softmax(ordered, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    kept = jnp.maximum(jnp.sum(mass_before < top_p, axis=-1, keepdims=True), 1)  # [R, 1]
    cutoff = jnp.take_along_axis(ordered, kept - 1, axis=-1)
    logits = jnp.where(logits >= cutoff, logits, -jnp.inf)
  return logits


_DRAW_BLOCK = 32  # entries per block of draw_categorical's two-level inversion


def draw_categorical(key: jax.Array, logits: jax.Array) -> jax.Array:
  """One token per row from softmax(logits): logits float32[R, V] (-inf = never) → int32[R].

  By inverting the cumulative distribution with one uniform number per row: R random numbers instead of the
  R·V Gumbel draws and logarithms of `jax.random.categorical`. The inversion runs on two levels — the running
  sum over blocks of 32 entries, then within the one block the draw falls in — since a cumulative sum over
  all V entries costs a CPU several times the greedy pick (measured: 128 rows, V = 1000, 0.87 ms per step vs
  0.28 for top_k(·, 1); the two-level inversion 0.32 vs 0.45 for top_k in the same run).
  """
  rows, vocab = logits.shape
  blocks = -(-vocab // _DRAW_BLOCK)
  padded = jnp.pad(logits, ((0, 0), (0, blocks * _DRAW_BLOCK - vocab)), constant_values=-jnp.inf)
  weights = jnp.exp(padded - jnp.max(padded, axis=-1, keepdims=True)).reshape(rows, blocks, _DRAW_BLOCK)
  block_mass = jnp.sum(weights, axis=-1)  # [R, blocks]
  block_cdf = jnp.cumsum(block_mass, axis=-1)
  total = block_cdf[:, -1:]
  # u · total < total always (u · total may round up to it): the draw then lands in a block of positive mass.
  threshold = jnp.minimum(jax.random.uniform(key, (rows, 1), jnp.float32) * total, jnp.nextafter(total, 0.0))
  block = jnp.minimum(jnp.sum(block_cdf <= threshold, axis=-1), blocks - 1)  # [R]
  before = jnp.take_along_axis(block_cdf - block_mass, block[:, None], axis=-1)  # mass of the earlier blocks
  inner = jnp.take_along_axis(weights, block[:, None, None], axis=1)[:, 0]  # [R, 32]
  index = jnp.sum(before + jnp.cumsum(inner, axis=-1) <= threshold, axis=-1)
  # Rounding between the two levels' sums could step past the block's last entry of positive weight: stop there.
  last = _DRAW_BLOCK - 1 - jnp.argmax(inner[:, ::-1] > 0, axis=-1)
  return (block * _DRAW_BLOCK + jnp.minimum(index, last)).astype(jnp.int32)


def temperature_sample(step_fn: StepFn, cache: PyTree, rng: jax.Array, *, batch_size: int, max_len: int,
                       bos_id: int, eos_id: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                       num_samples: int = 1, pad_id: int = 0, no_repeat_ngram_size: int = 0,
                       prefix: jax.Array | None = None, prefix_lengths: jax.Array | None = None,
                       unroll: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Ancestral sampling from softmax(log_probs / temperature), filtered by top-k / top-p, in one while_loop.

  The `num_samples` samples of an item are folded into the batch (step_fn sees B·N rows, the N rows of an item
  adjacent, as beams are), so one loop draws them all. Step t draws with `fold_in(rng, t)`: the same key gives
  the same samples whatever `unroll`, and a different key independent ones.

  Args:
    step_fn: the decoding contract; called on [B * N] rows.
    cache: pytree, leaves [B, ...]; repeated to [B * N, ...].
    rng: a jax.random key.
    batch_size: B.
    max_len: T, the most tokens per sample (eos and prefix included).
    bos_id, eos_id: start and end tokens.
    temperature: > 0 divides the log-probs before sampling (→ 0: greedy); exactly 0 takes the argmax, i.e.
      `greedy_search`.
    top_k, top_p: filters of `filter_logits` (0 / 1.0 = off).
    num_samples: N samples per item.
    pad_id: written after eos (default 0).
    no_repeat_ngram_size, prefix, prefix_lengths: as in `greedy_search`.
    unroll: decoding steps per loop iteration (see the module docstring); None: `default_unroll()`.

  Returns:
    sequences: int32[B, N, T], bos excluded, prefix and eos included, pad after eos.
    scores: float32[B, N], the MODEL's summed log-probability of each sample's tokens after the prefix (before
      temperature and filtering), so samples can be ranked as beam hypotheses are.
  """
  if not (isinstance(temperature, (int, float, np.floating)) and np.isfinite(temperature) and temperature >= 0):
    raise ValueError(f"temperature={temperature!r} must be a finite number >= 0 (0 = greedy)")
  if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
    raise ValueError(f"top_k={top_k!r} must be an int >= 0 (0 = off)")
  if not 0.0 < float(top_p) <= 1.0:
    raise ValueError(f"top_p={top_p!r} must be in (0, 1] (1 = off)")
  if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
    raise ValueError(f"num_samples={num_samples!r} must be an int >= 1")
  rows = batch_size * num_samples
  _vocab_size(step_fn, cache, batch_size, rows)
  forced = _check_prefix(prefix, prefix_lengths, batch_size)
  if forced is not None:
    forced = expand_to_beams(forced, num_samples)

  def pick(log_probs, t):
    if temperature == 0:
      return _greedy_pick(log_probs)
    logits = filter_logits(log_probs / temperature, top_k=int(top_k), top_p=float(top_p))
    token = draw_categorical(jax.random.fold_in(rng, t), logits)
    return jnp.take_along_axis(log_probs, token[:, None], axis=-1)[:, 0], token

  seqs, scores = _token_loop(step_fn, expand_to_beams(cache, num_samples), pick, rows=rows, max_len=max_len,
                             bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, no_repeat_ngram_size=no_repeat_ngram_size,
                             prefix=forced, unroll=unroll)
  return unflatten_beam_dim(seqs, batch_size, num_samples), unflatten_beam_dim(scores, batch_size, num_samples)


# ----------------------------------------------------------------------------------------------------
# Beam search.


@flax.struct.dataclass
class BeamState:
  """The beam-search loop carry. B batch items, K beams, T = max_len + unroll - 1 (spare positions for the
  steps an unrolled iteration runs past max_len).

  Attributes:
    cur_index: int32[], number of tokens generated so far (the position written next).
    live_logprobs: float32[B, K], summed log-probs of the live (unfinished) beams; ≤ NEG_INF/2 if empty.
    finished_scores: float32[B, K], length-penalised scores of the best finished hypotheses, best first;
      -inf in an empty slot.
    live_seqs: int32[B, K, T], live prefixes, `pad_id` beyond cur_index.
    finished_seqs: int32[B, K, T], finished hypotheses (pad after eos).
    cache: step_fn's cache, leaves [B * K, ...], row b * K + k belongs to live beam k of item b.
  """
  cur_index: jax.Array
  live_logprobs: jax.Array
  finished_scores: jax.Array
  live_seqs: jax.Array
  finished_seqs: jax.Array
  cache: PyTree


def _top_candidates(live_logprobs: jax.Array, log_probs: jax.Array, num: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The `num` best one-token extensions of the live beams, best first.

  live_logprobs: [B, K], log_probs: [B, K, V] → (scores float32[B, num], parent int32[B, num], token int32[B, num]).
  Both ways below give the same result; which is faster depends on the backend, measured with
  `python -m experiments.benchmarks.beam_topk`: on an H100 the two-stage selection took beam search at V=8000
  from 3.62 to 2.84 ms (V=1000: 2.26 → 2.15); on a 2-core CPU it was 8–9% slower (V=1000: 47.9 vs 44.2 ms).
  """
  if log_probs.shape[-1] <= num or tuned_platform() == "cpu":
    return top_candidates_one_stage(live_logprobs, log_probs, num)
  return top_candidates_two_stage(live_logprobs, log_probs, num)


def top_k_by_rank(x: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """`jax.lax.top_k` for short rows, by counting for each entry how many entries rank before it.

  x: float32[..., n] → (values [..., k], indices int32[..., k]), best first; equal values in index order,
  as top_k. O(n²) comparisons, meant for the beam's n = 2K or 3K: elementwise work and two reductions that
  XLA can fuse with the gathers around them, instead of a sort or top-k kernel.
  """
  n = x.shape[-1]
  if not 0 <= k <= n:
    raise ValueError(f"top_k_by_rank needs 0 <= k <= n, got k={k} for rows of n={n}")
  position = jnp.arange(n)
  key = _total_order_key(x)
  # before[..., i, j]: entry j ranks before entry i (greater, or equal with a lower index).
  before = (key[..., None, :] > key[..., :, None]) | ((key[..., None, :] == key[..., :, None]) &
                                                       (position[None, :] < position[:, None]))
  rank = jnp.sum(before, axis=-1, dtype=jnp.int32)  # [..., n], a permutation of 0..n-1
  index = jnp.sum(jnp.where(rank[..., :, None] == jnp.arange(k), position[:, None], 0), axis=-2,
                  dtype=jnp.int32)  # [..., k]
  return jnp.take_along_axis(x, index, axis=-1), index


def _small_top_k(x: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """top_k over the beam's short rows (the finished and live sets, the second stage of the candidates).

  Off the CPU by `top_k_by_rank`: on an H100 a top_k kernel per selection cost more than the comparisons
  (`python -m experiments.benchmarks.beam_topk`, 2026-11-26: beam search at V=1000 2.12 → 1.99 ms, V=8000 equal;
  experiments/benchmarks/results/h100_2026-11-26b/). On the CPU `jax.lax.top_k`: rank was slower there (V=1000
  58.4 vs 43.4 ms with one-stage candidates).
  """
  if tuned_platform() == "cpu":
    return jax.lax.top_k(x, k)
  return top_k_by_rank(x, k)


def top_candidates_one_stage(live_logprobs: jax.Array, log_probs: jax.Array, num: int
                             ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """`_top_candidates` by one top_k over the [B, K·V] candidate scores."""
  batch_size, beam_size, vocab_size = log_probs.shape
  candidates = (live_logprobs[:, :, None] + log_probs).reshape(batch_size, beam_size * vocab_size)
  scores, index = jax.lax.top_k(candidates, num)
  return scores, (index // vocab_size).astype(jnp.int32), (index % vocab_size).astype(jnp.int32)


def top_k_padded(x: jax.Array, k: int, min_len: int = 1024) -> tuple[jax.Array, jax.Array]:
  """`jax.lax.top_k` over rows padded with -inf to at least `min_len` entries (the padding is never picked
  while k ≤ the real length).

  XLA's GPU top-k kernel needs rows of at least 1024 entries; shorter rows (a vocabulary of 1000) are sorted
  instead. Untimed on a GPU, and that kernel's order among equal values is untested there:
  `python -m experiments.benchmarks.beam_topk` times it (`two_stage_padded`) and tests/decoding/test_decoding.py compares
  it with the host reference on tie-heavy inputs.
  """
  n = x.shape[-1]
  if not 0 <= k <= n:
    raise ValueError(f"top_k_padded needs 0 <= k <= n, got k={k} for rows of n={n}")
  if n < min_len:
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, min_len - n)], constant_values=-jnp.inf)
  return jax.lax.top_k(x, k)


# The first stage of `top_candidates_two_stage` (each beam's best 2K of V). `top_k_padded` is the alternative for
# GPUs at V < 1024, to be chosen once timed there (see its docstring).
_vocab_top_k = jax.lax.top_k


def top_candidates_two_stage(live_logprobs: jax.Array, log_probs: jax.Array, num: int
                             ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """`_top_candidates` in two stages: the best `num` tokens of each beam, then the best `num` of those K·num.

  The global best `num` are among each beam's best `num`, so nothing is lost, and the second top_k runs over
  K·num instead of K·V entries. Ties come out in the same order as one top_k (lower parent, then lower token).
  """
  batch_size, beam_size, _ = log_probs.shape
  beam_lp, beam_token = _vocab_top_k(log_probs, num)  # [B, K, num] each
  candidates = (live_logprobs[:, :, None] + beam_lp).reshape(batch_size, beam_size * num)
  scores, index = _small_top_k(candidates, num)
  token = jnp.take_along_axis(beam_token.reshape(candidates.shape), index, axis=1)
  return scores, (index // num).astype(jnp.int32), token.astype(jnp.int32)


def beam_search(step_fn: StepFn, cache: PyTree, *, batch_size: int, beam_size: int, max_len: int, bos_id: int,
                eos_id: int, length_penalty: float = 0.0, length_penalty_type: str = "gnmt", pad_id: int = 0,
                no_repeat_ngram_size: int = 0, prefix: jax.Array | None = None,
                prefix_lengths: jax.Array | None = None, num_return_sequences: int | None = None,
                unroll: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Beam search in one `lax.while_loop` with fixed shapes.

  Each step expands the K live beams by all V tokens and ranks the K·V candidates by summed log-prob.
  As in the course notes' k = 3 example ("expand each by its top 3 (9 candidates), keep the best 3"),
  the best K candidates are what the search keeps: those among them that are complete (eos, or length
  `max_len`) move to the finished set. Keeping the best K of each beam's top K (the notes' 9) is the
  same as keeping the best K of all K·V, since one beam can hold at most K of the overall best K. We
  look one step further — the top 2K — only to refill the live set: each beam has one eos candidate, so
  at most K of the top 2K end in eos and at least K live candidates always remain. With K = 1 and
  length_penalty = 0 this is exactly greedy search.

  The finished set keeps the best K complete hypotheses by score. The loop stops early once every
  item has K finished hypotheses and no live beam can still beat the worst of them: future tokens only
  lower a summed log-prob (each log-prob ≤ 0), so a live beam's final score is at most
  `live_logprob / max(penalty(now + 1), penalty(max_len))` — the penalty is monotone in length, so its
  largest value over the reachable lengths sits at one end whatever the sign of alpha.

  Args:
    step_fn: the decoding contract; called on [B * K] rows, it never sees the beam axis. Its log_probs
      must be normalised (≤ 0): early stopping relies on scores never rising with more tokens.
    cache: pytree, leaves [B, ...]; repeated to [B * K, ...] and gathered along with the beams.
    batch_size: B.
    beam_size: K ≥ 1.
    max_len: T, the most tokens generated per hypothesis (eos included).
    bos_id, eos_id: start and end tokens.
    length_penalty: alpha of the length penalty; 0 ranks by summed log-prob.
    length_penalty_type: 'gnmt' ((5 + length) / 6) ** alpha, as t5x's brevity penalty) or 'power'
      (length ** alpha, as Hugging Face); see LENGTH_PENALTIES. The length counts all tokens, prefix included.
    pad_id: written after eos and in empty slots (default 0).
    no_repeat_ngram_size: n > 0: no hypothesis contains an n-gram twice (`banned_ngram_mask`); 0 = off.
    prefix: optional int32[B, P]: every hypothesis of item b starts with these tokens (forced, log-prob 0).
    prefix_lengths: optional int32[B]: item b forces only its first prefix_lengths[b] tokens (default P).
    num_return_sequences: N ≤ K: return only the N best hypotheses (the n-best list); None = all K.
    unroll: decoding steps per loop iteration (see the module docstring); None: `default_unroll()`.

  Returns:
    sequences: int32[B, N, T], best first; bos excluded, prefix and eos included, pad after eos.
    scores: float32[B, N], summed log-probs (of the tokens after the prefix) divided by the length penalty;
      NEG_INF for empty slots.
  """
  vocab_size = _vocab_size(step_fn, cache, batch_size, batch_size * beam_size)
  if vocab_size < 2:
    raise ValueError(f"beam_search needs a vocabulary of at least 2 tokens, got V={vocab_size}")
  if length_penalty_type not in LENGTH_PENALTIES:
    raise ValueError(f"length_penalty_type={length_penalty_type!r} must be one of {LENGTH_PENALTIES}")
  num_return = beam_size if num_return_sequences is None else int(num_return_sequences)
  if not 1 <= num_return <= beam_size:
    raise ValueError(f"num_return_sequences={num_return_sequences} must be in [1, beam_size={beam_size}]")
  ngram = _check_ngram_size(no_repeat_ngram_size)
  forced = _check_prefix(prefix, prefix_lengths, batch_size)
  if forced is not None:  # one copy per beam row, as the cache
    forced = expand_to_beams(forced, beam_size)
  unroll = _resolve_unroll(unroll)

  def penalty(length):
    return length_penalty_factor(length, length_penalty, length_penalty_type)
  # unroll - 1 spare positions take the tokens of steps run past max_len; they are cut off at the end.
  buffer_len = max_len + unroll - 1
  num_candidates = 2 * beam_size  # ≤ K·V since V ≥ 2

  def best_final_penalty(cur_index):
    return jnp.maximum(penalty(cur_index + 1), penalty(max_len))

  def cond(state: BeamState) -> jax.Array:
    live_valid = state.live_logprobs > NEG_INF / 2
    best_live = jnp.max(jnp.where(live_valid, state.live_logprobs / best_final_penalty(state.cur_index), NEG_INF),
                        axis=1)
    worst_finished = jnp.min(state.finished_scores, axis=1)  # -inf while a slot is empty
    can_improve = best_live > worst_finished
    item_done = ~jnp.any(live_valid, axis=1) | ~can_improve
    return (state.cur_index < max_len) & ~jnp.all(item_done)

  def body(state: BeamState) -> BeamState:
    t = state.cur_index
    prev_token = jax.lax.dynamic_index_in_dim(state.live_seqs, jnp.maximum(t - 1, 0), axis=2, keepdims=False)
    prev_token = jnp.where(t == 0, bos_id, prev_token)  # [B, K]
    log_probs, new_cache = step_fn(flatten_beam_dim(prev_token), state.cache)
    log_probs = _process_log_probs(log_probs, t, flatten_beam_dim(state.live_seqs), no_repeat_ngram_size=ngram,
                                   prefix=forced)
    log_probs = unflatten_beam_dim(log_probs, batch_size, beam_size)  # [B, K, V]

    top_logprobs, parent, token = _top_candidates(state.live_logprobs, log_probs, num_candidates)  # [B, 2K] each
    top_seqs = gather_beams(state.live_seqs, parent)
    top_seqs = jax.lax.dynamic_update_slice(top_seqs, token[:, :, None], (0, 0, t))  # [B, 2K, T]

    valid = top_logprobs > NEG_INF / 2
    is_eos = token == eos_id
    complete = is_eos | (t == max_len - 1)
    kept = jnp.arange(num_candidates)[None, :] < beam_size  # the notes' "keep the best k"
    # A step past max_len (run only to fill an unrolled iteration) finishes nothing. Masks, not slices of the
    # candidates: a slice of top_k's output stops XLA's CPU compiler from using its top-k kernel (a full sort of
    # the K·V candidates instead, 16x slower beam search).
    newly_finished = complete & kept & valid & (t < max_len)
    new_scores = jnp.where(newly_finished, top_logprobs / penalty(t + 1), -jnp.inf)

    # Finished set: best K of (old finished, newly finished); empty slots score -inf, below every real score.
    all_scores = jnp.concatenate([state.finished_scores, new_scores], axis=1)  # [B, 3K]
    all_seqs = jnp.concatenate([state.finished_seqs, top_seqs], axis=1)
    finished_scores, fin_index = _small_top_k(all_scores, beam_size)
    finished_seqs = gather_beams(all_seqs, fin_index)

    # Live set: best K candidates that did not end in eos (eos-ended ones are never extended).
    live_key = jnp.where(is_eos, NEG_INF, top_logprobs)
    live_logprobs, live_index = _small_top_k(live_key, beam_size)
    live_seqs = gather_beams(top_seqs, live_index)
    live_parent = gather_beams(parent, live_index)
    cache = _gather_flat_beams(new_cache, live_parent, batch_size, beam_size)

    return BeamState(cur_index=t + 1, live_logprobs=live_logprobs, finished_scores=finished_scores,
                     live_seqs=live_seqs, finished_seqs=finished_seqs, cache=cache)

  # Only beam 0 is live at the start: the K copies of the bos state would otherwise yield K duplicates.
  init_live = jnp.where(jnp.arange(beam_size) == 0, 0.0, NEG_INF).astype(jnp.float32)
  init = BeamState(
      cur_index=jnp.int32(0),
      live_logprobs=jnp.broadcast_to(init_live, (batch_size, beam_size)),
      finished_scores=jnp.full((batch_size, beam_size), -jnp.inf, jnp.float32),
      live_seqs=jnp.full((batch_size, beam_size, buffer_len), pad_id, jnp.int32),
      finished_seqs=jnp.full((batch_size, beam_size, buffer_len), pad_id, jnp.int32),
      cache=expand_to_beams(cache, beam_size))
  final = jax.lax.while_loop(cond, _repeat(body, unroll), init)
  finished = final.finished_scores > -jnp.inf
  sequences = jnp.where(finished[:, :, None], final.finished_seqs[:, :, :max_len], pad_id)
  scores = jnp.where(finished, final.finished_scores, NEG_INF)
  return sequences[:, :num_return], scores[:, :num_return]


# ----------------------------------------------------------------------------------------------------
# Teacher-forced scoring and the exhaustive oracle.


def sequence_lengths(sequences: jax.Array, eos_id: int) -> jax.Array:
  """int32[...]: tokens up to and including the first eos, or T if there is none. sequences: int32[..., T]."""
  max_len = sequences.shape[-1]
  is_eos = sequences == eos_id
  return jnp.where(jnp.any(is_eos, axis=-1), jnp.argmax(is_eos, axis=-1) + 1, max_len).astype(jnp.int32)


def score_sequences(step_fn: StepFn, cache: PyTree, sequences: jax.Array, *, bos_id: int, eos_id: int,
                    length_penalty: float = 0.0, length_penalty_type: str = "gnmt") -> jax.Array:
  """Scores given hypotheses by feeding them through step_fn (teacher forcing), with the decoders' rule.

  Tokens after the first eos are ignored. Log-probs are summed left to right in float32, as the decoders
  do, so a decoder's score and the re-score of its sequence agree to the last bit when alpha == 0.

  Args:
    step_fn: the decoding contract.
    cache: pytree, leaves [B, ...]; repeated N times per item.
    sequences: int32[B, N, T], bos excluded.
    bos_id, eos_id: start and end tokens.
    length_penalty, length_penalty_type: as in `beam_search`.

  Returns:
    float32[B, N]: summed log-probs divided by the length penalty, or NEG_INF for an impossible one.
  """
  batch_size, num, max_len = sequences.shape
  flat = sequences.reshape(batch_size * num, max_len).astype(jnp.int32)
  lengths = sequence_lengths(flat, eos_id)
  inputs = jnp.concatenate([jnp.full((flat.shape[0], 1), bos_id, jnp.int32), flat[:, :-1]], axis=1)

  def step(carry, xs):
    cache, total = carry
    position, token_in, token_out = xs
    log_probs, cache = step_fn(token_in, cache)
    token_lp = jnp.take_along_axis(_clean_log_probs(log_probs), token_out[:, None], axis=-1)[:, 0]
    return (cache, total + jnp.where(position < lengths, token_lp, 0.0)), None

  init = (expand_to_beams(cache, num), jnp.zeros((flat.shape[0],), jnp.float32))
  (_, total), _ = jax.lax.scan(step, init, (jnp.arange(max_len), inputs.T, flat.T))
  scores = jnp.where(total > NEG_INF / 2, total / length_penalty_factor(lengths, length_penalty, length_penalty_type),
                     NEG_INF)
  return scores.reshape(batch_size, num)


def exhaustive_search(step_fn: StepFn, cache: PyTree, *, batch_size: int, beam_size: int, max_len: int,
                      bos_id: int, eos_id: int, length_penalty: float = 0.0, length_penalty_type: str = "gnmt",
                      pad_id: int = 0) -> tuple[jax.Array, jax.Array]:
  """The notes' "exhaustive search": scores every one of the |V|^T token sequences and keeps the best K.

  A sequence is read up to its first eos (included) or to T tokens without one — the same completion
  rule as `beam_search` — so the |V|^T strings collapse to the distinct hypotheses (only the string
  whose tokens after the first eos are all eos stands for its hypothesis). Use as an oracle for tiny V
  and T: it calls step_fn on B·|V|^T rows.

  Args / Returns: as `beam_search` (sequences int32[B, K, T] best first, scores float32[B, K]).
  """
  vocab_size = _vocab_size(step_fn, cache, batch_size, batch_size)
  num = vocab_size ** max_len
  if batch_size * num > _MAX_EXHAUSTIVE_ROWS:
    raise ValueError(f"exhaustive_search would score {batch_size} x {vocab_size}^{max_len} sequences; "
                     f"keep B * V^T <= {_MAX_EXHAUSTIVE_ROWS}")
  # Sequence i spells i in base V, first token most significant; built in numpy since it is a constant.
  digits = vocab_size ** np.arange(max_len - 1, -1, -1)
  all_seqs = ((np.arange(num)[:, None] // digits[None, :]) % vocab_size).astype(np.int32)  # [N, T]
  is_eos = all_seqs == eos_id
  lengths = np.where(is_eos.any(axis=1), is_eos.argmax(axis=1) + 1, max_len)
  canonical = np.all((np.arange(max_len)[None, :] < lengths[:, None]) | (all_seqs == eos_id), axis=1)
  all_seqs = all_seqs[canonical]
  lengths = lengths[canonical]
  num = all_seqs.shape[0]

  seqs = jnp.broadcast_to(jnp.asarray(all_seqs), (batch_size, num, max_len))
  scores = score_sequences(step_fn, cache, seqs, bos_id=bos_id, eos_id=eos_id, length_penalty=length_penalty,
                          length_penalty_type=length_penalty_type)
  valid = scores > NEG_INF / 2
  k = min(beam_size, num)
  _, best = jax.lax.top_k(jnp.where(valid, scores, -jnp.inf), k)
  best_scores, best_valid, best_seqs = gather_beams((scores, valid, seqs), best)
  after_end = jnp.arange(max_len)[None, None, :] >= jnp.asarray(lengths)[best][:, :, None]
  best_seqs = jnp.where(after_end | ~best_valid[:, :, None], pad_id, best_seqs)
  best_scores = jnp.where(best_valid, best_scores, NEG_INF)
  if k < beam_size:  # fewer hypotheses than slots: fill the rest as empty
    best_seqs = jnp.concatenate([best_seqs, jnp.full((batch_size, beam_size - k, max_len), pad_id, jnp.int32)], 1)
    best_scores = jnp.concatenate([best_scores, jnp.full((batch_size, beam_size - k), NEG_INF, jnp.float32)], 1)
  return best_seqs.astype(jnp.int32), best_scores.astype(jnp.float32)
