"""Collapsed Gibbs samplers for LDA on device arrays.

Two samplers share one state layout:

* `exact`: sequential collapsed Gibbs (Griffiths & Steyvers 2004). A `lax.fori_loop` over tokens does
  decrement → sample → increment, so every draw sees the current counts. This is the reference sampler.
* `parallel`: AD-LDA (Newman et al. 2009), vectorized. Documents are split into blocks (one block per
  device) sampled simultaneously. Within a block the tokens are split into `num_chunks` chunks (each holds
  ~1/num_chunks of every document); all tokens of a chunk are drawn at once against the block's current counts
  (own assignment excluded), then the block's document–topic counts and its local copy of the topic–word counts
  are updated before the next chunk. Other blocks' topic–word changes arrive once per sweep, through one `psum`
  over the device mesh. The chain is approximate (counts up to one chunk stale within a block, one sweep stale
  across blocks) but a sweep costs a few passes over memory instead of N dependent steps.

Tokens are stored per block, padded to a common length:

  words: int32[S, T]   word id of each token (S blocks, T = num_chunks·Tc tokens per block, chunk-major)
  docs:  int32[S, T]   block-local document slot of each token
  mask:  bool[S, T]    True for real tokens
  z:     int32[S, T]   topic assignment

Counts: n_dk int32[S, Dl, K] (block-local document slots), n_kw int32[K, V] and n_k int32[K] (replicated).
Draws invert the cumulative topic weights with ONE uniform per token: that costs one pass over K weights,
where K Gumbel draws would cost K random numbers and K logs per token.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P
from scipy import special

BLOCK_AXIS = "blocks"
# Up to this many topics the per-token loop over topics is unrolled (fastest); above it, a fori_loop keeps the
# compiled program small.
UNROLL_MAX_TOPICS = 48


class SamplerState(NamedTuple):
  """Gibbs chain state (all device arrays).

  z: int32[S, T] topic of each token slot (padding slots hold 0 and are never counted).
  n_dk: int32[S, Dl, K] tokens of block-local document slot d assigned to topic k.
  n_kw: int32[K, V] tokens of word w assigned to topic k, over the whole corpus.
  n_k: int32[K] tokens assigned to topic k (= n_kw.sum(1)).
  """
  z: jax.Array
  n_dk: jax.Array
  n_kw: jax.Array
  n_k: jax.Array


@dataclasses.dataclass(frozen=True)
class TokenLayout:
  """Host-side token arrays of a corpus split into S blocks of whole documents.

  words, docs: int32[S, T]; mask: bool[S, T]; doc_ids: int32[S, Dl] global document index of each block-local
  document slot (-1 for padding slots). `num_docs` and `vocab_size` are the document–term matrix shape. The T token
  slots of a block are `num_chunks` equal chunks, sampled one after another by the parallel sampler.
  """
  words: np.ndarray
  docs: np.ndarray
  mask: np.ndarray
  doc_ids: np.ndarray
  num_docs: int
  vocab_size: int
  num_chunks: int = 1

  @property
  def num_blocks(self) -> int:
    return self.words.shape[0]

  @property
  def num_tokens(self) -> int:
    return int(self.mask.sum())

  def gather_docs(self, per_slot: np.ndarray) -> np.ndarray:
    """Maps a block-local array [S, Dl, ...] to global document order [num_docs, ...]."""
    per_slot = np.asarray(per_slot)
    out = np.zeros((self.num_docs,) + per_slot.shape[2:], per_slot.dtype)
    valid = self.doc_ids >= 0
    out[self.doc_ids[valid]] = per_slot[valid]
    return out


def tokens_from_counts(X) -> tuple[np.ndarray, np.ndarray]:
  """Expands a document–term count matrix into token lists.

  X: scipy sparse or dense int[D, V] (validated by the caller). Returns (doc_of_token, word_of_token), int32[N]
  each, sorted by document then word.
  """
  import scipy.sparse as sp
  coo = sp.csr_matrix(X).tocoo()
  order = np.lexsort((coo.col, coo.row))
  rows, cols, vals = coo.row[order], coo.col[order], coo.data[order].astype(np.int64)
  keep = vals > 0
  return (np.repeat(rows[keep], vals[keep]).astype(np.int32), np.repeat(cols[keep], vals[keep]).astype(np.int32))


def bucket_size(n: int) -> int:
  """Rounds n up to a multiple of 1/8 of its power of two (>= 64): at most 12.5% padding, and corpora of similar
  size (cross-validation folds, resumed runs) get the same array shapes, so jit compiles once for all of them."""
  n = max(int(n), 1)
  step = max(8, 1 << max(int(np.floor(np.log2(n))) - 3, 0))
  return max(64, -(-n // step) * step)


def make_layout(doc_of_token: np.ndarray, word_of_token: np.ndarray, num_docs: int, vocab_size: int,
                num_blocks: int = 1, num_chunks: int = 1) -> TokenLayout:
  """Splits whole documents into `num_blocks` contiguous blocks with about equal token counts.

  doc_of_token, word_of_token: int[N] sorted by document. Within a block, tokens are ordered chunk-major: token
  number r of a document goes to chunk r mod num_chunks, so each chunk holds about 1/num_chunks of every
  document. Every chunk is padded to the same length, rounded up by `bucket_size`, as are the document slots.
  """
  doc_of_token = np.asarray(doc_of_token, np.int64)
  word_of_token = np.asarray(word_of_token, np.int32)
  n = len(doc_of_token)
  doc_len = np.bincount(doc_of_token, minlength=num_docs)
  doc_start = np.cumsum(doc_len) - doc_len
  # A document goes to the block holding its first token's share of the corpus, so blocks balance tokens.
  doc_block = np.minimum(doc_start * num_blocks // max(n, 1), num_blocks - 1)
  blocks = [np.flatnonzero(doc_block == s) for s in range(num_blocks)]
  dl = bucket_size(max(len(b) for b in blocks))
  tok_block = doc_block[doc_of_token]
  tok_chunk = (np.arange(n) - doc_start[doc_of_token]) % num_chunks
  sizes = np.zeros((num_blocks, num_chunks), np.int64)
  np.add.at(sizes, (tok_block, tok_chunk), 1)
  tc = bucket_size(int(sizes.max()) if n else 1)
  t = tc * num_chunks
  words = np.zeros((num_blocks, t), np.int32)
  docs = np.zeros((num_blocks, t), np.int32)
  mask = np.zeros((num_blocks, t), bool)
  doc_ids = np.full((num_blocks, dl), -1, np.int32)
  local = np.zeros(num_docs, np.int64)
  for s, b in enumerate(blocks):
    doc_ids[s, :len(b)] = b
    local[b] = np.arange(len(b))
    for c in range(num_chunks):
      sel = (tok_block == s) & (tok_chunk == c)
      m = int(sel.sum())
      words[s, c * tc:c * tc + m] = word_of_token[sel]
      docs[s, c * tc:c * tc + m] = local[doc_of_token[sel]]
      mask[s, c * tc:c * tc + m] = True
  return TokenLayout(words, docs, mask, doc_ids, num_docs, vocab_size, num_chunks)


def compute_counts(words: jax.Array, docs: jax.Array, mask: jax.Array, z: jax.Array, num_topics: int,
                   vocab_size: int, num_slots: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Counts of one block from scratch: (n_dk int32[Dl, K], n_kw int32[K, V], n_k int32[K]).

  words, docs, z: int32[T]; mask: bool[T]. Flat 1-D scatters are about twice as fast as 2-D ones on CPU.
  """
  one = mask.astype(jnp.int32)
  k = num_topics
  n_dk = jnp.zeros((num_slots * k,), jnp.int32).at[docs * k + z].add(one).reshape(num_slots, k)
  n_kw = jnp.zeros((k * vocab_size,), jnp.int32).at[z * vocab_size + words].add(one).reshape(k, vocab_size)
  n_k = jnp.zeros((k,), jnp.int32).at[z].add(one)
  return n_dk, n_kw, n_k


