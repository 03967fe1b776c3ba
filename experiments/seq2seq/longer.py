"""Seq2seq experiment (a), addendum: the plain LSTM on the Bible with a longer training budget than the shared one.

The shared budget (experiments/seq2seq/common.py: 360 steps of batch 64) is what fits four models on this
machine's CPUs; at it the LSTM encoder–decoder reaches greedy BLEU ≈ 1.4 where the Transformer reaches 6.
This script trains the *same* LSTM config (configs/attention.py:model=lstm,task=bible with the shared
overrides) for more steps — only `num_train_steps` changes (warmup stays 60 steps, the cosine decay spans
the longer run) — and additionally evaluates the validation split teacher-forced every `--eval_every`
steps, for a train/validation loss curve. Both the shared-budget run ($BIBLE_WORKDIRS/lstm, restored, not
retrained) and the longer run ($BIBLE_WORKDIRS/lstm_steps<N>) are then scored the same way as the shared
table of experiments/attention/README.md §4: greedy decoding of every test verse from its untruncated
source, corpus BLEU (13a, lowercased), and BLEU by source-length bucket.

    python -m experiments.seq2seq.longer --measure 30     # steps/s of this config right now (scratch run, no table)
    python -m experiments.seq2seq.longer --steps 1440     # train, evaluate, write results/longer.md

Writes experiments/seq2seq/results/longer.md (a section of README.md, rebuilt by make_readme) and
WORKDIR/longer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any

from experiments.seq2seq import common
from experiments.seq2seq.common import BUCKETS, bleu_by_bucket, bucket_name, table, train, variables_of
from research import cli
from research.config import override
from research.decoding.decoder import DecodeSettings
from research.errors import UserError
from research.train.loop import Trainer
from research.train.metric_writers import read_metrics

MODEL = "lstm"


def longer_overrides(steps: int, eval_every: int) -> dict[str, Any]:
  """What differs from the shared budget: the step count, and a validation curve (evaluation only)."""
  return {"num_train_steps": steps, "eval_every_steps": eval_every, "dataset.eval_splits": ("validation", "test")}


def steps_per_second(records: list[dict[str, Any]]) -> float:
  """Training steps per second between the first and the last training log (first-step compilation and
  the final evaluation excluded; evaluations in between included)."""
  times = {}
  for r in records:
    if r.get("split") == "train":
      times.setdefault(r["step"], r["time"])
  steps = sorted(times)
  if len(steps) < 2:
    return float("nan")
  return (steps[-1] - steps[0]) / (times[steps[-1]] - times[steps[0]])


def measure(steps: int, workdir: str) -> None:
  """Trains the LSTM config for `steps` steps in a scratch workdir and prints its training steps/s."""
  if os.path.isdir(workdir):
    shutil.rmtree(workdir)
  config = override(common.bible_config(MODEL), {"num_train_steps": steps, "log_every_steps": 5,
                                                 "checkpoint_every_steps": 100000})
  start = time.perf_counter()
  train(config, workdir)
  rate = steps_per_second(read_metrics(workdir))
  print(json.dumps({"steps": steps, "steps_per_s": rate, "wall_s": time.perf_counter() - start,
                    "seconds_per_360_steps": 360 / rate, "load_average_1min": os.getloadavg()[0]}), flush=True)


def score_run(trainer: Trainer, workdir: str) -> dict[str, Any]:
  """Greedy BLEU of every test verse (untruncated sources), overall and by source-length bucket."""
  config = trainer.config
  test = common.bible_test_set(trainer)
  decoder = trainer.task.decoder(trainer.model)
  hyps, _, seconds = decoder.translate(variables_of(trainer), test["src"],
                                       DecodeSettings("greedy", 1, 0.0, int(config.decode.max_decode_len)),
                                       batch_size=config.eval_batch_size)
  texts = [trainer.task.detokenize(h) for h in hyps]
  total = trainer.task.score(texts, test["ref"])
  buckets = bleu_by_bucket(trainer.task.score, texts, test["ref"], test["src"])
  records = read_metrics(workdir)
  train_rows = {r["step"]: r for r in records if r.get("split") == "train"}
  # Evaluations: the latest record per (step, split), so a re-opened finished run does not count twice.
  evals = {(r["step"], r["split"]): r for r in records if r.get("split") in ("validation", "test")}
  return {
      "steps": int(trainer.total_steps), "batch": int(config.batch_size),
      "warmup": int(config.optimizer.warmup_steps), "lr": float(config.optimizer.learning_rate),
      "log_every": int(config.log_every_steps),
      "train_pairs": len(trainer.train_source), "n_test": len(hyps),
      "bleu": float(total.score), "bp": float(total.bp), "len_ratio": total.sys_len / max(total.ref_len, 1),
      "precisions": [float(p) for p in total.precisions], "by_bucket": buckets,
      "test_nll": float(trainer.final["test"]["nll"]), "token_accuracy": float(trainer.final["test"]["token_accuracy"]),
      "train_min": max(r["time"] for r in train_rows.values()) / 60, "steps_per_s": steps_per_second(records),
      "greedy_ms_per_sentence": 1000 * seconds / max(len(hyps), 1),
      "train_curve": [[s, float(train_rows[s]["loss"]), float(train_rows[s]["nll"])] for s in sorted(train_rows)],
      "eval_curve": [[s, split, float(r["nll"]), float(r["token_accuracy"])] for (s, split), r in sorted(evals.items())],
      "samples": [{"src": s, "ref": r, "hyp": h} for s, r, h in zip(test["src_text"][:3], test["ref"][:3], texts[:3],
                                                                   strict=True)],
      "distinct_hypotheses": len(set(texts)), "workdir": workdir,
  }


def render(shared: dict[str, Any], longer: dict[str, Any], command: str, eval_every: int) -> str:
  keys = [bucket_name(lo, hi) for lo, hi in BUCKETS]
  empty = {"bleu": float("nan"), "n": 0}
  label = {id(shared): f"shared budget ({shared['steps']} steps)",
           id(longer): f"**longer budget ({longer['steps']} steps)**"}
  rows = [[label[id(r)], r["steps"], r["steps"] * r["batch"] / r["train_pairs"], r["train_min"], r["test_nll"],
           r["token_accuracy"], r["bleu"], r["bp"], r["len_ratio"], *r["precisions"][:2],
           f"{r['distinct_hypotheses']:,}/{r['n_test']:,}"] for r in (shared, longer)]
  bucket_rows = [[label[id(r)], *[r["by_bucket"].get(k, empty)["bleu"] for k in keys], r["bleu"]]
                 for r in (shared, longer)]
  counts = ["verses", *[shared["by_bucket"].get(k, empty)["n"] for k in keys], shared["n_test"]]
  train_at = {s: (loss, nll) for s, loss, nll in longer["train_curve"]}
  val_at = {s: (nll, acc) for s, split, nll, acc in longer["eval_curve"] if split == "validation"}
  curve_rows = []
  for s in sorted(val_at):
    logged = [t for t in train_at if t <= s]
    t = max(logged) if logged else None
    curve_rows.append([s, train_at[t][1] if t is not None else float("nan"), val_at[s][0], val_at[s][1]])
  samples = []
  for i in range(len(longer["samples"])):
    samples.append(f"* zh: {longer['samples'][i]['src']}\n  * reference: {longer['samples'][i]['ref']}\n"
                   f"  * {shared['steps']} steps: {shared['samples'][i]['hyp']}\n"
                   f"  * {longer['steps']} steps: {longer['samples'][i]['hyp']}")
  return f"""Produced by `{command}` (longer run: workdir {longer['workdir']}, {longer['steps_per_s']:.2f} training
steps/s on this machine's 2 shared CPU cores; the shared-budget run, workdir {shared['workdir']}, is restored and
re-decoded by the same command, not retrained).

