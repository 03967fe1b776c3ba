"""Synthetic reversal at lengths 10 … 100: decoded sequence accuracy vs length per model, same budget.

  python -m experiments.attention.reversal --select_lr                 # 1. one learning rate per model
  python -m experiments.attention.reversal --lengths 10,25 --seeds 0,1,2   # 2. the grid (any subset)
  python -m experiments.attention.reversal --report                    # 3. tables + plot from the cache
  python -m experiments.attention.reversal --quick                     # a fast end-to-end check
  python -m experiments.attention.reversal --budget_check luong_general:50:150,600 --seeds 0,1,2
                                                # 4. one model, one length, more steps (same lr)

Each run trains configs/attention.py:model=M,task=reverse,length=L (sources of L//2 … L symbols out of
10; --steps steps of batch --batch, warmup --warmup then cosine decay; the same budget for every model
at every length) and greedy-decodes the 500 test sources; a hypothesis counts only if it is the whole
reversed source ("exact match").

Learning rates: `--select_lr` trains every model at every rate of --lrs at length --select_length
(seed 0, the grid's budget), greedy-decodes the 500 *validation* sources (a split generated separately
from test) and keeps, per model, the rate with the highest validation exact match (ties: the higher
teacher-forced validation token accuracy). The choice is written to results/reversal_lr.json, which the
grid reads, so the test split never influences a rate.

The tables are rebuilt from every cached run summary (results/runs/) of the current budget, so a grid
run in several commands (short lengths with 3 seeds, long ones with fewer) reports each cell's number
of seeds next to its mean ± standard deviation (sample std, ddof=1).

Budget checks (`--budget_check MODEL:LENGTH:STEPS,...`) train one model at one length for several step
budgets at the grid's learning rate (warmup 10% of the steps) and write one README section per model and
length (results/reversal_budget_<model>_<length>.md), so a low grid number can be told apart as "too few
steps" or "cannot learn it".
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import numpy as np

from experiments.attention import common
from research import cli
from research.errors import UserError
from research.tools.report import mean_std as mean_and_sd

MODELS = ("lstm", "luong_dot", "luong_general", "transformer")
LENGTHS = (10, 25, 50, 100)
LR_CANDIDATES = (1e-3, 3e-3, 1e-2)
LR_FILE = os.path.join(common.RESULTS, "reversal_lr.json")
# The CPU budget (2 cores shared by several jobs); the defaults are what the README's tables used.
STEPS, BATCH, WARMUP = 150, 64, 15
FIXED = {"log_every_steps": 10, "eval_every_steps": -1, "checkpoint_every_steps": 100000,
         "decode.num_sentences": 0, "dataset.eval_splits": ("validation", "test")}
SPLITS = ("validation", "test")


def arg_for(model: str, length: int, scale: bool = True) -> str:
  return f"model={model},task=reverse,length={length},scale={scale}"


def overrides_for(*, steps: int, batch: int, warmup: int, lr: float, seed: int) -> dict:
  return dict(FIXED, num_train_steps=steps, batch_size=batch, **{
      "optimizer.warmup_steps": warmup, "optimizer.learning_rate": lr, "seed": seed})


def run_one(model: str, length: int, overrides: dict, *, force: bool = False, scale: bool = True) -> dict:
  """Trains one (model, length, budget, lr, seed) run, greedy-decodes its validation and test sources and
  caches the summary (test metrics at the top level, validation ones under "validation"); returns the
  cached summary when the run exists (unless force)."""
  arg = arg_for(model, length, scale)
  name = common.run_name(arg, overrides)
  cached = None if force else common.load_run(name)
  if cached is not None:
    return cached
  trainer, workdir = common.train(arg, overrides, force=force)
  per_split, decoded = {}, {}
  for split in SPLITS:
    hyps, examples = decoded[split] = common.greedy_decode(trainer, split, 500, trainer.config.decode.max_decode_len)
    final = trainer.final[split]
    per_split[split] = {
        "exact_match": common.exact_match(hyps, list(examples["tgt"])),
        "teacher_forced_sequence_accuracy": float(final["sequence_accuracy"]),
        "token_accuracy": float(final["token_accuracy"]), "eval_loss": float(final["loss"])}
  steps, losses = common.loss_curve(workdir)
  summary = {
      "model": model, "length": length, "scale": scale, "arg": arg,
      "seed": int(trainer.config.seed), "steps": int(trainer.config.num_train_steps),
      "batch": int(trainer.config.batch_size), "warmup": int(trainer.config.optimizer.warmup_steps),
      "lr": float(trainer.config.optimizer.learning_rate),
      "overrides": {k: str(v) for k, v in overrides.items()},
      **per_split["test"], "validation": per_split["validation"],
      "train_tokens_per_s": common.train_tokens_per_second(trainer, workdir),
      "wall_s": trainer.wall_seconds, "loss_steps": steps, "losses": losses, "workdir": workdir,
      "num_params": int(sum(x.size for x in __import__("jax").tree.leaves(trainer.state.params))),
      "load_average_1min_end": round(os.getloadavg()[0], 2), "command": common.command_line(),
  }
  common.save_run(name, summary)
  if summary["seed"] == 0:  # one heatmap per (model, length, scale): test sources 0 and 1
    hyps, examples = decoded["test"]
    common.save_attention(name, trainer, list(examples["src"][:2]), hyps[:2])
  print(f"[reversal] {model} L={length} seed={summary['seed']} lr={summary['lr']:g} scale={scale}: test exact "
        f"match {summary['exact_match']:.3f}, validation {summary['validation']['exact_match']:.3f} "
        f"({summary['wall_s']:.0f} s, load {summary['load_average_1min_end']})", flush=True)
  return summary


def cached_runs(*, steps: int, batch: int, warmup: int, scale: bool = True) -> list[dict]:
  """Every cached reversal summary of this budget (and attention scale)."""
  out = []
  for path in glob.glob(os.path.join(common.RUNS, "*task-reverse*.json")):
    if path.endswith(".attention.json"):
      continue
    with open(path) as f:
      s = json.load(f)
    if (s.get("steps"), s.get("batch"), s.get("warmup"), s.get("scale")) == (steps, batch, warmup, scale):
      out.append(s)
  return out


def mean_std(values: list[float]) -> str:
  if not values:
    return "–"
  if len(values) == 1:
    return f"{values[0]:.3f} (1 seed)"
  m, sd = mean_and_sd(values)
  return f"{m:.3f} ± {sd:.3f} ({len(values)})"


# ----------------------------------------------------------------------------------------------------
# 1. Learning rate per model on the validation split.


def choose_lr(validation: dict[float, dict]) -> float:
  """The rate with the highest validation exact match; ties (often all 0 for a model that cannot solve the
  length yet) go to the higher teacher-forced token accuracy, then to the smaller rate."""
  return max(sorted(validation), key=lambda lr: (validation[lr]["exact_match"], validation[lr]["token_accuracy"]))


def select_lr(models: tuple[str, ...], lrs: tuple[float, ...], length: int, budget: dict, force: bool) -> dict:
  chosen, runs = {}, {}
  for model in models:
    results = {}
    for lr in lrs:
      results[lr] = run_one(model, length, overrides_for(lr=lr, seed=0, **budget), force=force)["validation"]
    chosen[model] = choose_lr(results)
    runs[model] = {f"{lr:g}": {k: results[lr][k] for k in ("exact_match", "token_accuracy", "eval_loss")}
                   for lr in lrs}
  previous = {}
  if os.path.exists(LR_FILE):
    with open(LR_FILE) as f:
      previous = json.load(f)
  commands = [common.command_line()]
  if previous.get("budget") == budget and previous.get("length") == length:  # keep other models' choices
    chosen = {**previous.get("chosen", {}), **chosen}
    runs = {**previous.get("runs", {}), **runs}
    commands = [c for c in previous.get("commands", [previous.get("command", "")]) if c] + commands
  record = {"length": length, "budget": budget, "chosen": chosen, "runs": runs,
            "commands": list(dict.fromkeys(commands))}
  os.makedirs(common.RESULTS, exist_ok=True)
  with open(LR_FILE, "w") as f:
    json.dump(record, f, indent=1, sort_keys=True)
  write_lr_section(record)
  return chosen


def write_lr_section(record: dict) -> None:
  rows = []
  for model in MODELS:
    for lr, r in sorted(record["runs"].get(model, {}).items(), key=lambda kv: float(kv[0])):
      mark = " (chosen)" if float(lr) == record["chosen"][model] else ""
      rows.append([model, lr + mark, r["exact_match"], r["token_accuracy"], r["eval_loss"]])
  b = record["budget"]
  text = f"""### 1a. Learning rate per model (validation split)