def init_state(layout: TokenLayout, num_topics: int, key: jax.Array) -> SamplerState:
  """Uniformly random topic assignments and their counts."""
  return _init_state(jnp.asarray(layout.words), jnp.asarray(layout.docs), jnp.asarray(layout.mask), key,
                     num_topics=num_topics, vocab_size=layout.vocab_size, num_slots=layout.doc_ids.shape[1])


@functools.partial(jax.jit, static_argnames=("num_topics", "vocab_size", "num_slots"))
def _init_state(words, docs, mask, key, *, num_topics: int, vocab_size: int, num_slots: int) -> SamplerState:
  z = jax.random.randint(key, words.shape, 0, num_topics, jnp.int32) * mask
  counts = jax.vmap(lambda w, d, m, zz: compute_counts(w, d, m, zz, num_topics, vocab_size, num_slots))
  n_dk, n_kw, n_k = counts(words, docs, mask, z)
  return SamplerState(z, n_dk, n_kw.sum(0), n_k.sum(0))


def _draw_vectorized(u: jax.Array, z: jax.Array, num_topics: int,
                     weight: Callable[[int, jax.Array], jax.Array]) -> jax.Array:
  """One draw per token by inverting the cumulative topic weights.

  u: float32[T] uniforms; z: int32[T] old topics; weight(k, own) -> float32[T] unnormalized p(z=k) where `own`
  (bool[T]) says the token currently sits in topic k. The loop over k is unrolled so XLA fuses the gathers,
  the running sum and the comparisons into one pass over the tokens, keeping [T, K] out of memory.
  """
  if num_topics > UNROLL_MAX_TOPICS:
    return _draw_looped(u, z, num_topics, weight)
  running = jnp.zeros(u.shape, jnp.float32)
  partial_sums = []
  for k in range(num_topics):
    running = running + weight(k, z == k)
    partial_sums.append(running)
  threshold = u * running
  new = jnp.zeros(u.shape, jnp.int32)
  for k in range(num_topics - 1):
    new = new + (partial_sums[k] < threshold).astype(jnp.int32)
  return new


