"""Rebuilds experiments/attention/README.md from the sections the experiment scripts wrote
(experiments/attention/results/*.md) and the Transformer benchmark's JSON reports
(results/benchmark_transformer_*.json, written by `python -m experiments.benchmarks.transformer --out ...`).

  python -m experiments.attention.make_readme
"""

from __future__ import annotations

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
ORDER = ("reversal", "reversal_lr", "reversal_budget", "ablation", "heatmaps", "bible")
BENCHMARKS = ("h100", "full", "quick")  # results/benchmark_transformer_<name>.json (h100: copied from a GPU run)

HEADER = """# Attention experiments (docs/course_notes.md §5.2–5.3)

Models (configs/attention.py): `lstm` = plain LSTM encoder–decoder (no attention), `luong_dot` /
`luong_general` = LSTM decoder with Luong attention, `transformer` = 2+2-layer pre-LN Transformer,
d_model 128, 2 heads (d_k = 64, scale 1/8). Every table below was written by the command above it
(run summaries are cached in results/runs/*.json; `--force` retrains), on this project's 2-core x86_64
CPU **shared with other jobs** (load averages are given per section), with small training budgets: the
numbers compare models at the *same short budget*, not at convergence. The number of seeds is given in
every table. The reversal and ablation commands ran with `ATTENTION_WORKDIRS=/tmp/h_att/runs` (where the
training workdirs go) and `JAX_COMPILATION_CACHE_DIR=/tmp/h_att/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`
(XLA's persistent compilation cache: later seeds of a shape skip compilation); neither changes a result.

Scripts: `reversal.py` (learning rate per model on validation, then sequence accuracy vs length),
`ablation.py` (1/sqrt(d_k) on/off loss curves), `heatmaps.py` (attention PNGs), `bible.py` (zh→en BLEU,
BLEU by source length, tokens/s), `make_readme.py` (this file, including the benchmark table).

The cuDNN fast path (`attention_impl="cudnn"` through `jax.nn.dot_product_attention`) needs an NVIDIA GPU; tests/
check the XLA implementation of the same call against the reference path on CPU. On an H100 (2026-11-26, two runs:
experiments/benchmarks/results/h100_2026-11-26 and h100_2026-11-26b): cuDNN's masked backward pass rejects odd
sequence lengths (the model now pads them); the GPU tests (tests/models/test_transformer.py, including both cuDNN tests
against the float32 reference) pass; section 5 has the benchmark at both sizes on that GPU (`h100`, JSON copied from
the second run's $OUT) next to this CPU's.
"""


def _fmt(v: float) -> str:
  return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def benchmark_section() -> str:
  """The Transformer/Luong speed table from the benchmark's JSON reports, if any were written."""
  parts = []
  for mode in BENCHMARKS:
    path = os.path.join(RESULTS, f"benchmark_transformer_{mode}.json")
    if not os.path.exists(path):
      continue
    with open(path) as f:
      r = json.load(f)
    quick = " --quick" if mode == "quick" else ""
    command = r.get("command", f"python -m experiments.benchmarks.transformer{quick}")
    rows = ["| model | size | train tokens/s | train compile s | greedy sentences/s | greedy compile s | "
            "beam (k=4) sentences/s | beam compile s |", "|" + "---|" * 8]
    for model, sizes in r["results"].items():
      for size, x in sizes.items():
        shape = ", ".join(f"{k}={v}" for k, v in r["sizes"][model][size].items())
        rows.append(f"| {model} | {size} ({shape}) | {_fmt(x['train_tokens_per_s'])} | {x['train_compile_s']:.1f} | "
                    f"{_fmt(x['greedy_sentences_per_s'])} | {x['greedy_compile_s']:.1f} | "
                    f"{_fmt(x['beam_sentences_per_s'])} | {x['beam_compile_s']:.1f} |")
    left_out = [size for size in ("small", "base") if size not in r["sizes"]["transformer"]]
    step_s = r["batch"] * r["length"] / r["results"]["transformer"]["small"]["train_tokens_per_s"] \
        if "small" in r["results"].get("transformer", {}) else float("nan")
    not_run = (f" Size {', '.join(left_out)} was not run here (`--sizes`): at the load above one 'small' "
               f"Transformer train step took {step_s:.1f} s, and 'base' is sized for a GPU.") if left_out else ""
    ratios = "; ".join(f"{k}: {v['ratio']}" for k, v in r["ratios"].items())
    load = (f"load average (1 min) {r['load_average_1min_before']} before, {r['load_average_1min_after']} after"
            if "load_average_1min_before" in r else "load average not recorded")
    parts.append(f"""```
{command}
```

{mode}: batch {r['batch']}, source = target length {r['length']}, vocabulary {r['vocab']}, {r['dtype']},
attention `{r['attention_impl']}`, backend {r['backend']} ({r['device']}, {r.get('cpu_count', '?')} cores), {load};
best of {r['reps']} repetitions (medians are in the JSON); whole run {r.get('wall_s', '?')} s.{not_run}

{chr(10).join(rows)}

Ratios: {ratios}.
""")
  if not parts:
    return ""
  return "## 5. Benchmark: train and decode speed (experiments/benchmarks/transformer.py)\n\n" + \
      "Random weights; decoding never stops early (no model can emit the benchmark's eos id), so every " \
      "search runs the full length.\n\n" + "\n".join(parts)


def main() -> None:
  parts = [HEADER]
  names = []
  for n in ORDER:
    if n == "reversal_budget":  # one section per budget check: results/reversal_budget_<model>_<length>.md
      names += sorted(f[:-3] for f in os.listdir(RESULTS) if f.startswith("reversal_budget_") and f.endswith(".md"))
    elif os.path.exists(os.path.join(RESULTS, f"{n}.md")):
      names.append(n)
  for name in names:
    with open(os.path.join(RESULTS, f"{name}.md")) as f:
      parts.append(f.read())
  bench = benchmark_section()
  if bench:
    parts.append(bench)
  with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write("\n".join(parts))


if __name__ == "__main__":
  main()
