"""Decoding speed: jitted while_loop beam search vs a Python-loop beam search, and beam vs greedy cost.

The model is a small but real decoder step (embedding -> LSTM cell -> output projection -> log-softmax)
with random weights. Both beam searches call the same jitted step_fn; the Python-loop baseline does
the top-k / gather / finished-set bookkeeping in numpy on the host between steps, as a hand-written
decoder would. Compile time is excluded (one warm-up call each); the three decoders take turns for
several repetitions (`block_until_ready` on each) and the ratios use each one's fastest run, since
on a shared machine other processes only ever add time (medians are reported too).

    python -m experiments.benchmarks.decoding          # V=1000, hidden 256, B=32, K=4, max_len=32
    python -m experiments.benchmarks.decoding --quick  # smaller, for a fast check
    python -m experiments.benchmarks.decoding --sweep  # also the sizes in SWEEP_SIZES, one JSON line each
    python -m experiments.benchmarks.decoding --dump_hlo DIR   # also the compiled beam and greedy programs
    python -m experiments.benchmarks.decoding --unroll 2       # steps per loop iteration for both decoders
                                                                # (default: research.decoding.default_unroll())

On a CPU the step's own arithmetic is paid by both decoders alike, so the ratio is bounded by
(step + host bookkeeping) / step and shrinks as the model grows; --sweep measures that dependence.

Last stdout line: one JSON object with
  beam_while_sentences_per_s, beam_python_sentences_per_s, while_over_python (goal >= 10), and
  beam_time_s, greedy_bk_time_s, beam_over_greedy (goal <= 1.3; greedy decodes B*K rows, the same
  number of rows the beam search feeds step_fn), and
  sample_time_s, greedy_full_time_s, sample_over_greedy (goal <= 1.1): temperature sampling vs greedy search
  on the same B*K rows for all max_len steps; sample_top_k40_over_greedy and sample_top_p09_over_greedy with
  the filters on (top-p sorts the vocabulary every step).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research.decoding import NEG_INF, beam_search, default_unroll, greedy_search, temperature_sample


class LSTMDecoderStep(nn.Module):
  """One decoding step: token ids [B] and an LSTM carry ((c, h), each [B, H]) -> log-probs [B, V]."""
  vocab_size: int
  hidden: int

  @nn.compact
  def __call__(self, tokens, carry):
    x = nn.Embed(self.vocab_size, self.hidden)(tokens)
    carry, y = nn.OptimizedLSTMCell(self.hidden)(carry, x)
    return jax.nn.log_softmax(nn.Dense(self.vocab_size)(y)), carry


def python_loop_beam_search(step, params, cache, *, batch_size, beam_size, max_len, bos_id, eos_id, pad_id=0,
                            length_penalty=0.0):
  """The same algorithm as research.decoding.beam_search, with the loop and bookkeeping on the host.

  `step(params, tokens [B*K], cache)` is jitted; everything else is numpy between calls.
  """
  b, k = batch_size, beam_size
  cache = jax.tree_util.tree_map(lambda x: np.repeat(np.asarray(x), k, axis=0), cache)
  live_lp = np.where(np.arange(k) == 0, 0.0, NEG_INF).astype(np.float32)[None].repeat(b, 0)
  live_seqs = np.full((b, k, max_len), pad_id, np.int32)
  fin_scores = np.full((b, k), NEG_INF, np.float32)
  fin_flags = np.zeros((b, k), bool)
  fin_seqs = np.full((b, k, max_len), pad_id, np.int32)
  rows = np.arange(b)[:, None]

  def penalty(length):
    return np.float32(((5.0 + length) / 6.0) ** length_penalty)

  for t in range(max_len):
    prev = np.full((b, k), bos_id, np.int32) if t == 0 else live_seqs[:, :, t - 1]
    log_probs, new_cache = step(params, prev.reshape(-1), cache)
    log_probs = np.maximum(np.asarray(log_probs, np.float32), NEG_INF).reshape(b, k, -1)
    vocab = log_probs.shape[-1]
    cand = (live_lp[:, :, None] + log_probs).reshape(b, k * vocab)
    top = np.argpartition(-cand, 2 * k, axis=1)[:, :2 * k]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(cand, top, 1), axis=1, kind="stable"), 1)
    top_lp = np.take_along_axis(cand, top, 1)
    parent, token = top // vocab, (top % vocab).astype(np.int32)
    top_seqs = live_seqs[rows, parent]
    top_seqs[:, :, t] = token
    valid = top_lp > NEG_INF / 2
    is_eos = token == eos_id
    newly = (is_eos | (t == max_len - 1)) & (np.arange(2 * k) < k) & valid
    new_scores = np.where(newly, top_lp / penalty(t + 1), NEG_INF).astype(np.float32)
    all_scores = np.concatenate([fin_scores, new_scores], 1)
    all_flags = np.concatenate([fin_flags, newly], 1)
    order = np.argsort(-np.where(all_flags, all_scores, -np.inf), axis=1, kind="stable")[:, :k]
    fin_scores, fin_flags = all_scores[rows, order], all_flags[rows, order]
    fin_seqs = np.concatenate([fin_seqs, top_seqs], 1)[rows, order]
    live_key = np.where(is_eos, NEG_INF, top_lp).astype(np.float32)
    live_idx = np.argsort(-live_key, axis=1, kind="stable")[:, :k]
    live_lp, live_seqs = live_key[rows, live_idx], top_seqs[rows, live_idx]
    flat_parent = (rows * k + parent[rows, live_idx]).reshape(-1)
    cache = jax.tree_util.tree_map(lambda x, p=flat_parent: np.asarray(x)[p], new_cache)
    # Early stop: the same bound as the jitted version.
    live_valid = live_lp > NEG_INF / 2
    bound = np.max(np.where(live_valid, live_lp / max(penalty(t + 2), penalty(max_len)), NEG_INF), 1)
    worst = np.min(np.where(fin_flags, fin_scores, NEG_INF), 1)
    done = ~live_valid.any(1) | (fin_flags.all(1) & (bound <= worst))
    if done.all():
      break
  return np.where(fin_flags[:, :, None], fin_seqs, pad_id), np.where(fin_flags, fin_scores, NEG_INF)


def time_interleaved(fns: dict, reps: int) -> dict[str, list[float]]:
  """Seconds per call of each fn, after one warm-up (compile) call each. The fns take turns, so a burst
  of load from other processes hits all of them alike."""
  for fn in fns.values():
    jax.block_until_ready(fn())
  times: dict[str, list[float]] = {name: [] for name in fns}
  for _ in range(reps):
    for name, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn())
      times[name].append(time.perf_counter() - start)
  return times


def measure(vocab: int, hidden: int, batch: int, beam: int, max_len: int, reps: int, dump_hlo: str = "",
            unroll: int | None = None) -> dict:
  """Times the three decoders on one random LSTM decoder of the given size; returns the result dict.

  unroll: steps per loop iteration of the two jitted decoders (None: research.decoding's default).

  dump_hlo: a folder to write the compiled (backend-optimised) HLO of the beam and greedy programs to, as
  beam.hlo.txt and greedy.hlo.txt: each fusion or custom call in the while body is a kernel per step on a GPU.
  """
  bos, eos = 1, 2
  model = LSTMDecoderStep(vocab, hidden)
  carry0 = (jnp.zeros((batch, hidden)), jnp.zeros((batch, hidden)))
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((batch,), jnp.int32), carry0)
  # A different initial state per sentence stands in for an encoder's output.
  h0 = jax.random.normal(jax.random.PRNGKey(1), (batch, hidden))
  cache = (jnp.zeros((batch, hidden)), h0)

  def step(params, tokens, carry):
    return model.apply(params, tokens, carry)

  jit_step = jax.jit(step)
  kw = dict(batch_size=batch, beam_size=beam, max_len=max_len, bos_id=bos, eos_id=eos)
  unroll = default_unroll() if unroll is None else unroll

  @jax.jit
  def beam_jit(params, cache):
    return beam_search(functools.partial(step, params), cache, unroll=unroll, **kw)

  @jax.jit
  def greedy_jit(params, cache):
    return greedy_search(functools.partial(step, params), cache, batch_size=batch * beam, max_len=max_len,
                         bos_id=bos, eos_id=eos, unroll=unroll)

  # Sampling against greedy search at the same B·K rows, both for exactly max_len steps (an eos id the model
  # cannot emit), so the ratio is the per-step cost of drawing a token instead of taking the argmax.
  never = vocab
  sample_kw = dict(batch_size=batch * beam, max_len=max_len, bos_id=bos, eos_id=never, unroll=unroll)

  @functools.partial(jax.jit, static_argnames=("top_k", "top_p"))
  def sample_jit(params, cache, rng, top_k=0, top_p=1.0):
    return temperature_sample(functools.partial(step, params), cache, rng, top_k=top_k, top_p=top_p, **sample_kw)

  @jax.jit
  def greedy_full_jit(params, cache):
    return greedy_search(functools.partial(step, params), cache, **sample_kw)

  cache_bk = jax.tree_util.tree_map(lambda x: jnp.repeat(x, beam, axis=0), cache)
  if dump_hlo:
    os.makedirs(dump_hlo, exist_ok=True)
    for name, fn, args in (("beam", beam_jit, (params, cache)), ("greedy", greedy_jit, (params, cache_bk))):
      with open(os.path.join(dump_hlo, f"{name}.hlo.txt"), "w") as f:
        f.write(fn.lower(*args).compile().as_text())

  times = time_interleaved({
      "while": lambda: beam_jit(params, cache),
      "python": lambda: python_loop_beam_search(jit_step, params, cache, **kw),
      "greedy": lambda: greedy_jit(params, cache_bk),
      "greedy_full": lambda: greedy_full_jit(params, cache_bk),
      "sample": lambda: sample_jit(params, cache_bk, jax.random.key(0)),
      "sample_top_k": lambda: sample_jit(params, cache_bk, jax.random.key(0), top_k=40),
      "sample_top_p": lambda: sample_jit(params, cache_bk, jax.random.key(0), top_p=0.9),
  }, reps)
  # Ratios use the fastest of the runs: on a shared machine other processes only ever add time.
  t_while, t_python, t_greedy = (min(times[name]) for name in ("while", "python", "greedy"))

  seqs_jit, scores_jit = map(np.asarray, beam_jit(params, cache))
  seqs_py, scores_py = python_loop_beam_search(jit_step, params, cache, **kw)
  return {
      "config": {"vocab": vocab, "hidden": hidden, "batch": batch, "beam": beam, "max_len": max_len, "reps": reps,
                 "unroll": unroll},
      "beam_while_time_s": round(t_while, 5),
      "beam_python_time_s": round(t_python, 5),
      "beam_while_sentences_per_s": round(batch / t_while, 2),
      "beam_python_sentences_per_s": round(batch / t_python, 2),
      "while_over_python": round(t_python / t_while, 3),
      "beam_time_s": round(t_while, 5),
      "greedy_bk_time_s": round(t_greedy, 5),
      "beam_over_greedy": round(t_while / t_greedy, 3),
      "beam_while_median_s": round(statistics.median(times["while"]), 5),
      "beam_python_median_s": round(statistics.median(times["python"]), 5),
      "greedy_bk_median_s": round(statistics.median(times["greedy"]), 5),
      "best_sequence_agreement": float(np.mean(np.all(seqs_jit[:, 0] == seqs_py[:, 0], axis=-1))),
      "max_abs_score_diff": float(np.max(np.abs(scores_jit - scores_py))),
      "greedy_full_time_s": round(min(times["greedy_full"]), 5),
      "sample_time_s": round(min(times["sample"]), 5),
      "sample_over_greedy": round(min(times["sample"]) / min(times["greedy_full"]), 3),
      "sample_top_k40_over_greedy": round(min(times["sample_top_k"]) / min(times["greedy_full"]), 3),
      "sample_top_p09_over_greedy": round(min(times["sample_top_p"]) / min(times["greedy_full"]), 3),
  }


# (vocab, hidden, batch) of --sweep: from a toy decoder, where per-step overhead is all there is, to a
# word-level translation decoder, where the step's matrix products dominate.
SWEEP_SIZES = ((100, 32, 8), (200, 64, 8), (1000, 128, 32), (1000, 256, 32), (8000, 256, 32))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="small model and batch, fewer repetitions")
  parser.add_argument("--sweep", action="store_true",
                      help="also time the model sizes in SWEEP_SIZES (one JSON line each) to show how the ratio "
                           "depends on the step's compute")
  parser.add_argument("--dump_hlo", default="", help="folder for the compiled HLO of the default-size beam and "
                      "greedy programs (beam.hlo.txt, greedy.hlo.txt)")
  parser.add_argument("--unroll", type=int, default=None,
                      help="decoding steps per loop iteration, both decoders (default: research.decoding.default_unroll())")
  args = parser.parse_args()
  if args.quick:
    vocab, hidden, batch, beam, max_len, reps = 200, 64, 8, 4, 16, 5
  else:
    vocab, hidden, batch, beam, max_len, reps = 1000, 256, 32, 4, 32, 15
  sweep = []
  if args.sweep:
    for v, h, b in SWEEP_SIZES:
      sweep.append(measure(v, h, b, beam, max_len, max(3, reps // 3), unroll=args.unroll))
      print(json.dumps(sweep[-1]), flush=True)
  result = {"device": str(jax.devices()[0].device_kind), "load_average_1min_before": round(os.getloadavg()[0], 2)}
  result.update(measure(vocab, hidden, batch, beam, max_len, reps, dump_hlo=args.dump_hlo, unroll=args.unroll))
  result.update({"timing": "min over reps (interleaved); median in *_median_s", "while_over_python_goal": ">= 10",
                 "beam_over_greedy_goal": "<= 1.3", "sample_over_greedy_goal": "<= 1.1",
                 "load_average_1min_after": round(os.getloadavg()[0], 2)})
  if sweep:
    result["sweep_while_over_python"] = {f"V{r['config']['vocab']}_H{r['config']['hidden']}_B{r['config']['batch']}":
                                         r["while_over_python"] for r in sweep}
  print(json.dumps(result))


if __name__ == "__main__":
  main()
