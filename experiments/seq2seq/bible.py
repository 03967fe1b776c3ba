"""Experiments (a) and (c) of issue 6 on zh→en Bible verses.

(a) Trains configs/seq2seq.py (task=bible) through research.train.Trainer, then decodes the first
    `--sentences` test verses from the final checkpointed state with greedy search and beam search
    k ∈ {1, 2, 3, 5, 10}, without (α = 0) and with (α = 0.6) the length penalty; reports corpus BLEU,
    brevity penalty, hypothesis/reference length ratio and decode time per sentence, plus sample
    translations.
(c) BLEU by source-length bucket (Chinese characters) over the whole test split, from the greedy and
    beam (k = 3, α = 0.6) hypotheses of the run's final evaluation (WORKDIR/decodes/): the baseline the
    attention issue compares against.

    python -m experiments.seq2seq.bible            # full budget (see configs/seq2seq.py)
    python -m experiments.seq2seq.bible --quick    # 2,000 training verses, 40 steps: a smoke run

Writes experiments/seq2seq/results/bible[_quick].md (the tables of README.md) and WORKDIR/sweep.json.
A second invocation restores the finished run from WORKDIR/checkpoints and only decodes again.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from configs import seq2seq
from experiments.seq2seq.common import run, table, train, variables_of
from research.seq2seq_task import DecodeSettings

BEAMS = (1, 2, 3, 5, 10)
ALPHAS = (0.0, 0.6)
BUCKETS = ((1, 16), (17, 32), (33, 48), (49, 64))  # source characters


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="tiny budget smoke run")
  parser.add_argument("--workdir", default=None, help="run folder (default /tmp/seq2seq_bible[_quick])")
  parser.add_argument("--sentences", type=int, default=300, help="test verses in the beam sweep")
  args = parser.parse_args()
  suffix = "_quick" if args.quick else ""
  workdir = args.workdir or f"/tmp/seq2seq_bible{suffix}"

  config = seq2seq.get_config()
  command = "python -m experiments.seq2seq.bible" + (" --quick" if args.quick else "")
  if args.quick:
    config.dataset.train_limit = 2000
    config.dataset.eval_limit = 200
    config.num_train_steps = 40
    config.log_every_steps = 10
    args.sentences = min(args.sentences, 100)

  start = time.time()
  trainer = train(config, workdir)
  records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  train_seconds = max(r["time"] for r in records if r["split"] == "train")
  final_test = trainer.final["test"]
  print(f"trained/restored in {time.time() - start:.0f} s; test {final_test}", flush=True)

  task = trainer.task
  decoder = task.decoder(trainer.model)
  variables = variables_of(trainer)
  test = trainer.eval_sources["test"]
  n = min(args.sentences, len(test))
  sources = list(test.columns["src"][:n])
  refs = [str(t) for t in test.columns["tgt_text"][:n]]
  max_len = int(config.decode.max_decode_len)

  settings = [("greedy", DecodeSettings("greedy", 1, 0.0, max_len))]
  settings += [(f"beam k={k}, α={a}", DecodeSettings("beam", k, a, max_len)) for a in ALPHAS for k in BEAMS]
  rows, outputs = [], {}
  for name, s in settings:
    hyps, scores, seconds = decoder.translate(variables, sources, s, batch_size=config.eval_batch_size)
    texts = [task.detokenize(h) for h in hyps]
    score = task.score(texts, refs)
    outputs[name] = texts
    rows.append(dict(search=name, bleu=score.score, bp=score.bp, len_ratio=score.sys_len / max(score.ref_len, 1),
                     mean_logprob=float(np.mean(scores)), ms_per_sentence=1000 * seconds / n))
    print(f"{name}: {score}; {1000 * seconds / n:.2f} ms/sentence", flush=True)

  # (c) BLEU by source length over the whole test split, from the final evaluation's decodes.
  all_refs = [str(t) for t in test.columns["tgt_text"]]
  src_len = np.array([len(s) for s in test.columns["src"]])
  bucket_rows = []
  for method in config.decode.methods:
    with open(os.path.join(workdir, "decodes", f"test.{method}.txt"), encoding="utf-8") as f:
      hyps = f.read().splitlines()
    row = [method if method == "greedy" else f"beam k={config.decode.beam_size}, α={config.decode.length_penalty}"]
    for lo, hi in BUCKETS:
      idx = np.flatnonzero((src_len >= lo) & (src_len <= hi))
      row.append(task.score([hyps[i] for i in idx], [all_refs[i] for i in idx]).score if len(idx) else float("nan"))
    row.append(task.score(hyps, all_refs).score)
    bucket_rows.append(row)
  counts = ["verses"] + [int(((src_len >= lo) & (src_len <= hi)).sum()) for lo, hi in BUCKETS] + [len(src_len)]

  samples = []
  for i in range(min(5, n)):
    samples.append(f"* zh: {test.columns['src_text'][i]}\n  * reference: {refs[i]}\n"
                   f"  * greedy: {outputs['greedy'][i]}\n  * beam k=3, α=0.6: {outputs['beam k=3, α=0.6'][i]}")

  steps = trainer.total_steps
  md = [f"Produced by `{command}` (workdir {workdir}).", "",
        f"Training: {steps} steps of batch {config.batch_size} ({len(trainer.train_source):,} training verses), "
        f"{train_seconds / 60:.1f} min wall time for training and the evaluations logged with it, on this "
        f"machine's 2 shared CPU cores. Final test metrics of the run: per-token NLL "
        f"{final_test['nll']:.3f}, token accuracy {final_test['token_accuracy']:.3f}, BLEU greedy "
        f"{final_test.get('bleu_greedy', float('nan')):.2f}, beam (k={config.decode.beam_size}, "
        f"α={config.decode.length_penalty}) {final_test.get('bleu_beam', float('nan')):.2f} "
        f"over all {len(test):,} test verses.", "",
        f"### (a) Search vs BLEU on the first {n} test verses", "",
        table(["search", "BLEU", "BP", "hyp/ref length", "mean score", "decode ms/sentence"],
              [[r["search"], r["bleu"], r["bp"], r["len_ratio"], r["mean_logprob"], r["ms_per_sentence"]]
               for r in rows]),
        "", "mean score: the search's objective (summed log-prob, divided by the length penalty when α > 0).",
        "", "### Sample translations", "", *samples, "",
        "### (c) BLEU by source length (Chinese characters), whole test split", "",
        table(["search", *[f"{lo}–{hi}" for lo, hi in BUCKETS], "all"], [*bucket_rows, counts])]
  text = "\n".join(md) + "\n"
  out = os.path.join(os.path.dirname(__file__), "results", f"bible{suffix}.md")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    f.write(text)
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump({"rows": rows, "buckets": bucket_rows, "counts": counts}, f, indent=1)
  print(text)


if __name__ == "__main__":
  run(main)