```
{chr(10).join(record.get('commands', [record.get('command', '')]))}
```

Each model at the peak rates in the table (where the best was the largest or smallest rate tried, the next rate beyond it was added), length {record['length']}, seed 0, the grid's budget ({b['steps']} steps of
batch {b['batch']}, {b['warmup']} warmup steps then cosine decay); greedy exact match and teacher-forced
token accuracy on the 500 **validation** sources. The rate with the highest exact match (ties: token
accuracy) is used for every length and seed of the grid; the test split plays no part in the choice.

{common.table(["model", "peak lr", "val exact match", "val token acc", "val loss"], rows)}
"""
  common.write_section("reversal_lr", text)


def chosen_lrs(budget: dict) -> dict:
  if not os.path.exists(LR_FILE):
    raise UserError(f"{LR_FILE} is missing: run `python -m experiments.attention.reversal --select_lr` first")
  with open(LR_FILE) as f:
    record = json.load(f)
  if record["budget"] != budget:
    raise UserError(f"{LR_FILE} was chosen for budget {record['budget']}, not {budget}: rerun --select_lr")
  return record["chosen"]


# ----------------------------------------------------------------------------------------------------
# 2. The grid and its report.


def report(budget: dict, quick: bool) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  runs = cached_runs(**budget)
  lrs = chosen_lrs(budget) if not quick else {}
  runs = [r for r in runs if quick or r["lr"] == lrs.get(r["model"])]  # the lr search's other rates: left out
  if not runs:
    raise UserError("no cached reversal runs of this budget: run the grid first")
  models = [m for m in MODELS if any(r["model"] == m for r in runs)]
  lengths = sorted({r["length"] for r in runs})
  cell = {(m, n): sorted((r for r in runs if r["model"] == m and r["length"] == n), key=lambda r: r["seed"])
          for m in models for n in lengths}
  em = {k: [r["exact_match"] for r in v] for k, v in cell.items()}
  rows = [[n, *[mean_std(em[m, n]) for m in models]] for n in lengths]
  tok_rows = [[n, *[mean_std([r["token_accuracy"] for r in cell[m, n]]) for m in models]] for n in lengths]
  seeds_rows = [[m, n, " ".join(f"{r['seed']}:{r['exact_match']:.3f}" for r in cell[m, n]) or "–",
                 " ".join(f"{r['seed']}:{r['teacher_forced_sequence_accuracy']:.3f}" for r in cell[m, n]) or "–"]
                for n in lengths for m in models]

  def first(m: str, key: str):
    vals = [r[key] for n in lengths for r in cell[m, n]]
    return vals[0] if vals else float("nan")
  speed_rows = [[m, f"{first(m, 'num_params'):,}", f"{first(m, 'lr'):g}",
                 *[float(np.mean([r["train_tokens_per_s"] for r in cell[m, n]])) if cell[m, n] else float("nan")
                   for n in lengths],
                 *[float(np.mean([r["wall_s"] for r in cell[m, n]])) if cell[m, n] else float("nan")
                   for n in lengths]] for m in models]
  loads = [r["load_average_1min_end"] for r in runs if "load_average_1min_end" in r]
  commands = sorted({r["command"] for r in runs})

  suffix = "_quick" if quick else ""
  png = f"reversal_length{suffix}.png"
  tok = {k: [r["token_accuracy"] for r in v] for k, v in cell.items()}
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, values, label in ((axes[0], em, "test exact match (greedy)"),
                            (axes[1], tok, "test token accuracy (teacher-forced)")):
    for m in models:
      xs = [n for n in lengths if values[m, n]]
      means = [np.mean(values[m, n]) for n in xs]
      lo = [np.mean(values[m, n]) - np.min(values[m, n]) for n in xs]
      hi = [np.max(values[m, n]) - np.mean(values[m, n]) for n in xs]
      ax.errorbar(xs, means, yerr=[lo, hi], marker="o", capsize=3, label=m)
    ax.set_xscale("log")
    ax.set_xticks(lengths)
    ax.set_xticklabels([str(n) for n in lengths])
    ax.minorticks_off()
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("longest source length L (sources have L//2 … L symbols)")
    ax.set_ylabel(label)
    ax.legend()
  fig.suptitle(f"Reversal, {budget['steps']} steps of batch {budget['batch']}: mean over seeds, bars min–max")
  fig.tight_layout()
  fig.savefig(os.path.join(common.RESULTS, png), dpi=110)
  plt.close(fig)

  # The learning-rate search first (it made the length-25 seed-0 runs), then the grid commands, then this one.
  cmd_lines = "\n".join(dict.fromkeys(sorted(commands, key=lambda c: "--select_lr" not in c) +
                                      [common.command_line()]))
  text = f"""## 1. Synthetic reversal: sequence accuracy vs length

