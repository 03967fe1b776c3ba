"""Beam-search selection variants: how the 2K candidates and the K finished / K live beams are picked.

    python -m experiments.benchmarks.beam_topk           # V ∈ {1000, 8000}, hidden 256, B=32, K=4, max_len=32
    python -m experiments.benchmarks.beam_topk --quick   # V=200, hidden 64, B=8

Every step of `research.decoding.beam_search` selects three times: the best 2K of the K·V one-token extensions
(`candidates`), the best K of the old and new finished hypotheses (3K entries) and the best K non-eos candidates
(2K entries). All variants give the same result, ties included (tests/decoding/test_decoding.py); which is fastest is
a property of the backend, so this benchmark times each one:
  candidates: `one_stage` (one top_k over [B, K·V]), `two_stage` (each beam's best 2K, then the best 2K of
    those K·2K) or `two_stage_padded` (the first stage over rows padded to 1024 entries, `top_k_padded`: XLA's
    GPU top-k kernel needs that many, shorter rows are sorted);
  small: `top_k` (`jax.lax.top_k` for the 3K- and 2K-entry selections and the second stage) or `rank`
    (`top_k_by_rank`: pairwise comparisons and reductions, no sort kernel).
Each variant runs inside the same jitted while_loop beam search on the decoding benchmark's LSTM decoder, timed
against greedy search at batch B·K in the same run. Greedy's own pick is timed both ways too: `jax.lax.top_k(., 1)`
(`research.decoding.pick_by_top_k`, the default) and `pick_by_argmax` (`greedy_argmax`).

Measured so far (H100, jax 0.11.2, 2026-11-26): two_stage took V=8000 beam/greedy from 1.637 to 1.303 and V=1000
from 1.449 to 1.395 (experiments/benchmarks/results/h100_2026-11-26/run2_topk.log); on the second run, rank took
V=1000 from 2.12 to 1.99 ms (two_stage) and left V=8000 unchanged (2.86 vs 2.87 ms)
(experiments/benchmarks/results/h100_2026-11-26b/call2_beam_topk.log). On this project's 2-core CPU (load 1.0) one_stage+top_k
was fastest at V=1000 (43.4 ms; one_stage+rank 58.4, two_stage 47.7 either way) and the four were within 6% at
V=8000 (181–192 ms), so `research.decoding` uses two_stage and rank on accelerators only.

One JSON line per (vocab, variant), then the last stdout line: per vocabulary each variant's beam time and
beam/greedy ratio, and the fastest variant.
"""

from __future__ import annotations

import argparse
import json

import jax

from experiments.benchmarks import decoding as bench
from research.decoding import search as decoding

CANDIDATES = {"two_stage": (decoding.top_candidates_two_stage, jax.lax.top_k),
              "two_stage_padded": (decoding.top_candidates_two_stage, decoding.top_k_padded),
              "one_stage": (decoding.top_candidates_one_stage, jax.lax.top_k)}
SMALL = {"top_k": jax.lax.top_k, "rank": decoding.top_k_by_rank}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="one small size, few repetitions")
  args = parser.parse_args()
  sizes, reps = (((200, 64, 8),), 3) if args.quick else (((1000, 256, 32), (8000, 256, 32)), 9)
  chosen = decoding._top_candidates, decoding._small_top_k, decoding._vocab_top_k, decoding._greedy_pick
  summary: dict = {"benchmark": "beam_topk", "device": str(jax.devices()[0].device_kind),
                   "backend": jax.default_backend(), "reps": reps}
  try:
    for vocab, hidden, batch in sizes:
      row = {}
      for cand_name, (cand, vocab_top_k) in CANDIDATES.items():
        for small_name, small in SMALL.items():
          if cand_name == "two_stage_padded" and small_name == "top_k":
            continue  # the padding only changes the first stage: one second-stage variant is enough
          # beam_search looks the helpers up when it is traced, and measure() traces a fresh jit.
          decoding._top_candidates, decoding._small_top_k, decoding._vocab_top_k = cand, small, vocab_top_k
          r = bench.measure(vocab, hidden, batch, 4, 16 if args.quick else 32, reps)
          name = f"{cand_name}+{small_name}"
          row[name] = r
          print(json.dumps({"variant": name, **{k: r[k] for k in (
              "config", "beam_time_s", "greedy_bk_time_s", "beam_over_greedy", "best_sequence_agreement",
              "max_abs_score_diff")}}), flush=True)
      # Greedy with the argmax pick, against the backend's default beam search in the same run.
      decoding._top_candidates, decoding._small_top_k, decoding._vocab_top_k = chosen[:3]
      decoding._greedy_pick = decoding.pick_by_argmax
      g = bench.measure(vocab, hidden, batch, 4, 16 if args.quick else 32, reps)
      decoding._greedy_pick = chosen[3]
      print(json.dumps({"variant": "greedy_argmax", **{k: g[k] for k in (
          "config", "beam_time_s", "greedy_bk_time_s", "beam_over_greedy")}}), flush=True)
      summary[f"V{vocab}"] = {
          **{f"{name}_beam_s": r["beam_time_s"] for name, r in row.items()},
          **{f"{name}_beam_over_greedy": r["beam_over_greedy"] for name, r in row.items()},
          "fastest": min(row, key=lambda name: row[name]["beam_time_s"]),
          "greedy_top_k_s": round(min(r["greedy_bk_time_s"] for r in row.values()), 5),
          "greedy_argmax_s": g["greedy_bk_time_s"], "default_beam_s_in_argmax_run": g["beam_time_s"],
          "default_beam_over_greedy_argmax": g["beam_over_greedy"]}
  finally:
    decoding._top_candidates, decoding._small_top_k, decoding._vocab_top_k, decoding._greedy_pick = chosen
  print(json.dumps(summary))


if __name__ == "__main__":
  main()