def _draw_looped(u, z, num_topics, weight):
  """`_draw_vectorized` for large K: two `fori_loop`s over topics (total, then inversion), so the program size does
  not grow with K; each weight is computed twice."""
  def total(k, acc):
    return acc + weight(k, z == k)

  threshold = u * jax.lax.fori_loop(0, num_topics, total, jnp.zeros(u.shape, jnp.float32))

  def invert(k, carry):
    running, new = carry
    running = running + weight(k, z == k)
    return running, new + ((running < threshold) & (k < num_topics - 1)).astype(jnp.int32)

  return jax.lax.fori_loop(0, num_topics, invert, (jnp.zeros(u.shape, jnp.float32), jnp.zeros(u.shape, jnp.int32)))[1]


def _chunk_sweep(words, docs, mask, z, n_dk, n_kw, n_k, u, alpha, beta):
  """Draws every token of one chunk of one block at once against the current counts (own assignment excluded).

  words, docs, mask, z, u: the chunk's tokens, any shape ([1, Tc] here); n_dk: int32[Dl, K]; n_kw: int32[K, V];
  n_k: int32[K]; alpha: float32[K]; beta: float32[V].
  Returns (new z, same shape; n_dk, n_kw, n_k with the chunk's tokens moved to their new topics).
  """
  num_topics, vocab_size = n_kw.shape
  num_slots = n_dk.shape[0]
  # Small tables computed once per chunk, so the per-token pass is gathers and multiplies only:
  # word[k, w] = (n_kw + b_w) / (n_k + sum b), the same with the token's own count removed, and
  # doc[k, d] = n_dk + a_k (transposed: one contiguous row per topic). They are written as (diagonal) matmuls
  # on purpose: XLA may fuse elementwise tables into each of the 2K gathers, which then become 2K separate passes
  # over the tokens (measured up to 5x slower on CPU); a dot is never fused into its consumers.
  n_kw_f = n_kw.astype(jnp.float32) + beta[None, :]
  n_k_f = n_k.astype(jnp.float32) + jnp.sum(beta)
  hi = jax.lax.Precision.HIGHEST
  word = jnp.dot(jnp.diag(1.0 / n_k_f), n_kw_f, precision=hi)
  word_own = jnp.dot(jnp.diag(1.0 / (n_k_f - 1.0)), n_kw_f - 1.0, precision=hi)
  doc = jax.lax.dot_general(jnp.eye(num_topics, dtype=jnp.float32), n_dk.astype(jnp.float32) + alpha,
                            (((1,), (1,)), ((), ())), precision=hi)   # [K, Dl]
  own_weight = word_own[z, words] * (doc[z, docs] - 1.0)

  def weight(k, own):
    return jnp.where(own, own_weight, word[k][words] * doc[k][docs])

  # new_z keeps the token arrays' shape: reshaping it for the output made XLA recompute the whole per-token pass
  # in each consumer (measured 10x slower on CPU); the scatters below flatten their own inputs instead.
  new_z = _draw_vectorized(u, z, num_topics, weight) * mask
  # Move each token from its old topic to its new one; flat 1-D scatters are ~2x faster than 2-D ones on CPU.
  one = mask.reshape(-1).astype(jnp.int32)
  d, w, old, new = docs.reshape(-1), words.reshape(-1), z.reshape(-1), new_z.reshape(-1)
  n_dk = n_dk.reshape(-1).at[d * num_topics + old].add(-one).at[d * num_topics + new].add(one)
  n_kw = n_kw.reshape(-1).at[old * vocab_size + w].add(-one).at[new * vocab_size + w].add(one)
  n_k = n_k.at[old].add(-one).at[new].add(one)
  return new_z, n_dk.reshape(num_slots, num_topics), n_kw.reshape(num_topics, vocab_size), n_k