```
{cmd_lines}
```

Sources of L//2 … L random symbols (10-symbol vocabulary), target = the source reversed; 10,000 generated
training pairs; **{budget['steps']} training steps of batch {budget['batch']}** ({budget['warmup']} warmup steps,
then cosine decay; Adam, clip 1.0) for every model at every length, each model at its own peak learning rate
chosen on the validation split (1a below). **Exact match** = greedy decoding of the 500 test sources
reproduces the whole reversed sequence. Cells: mean ± sample std over training seeds (initialization and
batch order; the data are the same), number of seeds in parentheses. Load average (1 min) of the shared
2-core CPU at the end of the runs: {min(loads):.1f}–{max(loads):.1f}.

![exact match and token accuracy vs length](results/{png})

{common.table(["length", *[f"{m} exact match" for m in models]], rows)}

Teacher-forced test token accuracy (each next symbol right given the true prefix), same runs:

{common.table(["length", *[f"{m} token acc" for m in models]], tok_rows)}

Per seed (seed:value): greedy exact match, and the teacher-forced sequence accuracy of the same test
sources (every next symbol the argmax given the true prefix). The two agree when greedy decoding through
the `step_fn` cache reproduces the training-time forward pass, as it should:

{common.table(["model", "length", "greedy exact match", "teacher-forced sequence acc"], seeds_rows)}

