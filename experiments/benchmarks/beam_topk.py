"""Beam-search candidate selection: two-stage top_k (research.decoding's) vs one top_k over all K·V scores.

    python -m experiments.benchmarks.beam_topk           # V ∈ {1000, 8000}, hidden 256, B=32, K=4, max_len=32
    python -m experiments.benchmarks.beam_topk --quick   # V=200, hidden 64, B=8

Each step of the beam search picks the best 2K of the K·V one-token extensions, either by one top_k over the
[B, K·V] scores or in two stages (the best 2K of each beam, then the best 2K of those K·2K; the same result).
Both variants run inside the same jitted while_loop beam search on the decoding benchmark's LSTM decoder, timed
against greedy search at batch B·K in the same run. On an H100 (jax 0.11.2, 2026-11-26) the two-stage selection
took V=8000 beam/greedy from 1.637 to 1.303 and V=1000 from 1.449 to 1.395
(experiments/benchmarks/results/h100_2026-11-26/run2_topk.log); on this project's 2-core CPU it was 8–9% slower,
so `research.decoding` uses it on accelerators only.

One JSON line per (vocab, variant), then the last stdout line: per vocabulary both beam times and
`one_over_two_stage` (> 1: the two-stage selection is faster), plus both beam/greedy ratios.
"""

from __future__ import annotations

import argparse
import json

import jax

from experiments.benchmarks import decoding as bench
from research import decoding


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="one small size, few repetitions")
  args = parser.parse_args()
  sizes, reps = (((200, 64, 8),), 3) if args.quick else (((1000, 256, 32), (8000, 256, 32)), 9)
  chosen = decoding._top_candidates  # picks one of the two by backend
  summary: dict = {"benchmark": "beam_topk", "device": str(jax.devices()[0].device_kind), "reps": reps}
  try:
    for vocab, hidden, batch in sizes:
      row = {}
      for name, fn in (("two_stage", decoding.top_candidates_two_stage),
                       ("one_stage", decoding.top_candidates_one_stage)):
        decoding._top_candidates = fn  # beam_search looks the helper up when it is traced
        r = bench.measure(vocab, hidden, batch, 4, 16 if args.quick else 32, reps)
        row[name] = r
        print(json.dumps({"select": name, **{k: r[k] for k in ("config", "beam_time_s", "greedy_bk_time_s",
                                                                "beam_over_greedy", "best_sequence_agreement")}}),
              flush=True)
      summary[f"V{vocab}"] = {
          "two_stage_beam_s": row["two_stage"]["beam_time_s"], "one_stage_beam_s": row["one_stage"]["beam_time_s"],
          "one_over_two_stage": round(row["one_stage"]["beam_time_s"] / row["two_stage"]["beam_time_s"], 3),
          "two_stage_beam_over_greedy": row["two_stage"]["beam_over_greedy"],
          "one_stage_beam_over_greedy": row["one_stage"]["beam_over_greedy"]}
  finally:
    decoding._top_candidates = chosen
  print(json.dumps(summary))


if __name__ == "__main__":
  main()