def _exact_block_sweep(words, docs, mask, z, n_dk, n_kw, n_k, u, alpha, beta):
  """Sequential collapsed Gibbs over the tokens of one block: decrement → sample → increment."""
  beta_sum = jnp.sum(beta)

  def body(i, carry):
    z, n_dk, n_kw, n_k = carry
    w, d, old, real = words[i], docs[i], z[i], mask[i]
    dec = real.astype(jnp.int32)
    n_dk = n_dk.at[d, old].add(-dec)
    n_kw = n_kw.at[old, w].add(-dec)
    n_k = n_k.at[old].add(-dec)
    p = (n_kw[:, w] + beta[w]) / (n_k + beta_sum) * (n_dk[d] + alpha)
    cum = jnp.cumsum(p)
    new = jnp.minimum(jnp.sum(cum < u[i] * cum[-1]), n_k.shape[0] - 1).astype(jnp.int32)
    new = jnp.where(real, new, old)
    z = z.at[i].set(new)
    return z, n_dk.at[d, new].add(dec), n_kw.at[new, w].add(dec), n_k.at[new].add(dec)

  return jax.lax.fori_loop(0, words.shape[0], body, (z, n_dk, n_kw, n_k))


def make_sweep(sampler: str, layout: TokenLayout, mesh: Mesh | None = None):
  """Returns `sweep(state, key, step int32[], alpha float32[K], beta float32[V]) -> state` over `layout`.

  sampler: 'exact' (needs a 1-block layout) or 'parallel' (one block per device of `mesh`, default: a mesh over
  the first `layout.num_blocks` devices). Random numbers come from fold_in(key, step) inside the jitted functions
  (a host-side fold_in per sweep measured several ms of dispatch, more than a sweep of a 30k-token corpus). The
  token arrays are arguments, not constants, so corpora of the same (bucketed) shape share compiled programs.
  """
  if sampler == "exact":
    if layout.num_blocks != 1:
      raise ValueError(f"the exact sampler needs a 1-block layout, got {layout.num_blocks} blocks")
    words, docs, mask = (jnp.asarray(a) for a in (layout.words, layout.docs, layout.mask))
    return functools.partial(_exact_sweep, words, docs, mask)
  if sampler != "parallel":
    raise ValueError(f"unknown sampler {sampler!r}; use 'exact' or 'parallel'")
  if layout.num_blocks == 1 and mesh is None:
    return _ParallelSweep(layout, None)
  mesh = mesh or block_mesh(layout.num_blocks)
  if mesh.devices.size != layout.num_blocks:
    raise ValueError(f"mesh has {mesh.devices.size} devices but the layout has {layout.num_blocks} blocks")
  return _ParallelSweep(layout, mesh)


@jax.jit
def _exact_sweep(words, docs, mask, state: SamplerState, key, step, alpha, beta) -> SamplerState:
  u = jax.random.uniform(jax.random.fold_in(key, step), words.shape[1:])
  z, n_dk, n_kw, n_k = _exact_block_sweep(words[0], docs[0], mask[0], state.z[0], state.n_dk[0], state.n_kw,
                                          state.n_k, u, alpha, beta)
  return SamplerState(z[None], n_dk[None], n_kw, n_k)


