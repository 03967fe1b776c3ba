"""Synthetic reversal at lengths 10 … 100: decoded sequence accuracy vs length per model, same budget.

  python -m experiments.attention.reversal [--quick] [--force]

Each run trains configs/attention.py:model=M,task=reverse,length=L (sources of L//2 … L symbols out of
10, 300 steps of batch 64) and greedy-decodes 500 test sources; a hypothesis counts only if it is the
whole reversed source. `--quick`: lengths 10 and 25, 60 steps.
"""

from __future__ import annotations

import argparse

from experiments.attention import common

MODELS = ("lstm", "luong_general", "transformer")
LENGTHS = (10, 25, 50, 100)  # run 10,25,50 with --lengths when the CPU budget is short
OVERRIDES = {"log_every_steps": 10, "eval_every_steps": -1, "checkpoint_every_steps": 1000,
             "decode.num_sentences": 0, "dataset.eval_splits": ("test",)}


def arg_for(model: str, length: int) -> str:
  return f"model={model},task=reverse,length={length},scale=True"


def run_one(model: str, length: int, overrides: dict, force: bool) -> dict:
  arg = arg_for(model, length)
  name = common.run_name(arg, overrides)
  cached = None if force else common.load_run(name)
  if cached is not None:
    return cached
  trainer, workdir = common.train(arg, overrides, force=force)
  hyps, examples = common.greedy_decode(trainer, "test", 500, trainer.config.decode.max_decode_len)
  steps, losses = common.loss_curve(workdir)
  summary = {
      "model": model, "length": length, "arg": arg, "overrides": {k: str(v) for k, v in overrides.items()},
      "steps": int(trainer.config.num_train_steps), "exact_match": common.exact_match(hyps, list(examples["tgt"])),
      "teacher_forced_sequence_accuracy": float(trainer.final["test"]["sequence_accuracy"]),
      "token_accuracy": float(trainer.final["test"]["token_accuracy"]),
      "train_tokens_per_s": common.train_tokens_per_second(trainer, workdir),
      "wall_s": trainer.wall_seconds, "loss_steps": steps, "losses": losses, "workdir": workdir,
      "num_params": int(sum(x.size for x in __import__("jax").tree.leaves(trainer.state.params))),
  }
  common.save_run(name, summary)
  common.save_attention(name, trainer, list(examples["src"][:2]), hyps[:2])
  print(f"[reversal] {model} L={length}: exact match {summary['exact_match']:.3f} "
        f"({summary['wall_s']:.0f} s)", flush=True)
  return summary


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--quick", action="store_true")
  p.add_argument("--force", action="store_true")
  p.add_argument("--lengths", default=None, help="comma-separated lengths (default 10,25,50,100)")
  a = p.parse_args()
  lengths = (10, 25) if a.quick else LENGTHS
  if a.lengths:
    lengths = tuple(int(x) for x in a.lengths.split(","))
  overrides = dict(OVERRIDES, num_train_steps=60) if a.quick else dict(OVERRIDES)
  results = {}
  for i, n in enumerate(lengths):  # the section is rewritten after every length: partial sweeps still report
    results.update({(m, n): run_one(m, n, overrides, a.force) for m in MODELS})
    write(results, lengths[:i + 1], a.quick)


def write(results: dict, lengths: tuple[int, ...], quick: bool) -> None:
  header = ["length", *[f"{m} exact match" for m in MODELS]]
  rows = [[n, *[results[m, n]["exact_match"] for m in MODELS]] for n in lengths]
  header2 = ["model", "params", *[f"L={n} tok/s" for n in lengths], *[f"L={n} TF seq acc" for n in lengths]]
  rows2 = [[m, f"{results[m, lengths[0]]['num_params']:,}",
            *[results[m, n]["train_tokens_per_s"] for n in lengths],
            *[results[m, n]["teacher_forced_sequence_accuracy"] for n in lengths]] for m in MODELS]
  steps = results[MODELS[0], lengths[0]]["steps"]
  left_out = [n for n in LENGTHS if n not in lengths]
  missing = (f"Lengths {', '.join(map(str, left_out))} were not run (they did not fit the shared-CPU budget; "
             f"runs here took {min(r['wall_s'] for r in results.values()) / 60:.1f}–"
             f"{max(r['wall_s'] for r in results.values()) / 60:.1f} min each).") if left_out else ""
  text = f"""## 1. Synthetic reversal: sequence accuracy vs length

```
{common.command_line()}
```

Sources of L//2 … L random symbols (10-symbol vocabulary), target = the source reversed; {steps} training
steps of batch 64 for every model and length (10,000 training pairs). **Exact match** = greedy decoding of
500 test sources reproduces the whole reversed sequence. One seed. Lengths in this table: {', '.join(map(str, lengths))}
{missing}

{common.table(header, rows)}

Training throughput (target tokens/s, compilation excluded, busy shared CPU) and the teacher-forced
sequence accuracy (every next token right given the true prefix):

{common.table(header2, rows2)}
"""
  common.write_section("reversal" + ("_quick" if quick else ""), text)


if __name__ == "__main__":
  main()