Parameters, learning rate, training throughput (target tokens/s, compilation excluded, shared busy CPU:
indicative only) and mean wall time of a run (training including compilation and the final teacher-forced
evaluation; greedy decoding excluded; runs after the first of a shape reuse XLA's persistent compilation
cache when JAX_COMPILATION_CACHE_DIR is set, as it was here, so they start faster):

{common.table(["model", "params", "lr", *[f"L={n} tok/s" for n in lengths], *[f"L={n} wall s" for n in lengths]],
              speed_rows)}
"""
  common.write_section("reversal" + suffix, text)


# ----------------------------------------------------------------------------------------------------
# 3. Budget check: does one model get there with more steps (rather than being broken)?


def budget_section(model: str, length: int) -> str:
  """results/<name>.md of one budget check (one per model and length, so checks do not overwrite each other)."""
  return f"reversal_budget_{model}_{length}"


def budget_check(model: str, length: int, steps_list: tuple[int, ...], batch: int, seeds: tuple[int, ...],
                 force: bool) -> None:
  """Trains `model` at `length` (the grid's learning rate for it, warmup 10% of the steps) for each step
  budget and seed, and writes a budget-check section: validation/test exact match and final training loss
  per budget (mean ± sample std over the seeds, and test exact match per seed)."""
  grid = {"steps": STEPS, "batch": BATCH, "warmup": WARMUP}
  lr = chosen_lrs(grid)[model]
  rows = []
  for steps in steps_list:
    runs = [run_one(model, length, overrides_for(lr=lr, seed=seed, steps=steps, batch=batch,
                                                 warmup=max(1, steps // 10)), force=force) for seed in seeds]
    rows.append([steps, runs[0]["warmup"], mean_std([s["losses"][-1] for s in runs]),
                 mean_std([s["validation"]["exact_match"] for s in runs]), mean_std([s["exact_match"] for s in runs]),
                 " ".join(f"{s['seed']}:{s['exact_match']:.3f}" for s in runs),
                 mean_std([s["token_accuracy"] for s in runs]), float(np.mean([s["wall_s"] for s in runs]))])
  seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
  text = f"""### Budget check: {model} at length {length} with more steps

```
{common.command_line()}
```

The same model, data and peak learning rate ({lr:g}, chosen in 1a) as the grid, {seed_text}, batch {batch}, warmup
10% of the steps then cosine decay; only the number of training steps changes. If exact match climbs with the
budget, the grid's low numbers for this model are the short budget, not a broken model. Cells: mean ± sample std
(number of seeds); wall s: mean per run.

{common.table(["steps", "warmup", "final train loss", "val exact match", "test exact match",
               "test exact match per seed", "test token acc", "wall s"], rows)}
"""
  common.write_section(budget_section(model, length), text)


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--quick", action="store_true", help="lengths 6 and 10, 20 steps, one seed, fixed lr")
  p.add_argument("--force", action="store_true", help="retrain cached runs")
  p.add_argument("--select_lr", action="store_true", help="choose each model's learning rate on validation")
  p.add_argument("--report", action="store_true", help="only rebuild the tables from the cache")
  p.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
  p.add_argument("--models", default=",".join(MODELS))
  p.add_argument("--seeds", default="0", help="comma-separated training seeds")
  p.add_argument("--steps", type=int, default=STEPS)
  p.add_argument("--batch", type=int, default=BATCH)
  p.add_argument("--warmup", type=int, default=WARMUP)
  p.add_argument("--lrs", default=",".join(f"{x:g}" for x in LR_CANDIDATES), help="--select_lr candidates")
  p.add_argument("--select_length", type=int, default=25)
  p.add_argument("--budget_check", default="", help="MODEL:LENGTH:STEPS,STEPS,...: a budget-check section (--seeds)")
  a = p.parse_args(argv)
  try:
    models = tuple(a.models.split(","))
    for m in models:
      if m not in MODELS:
        raise UserError(f"--models: {m!r} is not one of {', '.join(MODELS)}")
    lengths = tuple(int(x) for x in a.lengths.split(","))
    seeds = tuple(int(x) for x in a.seeds.split(","))
    lrs = tuple(float(x) for x in a.lrs.split(","))
  except ValueError as e:
    raise UserError(f"bad list argument: {e}") from e
  budget = {"steps": a.steps, "batch": a.batch, "warmup": a.warmup}
  if a.quick:
    budget = {"steps": 20, "batch": 32, "warmup": 2}
    lengths, seeds = (6, 10), (0,)
    for n in lengths:
      for m in models:
        run_one(m, n, overrides_for(lr=3e-3, seed=0, **budget), force=a.force)
    report(budget, quick=True)
    return
  if a.select_lr:
    select_lr(models, lrs, a.select_length, budget, a.force)
    return
  if a.budget_check:
    try:
      model, length_text, steps_text = a.budget_check.split(":")
      length, steps_list = int(length_text), tuple(int(x) for x in steps_text.split(","))
    except ValueError as e:
      raise UserError(f"--budget_check {a.budget_check!r}: use MODEL:LENGTH:STEPS,STEPS ({e})") from e
    if model not in MODELS:
      raise UserError(f"--budget_check: {model!r} is not one of {', '.join(MODELS)}")
    budget_check(model, length, steps_list, a.batch, seeds, a.force)
    return
  if not a.report:
    lr = chosen_lrs(budget)
    for seed in seeds:  # the section is rewritten after every (seed, length): partial sweeps still report
      for n in lengths:
        for m in models:
          if m not in lr:
            raise UserError(f"no learning rate chosen for {m}: run --select_lr --models {m}")
          run_one(m, n, overrides_for(lr=lr[m], seed=seed, **budget), force=a.force)
        report(budget, quick=False)
  report(budget, quick=False)


if __name__ == "__main__":
  cli.run_main(main)