class _ParallelSweep:
  """AD-LDA sweep: blocks (one per device) in parallel; within a block, its chunks in turn, all tokens of a chunk
  drawn at once. A chunk sees its block's document–topic counts and its block's own topic–word changes as of the
  previous chunk (AD-LDA's local copy); other blocks' changes arrive once per sweep, by one psum.

  Each chunk is its own jitted call (chunks chained inside one jit made XLA split the fused per-token pass into
  2K separate loops, measured 5x slower on CPU).
  """

  def __init__(self, layout: TokenLayout, mesh: Mesh | None):
    self.mesh = mesh
    self.num_chunks = layout.num_chunks
    tc = layout.words.shape[1] // layout.num_chunks
    put = jnp.asarray if mesh is None else (
        lambda a: jax.device_put(a, jax.sharding.NamedSharding(mesh, P(BLOCK_AXIS))))
    self.chunks = [tuple(put(a[:, c * tc:(c + 1) * tc]) for a in (layout.words, layout.docs, layout.mask))
                   for c in range(layout.num_chunks)]
    if mesh is not None:
      self.chunk_fn, self.begin, self.reconcile = _sharded_fns(mesh)

  def __call__(self, state: SamplerState, key, step, alpha, beta) -> SamplerState:
    if self.mesh is None:
      n_dk, n_kw, n_k = state.n_dk, state.n_kw, state.n_k
      new = []
      for c, (words, docs, mask) in enumerate(self.chunks):
        z, n_dk, n_kw, n_k = _single_chunk(words, docs, mask, state.z, n_dk, n_kw, n_k, key, step, alpha, beta,
                                           np.int32(c))
        new.append(z)
      z = new[0] if len(new) == 1 else jnp.concatenate(new, axis=1)
      return SamplerState(z, n_dk, n_kw, n_k)
    n_dk, kw_local, k_local = state.n_dk, *self.begin(state.n_kw, state.n_k)
    new = []
    for c, (words, docs, mask) in enumerate(self.chunks):
      z, n_dk, kw_local, k_local = self.chunk_fn(words, docs, mask, state.z, n_dk, kw_local, k_local, key, step,
                                                 alpha, beta, np.int32(c))
      new.append(z)
    z = new[0] if len(new) == 1 else jnp.concatenate(new, axis=1)
    n_kw, n_k = self.reconcile(state.n_kw, state.n_k, kw_local, k_local)
    return SamplerState(z, n_dk, n_kw, n_k)


def _chunk_of(z, tc: int, chunk):
  """Columns [chunk·tc, (chunk+1)·tc) of z [S, T]; `chunk` is traced, so all chunks share one compiled program."""
  return jax.lax.dynamic_slice_in_dim(z, chunk * tc, tc, axis=1)


@jax.jit
def _single_chunk(words, docs, mask, z, n_dk, n_kw, n_k, key, step, alpha, beta, chunk):
  # Same random stream as block 0 of the sharded sweep.
  u = jax.random.uniform(jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, step), 0), chunk),
                         words.shape)
  new_z, n_dk, n_kw, n_k = _chunk_sweep(words, docs, mask, _chunk_of(z, words.shape[1], chunk), n_dk[0], n_kw, n_k,
                                        u, alpha, beta)
  return new_z, n_dk[None], n_kw, n_k


@functools.lru_cache(maxsize=8)
def _sharded_fns(mesh: Mesh):
  """(chunk_fn, begin, reconcile) for one block per device of `mesh`; topic–word counts are per-block copies
  [S, K, V] during a sweep and are reconciled by one psum at its end."""
  blocked, rep = P(BLOCK_AXIS), P()
  num_blocks = mesh.devices.size

  @jax.jit
  def chunk_fn(words, docs, mask, z, n_dk, kw_local, k_local, key, step, alpha, beta, chunk):
    def shard_fn(words, docs, mask, z, n_dk, kw_local, k_local, key, step, alpha, beta, chunk):
      key = jax.random.fold_in(jax.random.fold_in(key, step), jax.lax.axis_index(BLOCK_AXIS))
      u = jax.random.uniform(jax.random.fold_in(key, chunk), words.shape)
      new_z, dk, kw, k = _chunk_sweep(words, docs, mask, _chunk_of(z, words.shape[1], chunk), n_dk[0],
                                      kw_local[0], k_local[0], u, alpha, beta)
      return new_z, dk[None], kw[None], k[None]
    return jax.shard_map(shard_fn, mesh=mesh, in_specs=(blocked,) * 7 + (rep,) * 5, out_specs=(blocked,) * 4,
                         check_vma=False)(words, docs, mask, z, n_dk, kw_local, k_local, key, step, alpha, beta,
                                          chunk)

  sharding = jax.sharding.NamedSharding(mesh, blocked)

  @functools.partial(jax.jit, out_shardings=(sharding, sharding))
  def begin(n_kw, n_k):
    return (jnp.broadcast_to(n_kw, (num_blocks,) + n_kw.shape), jnp.broadcast_to(n_k, (num_blocks,) + n_k.shape))

  @jax.jit
  def reconcile(n_kw, n_k, kw_local, k_local):
    def shard_fn(n_kw, n_k, kw_local, k_local):
      # Every block started from the same counts: new = start + the sum of all blocks' changes.
      return n_kw + jax.lax.psum(kw_local[0] - n_kw, BLOCK_AXIS), n_k + jax.lax.psum(k_local[0] - n_k, BLOCK_AXIS)
    return jax.shard_map(shard_fn, mesh=mesh, in_specs=(rep, rep, blocked, blocked), out_specs=(rep, rep),
                         check_vma=False)(n_kw, n_k, kw_local, k_local)

  return chunk_fn, begin, reconcile