The **same LSTM config** as the shared-budget table (configs/attention.py:model=lstm,task=bible = configs/seq2seq.py's
Bible model, batch {longer['batch']}, peak lr {longer['lr']:g}, warmup {longer['warmup']} steps then cosine decay over
the whole run); only the number of training steps differs, plus a teacher-forced evaluation of the validation split every
{eval_every} steps for the curve below (evaluation does not change training). Both rows are scored exactly like the
shared table (experiments/attention/README.md §4): greedy decoding of all {longer['n_test']:,} test verses from
untruncated sources, corpus BLEU (13a, lowercased). Test NLL / token acc: teacher-forced, test pairs truncated to 39
tokens. p1, p2: unigram and bigram precision (%). distinct: how many different greedy outputs over the test verses.
**This row is not part of the shared-budget comparison**: it spends {longer['steps'] / shared['steps']:.1f}× the
steps every other model had there.

{table(["run", "steps", "epochs", "train min", "test NLL", "token acc", "greedy BLEU", "BP", "hyp/ref length",
        "p1", "p2", "distinct"], rows)}

BLEU by source length (Chinese characters), greedy:

{table(["run", *keys, "all"], [*bucket_rows, counts])}

Loss curve of the longer run: training NLL per token (mean over the {longer['log_every']}-step logging interval ending at or before the
step) and the teacher-forced validation NLL and token accuracy ({longer['steps']}-step cosine schedule, so the
curve is not the shared run's curve at its first 360 steps):

{table(["step", "train NLL", "validation NLL", "validation token acc"], curve_rows)}

Sample translations (greedy, first test verses):

{chr(10).join(samples)}
"""


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=1440, help="training steps of the longer run")
  parser.add_argument("--eval_every", type=int, default=0, help="validation every N steps (0: steps // 8)")
  parser.add_argument("--measure", type=int, default=0, help="only time N training steps (scratch workdir)")
  parser.add_argument("--scratch", default="/tmp/seq2seq_longer_measure", help="--measure's workdir")
  args = parser.parse_args()
  if args.measure:
    if args.measure < 10:
      raise UserError(f"--measure={args.measure}: time at least 10 steps")
    measure(args.measure, args.scratch)
    return
  if args.steps <= 360:
    raise UserError(f"--steps={args.steps}: the longer budget must exceed the shared 360 steps")
  eval_every = args.eval_every or max(1, args.steps // 8)
  command = " ".join(["python -m experiments.seq2seq.longer", *sys.argv[1:]])

  shared_dir = common.bible_workdir(MODEL)
  if not os.path.isdir(os.path.join(shared_dir, "checkpoints")):
    raise UserError(f"{shared_dir} has no checkpoints: run `python -m experiments.attention.bible --models lstm` "
                    "first (the shared-budget run)")
  shared = score_run(train(common.bible_config(MODEL), shared_dir), shared_dir)
  print(f"shared budget: BLEU {shared['bleu']:.3f}", flush=True)

  workdir = os.path.join(common.BIBLE_WORKDIRS, f"{MODEL}_steps{args.steps}")
  config = override(common.bible_config(MODEL), longer_overrides(args.steps, eval_every))
  longer = score_run(train(config, workdir), workdir)
  print(f"longer budget ({args.steps} steps): BLEU {longer['bleu']:.3f}", flush=True)
  with open(os.path.join(workdir, "longer.json"), "w") as f:
    json.dump({"shared": shared, "longer": longer, "command": command}, f, indent=1)
  text = render(shared, longer, command, eval_every)
  out = os.path.join(os.path.dirname(__file__), "results", "longer.md")
  with open(out, "w", encoding="utf-8") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  cli.run_main(main)
