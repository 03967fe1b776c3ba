"""Training and decoding speed of the Transformer and the Luong attention seq2seq, at two sizes each.

For every (model, size): a jitted train step (forward + backward + Adam update, label-smoothed loss) in target
tokens/s, and greedy and beam (k = 4) decoding in sentences/s, each with its jit compile time (lower + compile,
measured separately from the timed runs). Weights are random and `eos_id` is an id no model can emit, so every
decode runs exactly `max_len` steps and the numbers do not depend on when a random model happens to stop.
Decoding is jitted end to end (encoder, cache set-up and the search's `lax.while_loop` in one program).
Each repetition repeats its call for at least `min_time` seconds; the fastest repetition counts, since on a
shared machine other processes only ever add time (medians are reported too).

    python -m experiments.benchmarks.transformer            # V=8000, B=64, S=T=32; sizes 'small' and 'base'
    python -m experiments.benchmarks.transformer --quick    # tiny sizes, for a fast check on CPU
    python -m experiments.benchmarks.transformer --sizes small   # the full setup, 'small' only (a CPU's share)
    python -m experiments.benchmarks.transformer --dtype bfloat16 --attention_impl cudnn   # on a GPU

Last stdout line (and the file given by --out): one JSON object: the machine (backend, device, CPU count, the
1-minute load average before and after the run: on a shared machine other jobs slow every figure down),
`results[model][size]` with train_tokens_per_s, train_compile_s,
greedy_sentences_per_s, greedy_compile_s, beam_sentences_per_s, beam_compile_s; and `ratios` giving both
sides and the ratio of Transformer ÷ Luong train tokens/s per size and of beam ÷ greedy decode time per model.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import optax

from research.decoding import beam_search, greedy_search
from research.decoding.decoder import method_step_fns
from research.models.attention import LuongSeq2Seq
from research.models.transformer import Transformer
from research.tasks.losses import cross_entropy

BOS, NEVER_EOS, BEAM = 1, -1, 4

SIZES: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "full": {
        "transformer": {
            "small": dict(d_model=256, num_heads=4, num_encoder_layers=3, num_decoder_layers=3, d_ff=1024),
            "base": dict(d_model=512, num_heads=8, num_encoder_layers=6, num_decoder_layers=6, d_ff=2048),
        },
        "luong": {
            "small": dict(embed_dim=256, hidden_dim=256, num_layers=1),
            "base": dict(embed_dim=512, hidden_dim=512, num_layers=2),
        },
    },
    "quick": {
        "transformer": {
            "small": dict(d_model=32, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=64),
            "base": dict(d_model=64, num_heads=4, num_encoder_layers=2, num_decoder_layers=2, d_ff=128),
        },
        "luong": {
            "small": dict(embed_dim=32, hidden_dim=32, num_layers=1),
            "base": dict(embed_dim=64, hidden_dim=64, num_layers=2),
        },
    },
}


def build(name: str, kw: dict[str, Any], vocab: int, dtype: str, attention_impl: str):
  if name == "transformer":
    return Transformer(src_vocab_size=vocab, tgt_vocab_size=vocab, dropout_rate=0.1, dtype=dtype,
                       attention_impl=attention_impl, **kw)
  return LuongSeq2Seq(src_vocab_size=vocab, tgt_vocab_size=vocab, score="general", dropout_rate=0.1, dtype=dtype,
                      **kw)


def compile_timed(fn, *args) -> tuple[Any, float]:
  """(compiled executable, seconds to lower + compile)."""
  t0 = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return compiled, time.perf_counter() - t0


def best_and_median(run, reps: int, min_time: float) -> tuple[float, float]:
  """(fastest, median) seconds per `run()` over `reps` repetitions; each repetition calls `run` until at least
  `min_time` seconds have passed, so sub-millisecond calls are not timed one by one."""
  times = []
  for _ in range(reps):
    calls, t0 = 0, time.perf_counter()
    while True:
      run()
      calls += 1
      elapsed = time.perf_counter() - t0
      if elapsed >= min_time:
        break
    times.append(elapsed / calls)
  return min(times), statistics.median(times)


def bench_model(model, *, batch: int, length: int, vocab: int, steps: int, reps: int,
                min_time: float) -> dict[str, float]:
  key = jax.random.key(0)
  src = jax.random.randint(jax.random.fold_in(key, 1), (batch, length), 2, vocab, dtype=jnp.int32)
  tgt = jax.random.randint(jax.random.fold_in(key, 2), (batch, length + 1), 2, vocab, dtype=jnp.int32)
  tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
  params = jax.jit(model.init)(jax.random.fold_in(key, 3), src, tgt_in)["params"]
  tx = optax.adam(1e-4)
  opt_state = tx.init(params)

  def train_step(params, opt_state, src, tgt_in, tgt_out, rng):
    def loss_fn(p):
      logits = model.apply({"params": p}, src, tgt_in, train=True, rngs={"dropout": rng})
      total, count = cross_entropy(logits, tgt_out, tgt_out != 0, 0.1)
      return total / count
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  out: dict[str, float] = {}
  step, out["train_compile_s"] = compile_timed(train_step, params, opt_state, src, tgt_in, tgt_out, key)
  state = {"params": params, "opt": opt_state}

  def run_train():
    for i in range(steps):
      state["params"], state["opt"], loss = step(state["params"], state["opt"], src, tgt_in, tgt_out,
                                                 jax.random.fold_in(key, i))
    jax.block_until_ready(loss)
  run_train()  # warm-up (allocations)
  best, median = best_and_median(run_train, reps, min_time)
  out["train_tokens_per_s"] = batch * length * steps / best
  out["train_tokens_per_s_median"] = batch * length * steps / median

  variables = {"params": state["params"]}
  searches = {
      "greedy": functools.partial(greedy_search, batch_size=batch, max_len=length, bos_id=BOS, eos_id=NEVER_EOS),
      "beam": functools.partial(beam_search, batch_size=batch, beam_size=BEAM, max_len=length, bos_id=BOS,
                                eos_id=NEVER_EOS),
  }
  for name, search in searches.items():
    def decode(variables, src, search=search):
      return search(*method_step_fns(model, variables, src, length))
    compiled, out[f"{name}_compile_s"] = compile_timed(decode, variables, src)
    jax.block_until_ready(compiled(variables, src))  # warm-up
    best, median = best_and_median(lambda c=compiled: jax.block_until_ready(c(variables, src)), reps, min_time)
    out[f"{name}_time_s"] = best
    out[f"{name}_sentences_per_s"] = batch / best
    out[f"{name}_sentences_per_s_median"] = batch / median
  return out


def make_report(args: argparse.Namespace, setup: dict[str, Any], mode: str, chosen: list[str],
                results: dict[str, dict[str, dict[str, float]]], load_before: float, start: float,
                complete: bool) -> dict[str, Any]:
  """The JSON report of the rows measured so far; ratios only where both of their sides exist."""
  ratios: dict[str, Any] = {}
  for size in chosen:
    if size in results["transformer"] and size in results["luong"]:
      t, lu = results["transformer"][size]["train_tokens_per_s"], results["luong"][size]["train_tokens_per_s"]
      ratios[f"{size}_transformer_over_luong_train_tokens_per_s"] = {"transformer": t, "luong": lu,
                                                                     "ratio": float(f"{t / lu:.4g}")}
  for name in results:
    for size, r in results[name].items():
      ratios[f"{name}_{size}_beam_over_greedy_time"] = {"beam_time_s": r["beam_time_s"],
                                                        "greedy_time_s": r["greedy_time_s"],
                                                        "ratio": float(f"{r['beam_time_s'] / r['greedy_time_s']:.4g}")}
  command = " ".join(["python -m experiments.benchmarks.transformer", *args.argv])
  return {"benchmark": "transformer", "command": command, "complete": complete, "mode": mode,
          "device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
          "machine": platform.machine(), "jax_version": jax.__version__,
          "load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(os.getloadavg()[0], 2),
          "wall_s": round(time.perf_counter() - start, 1), "dtype": args.dtype, "attention_impl": args.attention_impl,
          "beam_size": BEAM, **setup,
          "sizes": {name: {size: kw for size, kw in sizes.items() if size in chosen}
                    for name, sizes in SIZES[mode].items()},
          "results": results, "ratios": ratios}


def write_report(path: str, report: dict[str, Any]) -> None:
  with open(path, "w") as f:
    json.dump(report, f, indent=1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps (CPU check)")
  parser.add_argument("--dtype", default="float32", help="compute dtype: float32 | bfloat16 (params stay float32)")
  parser.add_argument("--attention_impl", default="reference", help="Transformer attention: reference | xla | cudnn")
  parser.add_argument("--out", default="", help="also write the JSON report to this file")
  parser.add_argument("--sizes", default="small,base", help="comma-separated sizes to run (a CPU cannot fit 'base')")
  args = parser.parse_args(argv)
  args.argv = sys.argv[1:] if argv is None else list(argv)
  load_before = os.getloadavg()[0]  # other jobs on a shared machine slow every figure down: record them
  start = time.perf_counter()
  mode = "quick" if args.quick else "full"
  setup = dict(batch=8, length=10, vocab=256, steps=3, reps=3, min_time=0.2) if args.quick else \
      dict(batch=64, length=32, vocab=8000, steps=10, reps=3, min_time=1.0)
  chosen = args.sizes.split(",")
  for size in chosen:
    if size not in SIZES[mode]["transformer"]:
      raise SystemExit(f"error: --sizes {size!r}: use {', '.join(SIZES[mode]['transformer'])}")
  results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in SIZES[mode]}
  # Size-major order: both models' small rows come first, so a run cut short by a time limit still has a
  # complete Transformer-vs-Luong comparison at the smaller size.
  for size in chosen:
    for name, sizes in SIZES[mode].items():
      kw = sizes[size]
      model = build(name, kw, setup["vocab"], args.dtype, args.attention_impl)
      results[name][size] = {k: float(f"{v:.6g}") for k, v in bench_model(model, **setup).items()}
      print(f"{name:12s} {size:6s} " + " ".join(f"{k}={v:.4g}" for k, v in results[name][size].items()), flush=True)
      if args.out:  # after every row: a run cut short by a time limit keeps what it measured
        write_report(args.out, make_report(args, setup, mode, chosen, results, load_before, start, complete=False))
  report = make_report(args, setup, mode, chosen, results, load_before, start, complete=True)
  if args.out:
    write_report(args.out, report)
  print(json.dumps(report))
  return report


if __name__ == "__main__":
  main()