def block_mesh(num_blocks: int) -> Mesh:
  """A 1-D mesh over the first `num_blocks` devices, axis name `BLOCK_AXIS`."""
  devices = jax.devices()
  if num_blocks > len(devices):
    raise ValueError(f"asked for {num_blocks} blocks but only {len(devices)} devices are visible")
  return Mesh(np.array(devices[:num_blocks]), (BLOCK_AXIS,))


# ------------------------------------------------------------------------------------------------------------
# Fold-in inference: topics fixed, only document–topic counts move.


@functools.partial(jax.jit, static_argnames=("num_slots", "sampler", "num_sweeps", "burn_in"))
def fold_in(words: jax.Array, docs: jax.Array, mask: jax.Array, phi: jax.Array, alpha: jax.Array, key: jax.Array,
            *, num_slots: int, sampler: str, num_sweeps: int, burn_in: int) -> jax.Array:
  """Gibbs inference of document–topic proportions for unseen documents with topics held fixed.

  words, docs: int32[T] (docs indexes 0..num_slots-1); mask: bool[T];
  phi: float32[K, V] topic–word probabilities; alpha: float32[K].
  Returns theta: float32[Dl, K], the posterior mean (n_dk + alpha) / (n_d + sum alpha) averaged over the sweeps
  after `burn_in`. 'exact' samples tokens one at a time; 'parallel' draws all tokens at once per sweep.
  """
  num_topics = phi.shape[0]
  key, init_key = jax.random.split(key)
  z = jax.random.randint(init_key, words.shape, 0, num_topics, jnp.int32) * mask
  one = mask.astype(jnp.int32)
  n_dk = jnp.zeros((num_slots * num_topics,), jnp.int32).at[docs * num_topics + z].add(one)
  n_dk = n_dk.reshape(num_slots, num_topics)
  phi_w = phi[:, words]   # [K, T]: fixed for the whole run, so gather once

  def exact_sweep(z, n_dk, u):
    def body(i, carry):
      z, n_dk = carry
      d, old, dec = docs[i], z[i], one[i]
      n_dk = n_dk.at[d, old].add(-dec)
      cum = jnp.cumsum(phi_w[:, i] * (n_dk[d] + alpha))
      new = jnp.minimum(jnp.sum(cum < u[i] * cum[-1]), num_topics - 1).astype(jnp.int32)
      new = jnp.where(dec > 0, new, old)
      return z.at[i].set(new), n_dk.at[d, new].add(dec)
    return jax.lax.fori_loop(0, words.shape[0], body, (z, n_dk))

  def parallel_sweep(z, n_dk, u):
    n_kd = n_dk.T.astype(jnp.float32)

    def weight(k, own):
      return phi_w[k] * (n_kd[k][docs] - own.astype(jnp.float32) + alpha[k])
    new = _draw_vectorized(u, z, num_topics, weight) * mask
    counts = jnp.zeros((num_slots * num_topics,), jnp.int32).at[docs * num_topics + new].add(one)
    return new, counts.reshape(num_slots, num_topics)

  sweep = exact_sweep if sampler == "exact" else parallel_sweep

  def step(carry, i):
    z, n_dk, total = carry
    z, n_dk = sweep(z, n_dk, jax.random.uniform(jax.random.fold_in(key, i), words.shape))
    theta = (n_dk + alpha) / (n_dk.sum(1, keepdims=True) + alpha.sum())
    total = total + jnp.where(i >= burn_in, theta, 0.0)
    return (z, n_dk, total), None

  init = (z, n_dk, jnp.zeros((num_slots, num_topics), jnp.float32))
  (_, _, total), _ = jax.lax.scan(step, init, jnp.arange(num_sweeps))
  return total / max(num_sweeps - burn_in, 1)


