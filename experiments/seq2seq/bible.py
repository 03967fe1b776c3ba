"""Seq2seq experiments (a) and (c) on zh→en Bible verses.

(a) Decodes the first `--sentences` test verses from the final checkpointed state of the shared Bible run
    of `--model` (default `lstm`, the plain LSTM encoder–decoder of configs/seq2seq.py) with greedy search
    and beam search k ∈ {1, 2, 3, 5, 10}, without (α = 0) and with (α = 0.6) the length penalty; reports
    corpus BLEU, brevity penalty, hypothesis/reference length ratio and decode time per sentence, plus
    sample translations.
(c) BLEU by source-length bucket (Chinese characters) over the whole test split, greedy and beam
    (k = 3, α = 0.6): the baseline experiments/attention compares against.

    python -m experiments.seq2seq.bible                        # the plain LSTM (table of README.md)
    python -m experiments.seq2seq.bible --model luong_general  # the same sweep on the attention model
    python -m experiments.seq2seq.bible --quick                # 2,000 training verses, 30 steps: a smoke run

The run is the one experiments/attention/bible.py trains for its model comparison (one config and
workdir per model: experiments/seq2seq/common.py `bible_config`, `bible_workdir`, i.e.
$BIBLE_WORKDIRS/<model>, default /tmp/bible_runs/<model>): whichever script comes first trains it through
research.train.loop.Trainer, the other restores the finished run from WORKDIR/checkpoints and only decodes.
Sources are decoded untruncated (training dropped pairs longer than config.dataset.max_len).

Writes experiments/seq2seq/results/bible[_<model>][_quick].md and WORKDIR/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from experiments.seq2seq import common
from experiments.seq2seq.common import BUCKETS, bleu_by_bucket, bucket_name, table, train, variables_of
from research import cli
from research.decoding.decoder import DecodeSettings

BEAMS = (1, 2, 3, 5, 10)
ALPHAS = (0.0, 0.6)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="tiny budget smoke run")
  parser.add_argument("--model", default="lstm", help="which shared Bible run: " + ", ".join(common.BIBLE_MODELS))
  parser.add_argument("--sentences", type=int, default=300, help="test verses in the beam sweep")
  parser.add_argument("--test-verses", type=int, default=0,
                      help="first N test verses for (c), BLEU by source length (0 = the whole test split)")
  args = parser.parse_args()
  if args.sentences < 1:
    parser.error(f"--sentences={args.sentences} must be >= 1")
  suffix = ("" if args.model == "lstm" else f"_{args.model}") + ("_quick" if args.quick else "")
  config = common.bible_config(args.model, args.quick)
  workdir = common.bible_workdir(args.model, args.quick)
  command = " ".join(["python -m experiments.seq2seq.bible", *sys.argv[1:]])
  if args.quick:
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
  test = common.bible_test_set(trainer, 100 if args.quick else max(args.test_verses, 0))
  n = min(args.sentences, len(test["src"]))
  sources, refs = test["src"][:n], test["ref"][:n]
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

  # (c) BLEU by source length over the whole test split: greedy and the evaluation's beam (k=3, α=0.6).
  src_len = np.array([len(s) for s in test["src"]])
  bucket_rows = []
  for name, s in [("greedy", settings[0][1]), ("beam k=3, α=0.6", DecodeSettings("beam", 3, 0.6, max_len))]:
    hyps, _, _ = decoder.translate(variables, test["src"], s, batch_size=config.eval_batch_size)
    texts = [task.detokenize(h) for h in hyps]
    by = bleu_by_bucket(task.score, texts, test["ref"], test["src"])
    row = [name, *[by.get(bucket_name(lo, hi), {}).get("bleu", float("nan")) for lo, hi in BUCKETS],
           task.score(texts, test["ref"]).score]
    bucket_rows.append(row)
  counts = ["verses"] + [int(((src_len >= lo) & (src_len <= hi)).sum()) for lo, hi in BUCKETS] + [len(src_len)]

  samples = []
  for i in range(min(5, n)):
    samples.append(f"* zh: {test['src_text'][i]}\n  * reference: {refs[i]}\n"
                   f"  * greedy: {outputs['greedy'][i]}\n  * beam k=3, α=0.6: {outputs['beam k=3, α=0.6'][i]}")

  steps = trainer.total_steps
  m = config.model
  size = (f"d_model {m.d_model}, {m.num_heads} heads, {m.num_encoder_layers}+{m.num_decoder_layers} layers"
          if "d_model" in m else f"embeddings {m.embed_dim}, hidden {m.hidden_dim}, {m.num_layers} layer(s)"
          + (", bidirectional encoder" if m.get("bidirectional") else ""))
  md = [f"Produced by `{command}` (model `{args.model}`: {config.model_name}, {size}; "
        f"workdir {workdir}, shared with `python -m experiments.attention.bible`).", "",
        f"Training: {steps} steps of batch {config.batch_size} ({len(trainer.train_source):,} training verses with "
        f"≤ {config.dataset.max_len} tokens a side), {train_seconds / 60:.1f} min wall time, on this "
        f"machine's 2 CPU cores shared with other jobs. Teacher-forced test metrics of the run (test pairs "
        f"truncated to {config.dataset.max_len} tokens): per-token NLL {final_test['nll']:.3f}, token accuracy "
        f"{final_test['token_accuracy']:.3f}.", "",
        f"### (a) Search vs BLEU on the first {n} test verses", "",
        table(["search", "BLEU", "BP", "hyp/ref length", "mean score", "decode ms/sentence"],
              [[r["search"], r["bleu"], r["bp"], r["len_ratio"], r["mean_logprob"], r["ms_per_sentence"]]
               for r in rows]),
        "", "mean score: the search's objective (summed log-prob, divided by the length penalty when α > 0).",
        "", "### Sample translations", "", *samples, "",
        f"### (c) BLEU by source length (Chinese characters), "
        f"{'whole test split' if len(src_len) == len(trainer.eval_sources['test']) else 'first test verses'} "
        f"({len(src_len):,} verses, untruncated sources)",
        "", table(["search", *[bucket_name(lo, hi) for lo, hi in BUCKETS], "all"], [*bucket_rows, counts])]
  text = "\n".join(md) + "\n"
  out = os.path.join(os.path.dirname(__file__), "results", f"bible{suffix}.md")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    f.write(text)
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump({"rows": rows, "buckets": bucket_rows, "counts": counts}, f, indent=1)
  print(text)


if __name__ == "__main__":
  cli.run_main(main)