# ------------------------------------------------------------------------------------------------------------
# Diagnostics in float64 on the host.


def joint_log_likelihood(n_kw: np.ndarray, n_dk: np.ndarray, alpha, beta) -> float:
  """log p(w, z | alpha, beta) of the collapsed model, the quantity the `lda` package reports.

  n_kw: int[K, V]; n_dk: int[D, K] (padding rows of zeros add nothing); alpha: float or float[K];
  beta: float or float[V]. For symmetric priors this is term for term the `lda` package's `_loglikelihood`:
    sum_k [lgG(sum b) - lgG(sum b + n_k) + sum_w lgG(b_w + n_kw) - lgG(b_w)]
  + sum_d [lgG(sum a) - lgG(sum a + n_d) + sum_k lgG(a_k + n_dk) - lgG(a_k)].
  """
  n_kw = np.asarray(n_kw, np.float64)
  n_dk = np.asarray(n_dk, np.float64).reshape(-1, n_kw.shape[0])
  k, v = n_kw.shape
  alpha = np.broadcast_to(np.asarray(alpha, np.float64), (k,))
  beta = np.broadcast_to(np.asarray(beta, np.float64), (v,))
  gl = special.gammaln
  ll = k * gl(beta.sum()) - gl(beta.sum() + n_kw.sum(1)).sum() + (gl(beta + n_kw) - gl(beta)).sum()
  n_d = n_dk.sum(1)
  ll += len(n_d) * gl(alpha.sum()) - gl(alpha.sum() + n_d).sum() + (gl(alpha + n_dk) - gl(alpha)).sum()
  # Padding slots (n_d = 0) contributed gl(sum a) - gl(sum a) = 0 above, so they need no mask.
  return float(ll)


def minka_alpha(n_dk: np.ndarray, alpha: np.ndarray, num_steps: int = 5) -> np.ndarray:
  """Minka's fixed point for an asymmetric Dirichlet alpha: float64[K].

  alpha_k <- alpha_k * sum_d [psi(n_dk + alpha_k) - psi(alpha_k)] / sum_d [psi(n_d + alpha_0) - psi(alpha_0)].
  n_dk: int[D, K] (empty documents contribute zero to both sums).
  """
  n_dk = np.asarray(n_dk, np.float64)
  n_dk = n_dk[n_dk.sum(1) > 0]
  n_d = n_dk.sum(1)
  alpha = np.asarray(alpha, np.float64).copy()
  for _ in range(num_steps):
    num = (special.digamma(n_dk + alpha) - special.digamma(alpha)).sum(0)
    den = (special.digamma(n_d + alpha.sum()) - special.digamma(alpha.sum())).sum()
    alpha = np.maximum(alpha * num / den, 1e-6)
  return alpha


def minka_beta(n_kw: np.ndarray, beta: np.ndarray, num_steps: int = 5) -> np.ndarray:
  """Minka's fixed point for the concentration s = sum(beta) with the base measure beta / s kept: float64[V].

  s <- s * sum_kw m_w [psi(n_kw + s m_w) - psi(s m_w)] / sum_k [psi(n_k + s) - psi(s)]; for a symmetric beta this
  is the usual beta <- beta * sum_kw [psi(n_kw + beta) - psi(beta)] / (V sum_k [psi(n_k + V beta) - psi(V beta)]).
  """
  n_kw = np.asarray(n_kw, np.float64)
  beta = np.asarray(beta, np.float64)
  s = beta.sum()
  m = beta / s
  n_k = n_kw.sum(1)
  for _ in range(num_steps):
    num = (m * (special.digamma(n_kw + s * m) - special.digamma(s * m))).sum()
    den = (special.digamma(n_k + s) - special.digamma(s)).sum()
    s = max(s * num / den, 1e-6 * len(m))
  return s * m
