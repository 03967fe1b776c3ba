"""zh→en BLEU on the Bible verses: plain LSTM seq2seq vs Luong (dot, general) vs Transformer at one
training budget; BLEU by source-length bucket; training tokens/s per model.

  python -m experiments.attention.bible [--quick] [--force] [--models lstm,transformer]

Every model trains through the one loop (research.train.loop.Trainer) with the shared Bible budget of
experiments/seq2seq/common.py (`bible_config`: configs/attention.py:model=M,task=bible plus the overrides
printed in the README section) in BIBLE_WORKDIRS/<model> (default /tmp/bible_runs/<model>): the same
steps, batch, data and vocabularies for every model. experiments/seq2seq/bible.py then restores the
`lstm` run from the same workdir for its search sweep (no second training).

After training, the whole test split is greedy-decoded from the final state on *untruncated* sources
(training dropped pairs longer than config.dataset.max_len, so the longer test verses measure how each
model copes beyond the lengths it was trained on); BLEU is corpus BLEU (research/evaluation/bleu.py, 13a).
Writes results/runs/bible_<model>.json (+ .attention.json for heatmaps.py) and results/bible.md, then
rebuilds README.md (make_readme). A finished run is only re-read (its JSON), `--force` retrains.
`--quick`: 2,000 training verses, 30 steps, 100 test verses (a smoke run; writes bible_quick.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import jax

from experiments.attention import common
from experiments.seq2seq import common as s2s
from research import cli
from research.decoding.decoder import Decoder, DecodeSettings
from research.evaluation import outputs, stats
from research.tools import compare
from research.train.loop import Trainer

MODELS = s2s.BIBLE_MODELS
def run_one(model: str, quick: bool, force: bool) -> dict:
  name = f"bible_{model}" + ("_quick" if quick else "")
  cached = None if force else common.load_run(name)
  if cached is not None:
    return cached
  config = s2s.bible_config(model, quick)
  workdir = s2s.bible_workdir(model, quick)
  if force and os.path.isdir(workdir):
    shutil.rmtree(workdir)
  os.makedirs(os.path.dirname(workdir), exist_ok=True)
  start = time.perf_counter()
  trainer = Trainer(config, workdir, allow_config_change=False)
  trainer.final = trainer.run()
  wall = time.perf_counter() - start
  records = common.read_metrics(workdir)
  train_seconds = max(r["time"] for r in records if r["split"] == "train")

  test = s2s.bible_test_set(trainer, 100 if quick else 0)
  info = trainer.dataset.info
  decoder = Decoder(trainer.model, bos_id=int(info["bos_id"]), eos_id=int(info["eos_id"]), pad_id=int(info["pad_id"]))
  max_len = int(config.decode.max_decode_len)
  hyps, scores, seconds = decoder.translate(common.variables_of(trainer), test["src"],
                                       DecodeSettings("greedy", 1, 0.0, max_len), batch_size=config.eval_batch_size)
  texts = [trainer.task.detokenize(h) for h in hyps]
  refs = test["ref"]
  by_bucket = s2s.bleu_by_bucket(trainer.task.score, texts, refs, test["src"])
  total = trainer.task.score(texts, refs)
  steps, losses = common.loss_curve(workdir)
  summary = {
      "model": model, "config_name": config.name, "overrides": {k: list(v) if isinstance(v, tuple) else v
                                                                for k, v in s2s.bible_overrides(model, quick).items()},
      "steps": int(trainer.total_steps), "batch_size": int(config.batch_size), "max_len": int(config.dataset.max_len),
      "tgt_vocab_size": int(info["tgt_vocab_size"]), "src_vocab_size": int(info["src_vocab_size"]),
      "bleu": float(total.score), "bp": float(total.bp), "len_ratio": total.sys_len / max(total.ref_len, 1),
      "by_bucket": by_bucket, "test_nll": float(trainer.final["test"]["nll"]),
      "token_accuracy": float(trainer.final["test"]["token_accuracy"]),
      "train_tokens_per_s": common.train_tokens_per_second(trainer, workdir), "train_s": float(train_seconds),
      "wall_s": wall, "greedy_ms_per_sentence": 1000.0 * seconds / max(len(hyps), 1),
      "num_params": int(sum(x.size for x in jax.tree.leaves(trainer.state.params))),
      "train_pairs": len(trainer.train_source), "n_test": len(hyps), "loss_steps": steps, "losses": losses,
      "workdir": workdir,
      "samples": [{"src": s, "ref": r, "hyp": h} for s, r, h in zip(test["src_text"][:5], refs[:5], texts[:5],
                                                                       strict=True)],
  }
  common.save_run(name, summary)
  # Per verse: hypothesis, score and BLEU / chrF statistics, for the CIs and paired tests of the README.
  outputs.write_decodes(decodes_path(name), refs, [[t] for t in texts], scores[:, None],
                        header={"split": "test", "method": "greedy", "model": model},
                        source_lengths=[len(x) for x in test["src"]], bleu_tokenize=trainer.task.bleu_tokenize,
                        lowercase=trainer.task.bleu_lowercase)
  short = [i for i, src in enumerate(test["src"]) if 8 <= len(src) <= 24][:2]  # readable heatmaps
  common.save_attention(name, trainer, [test["src"][i] for i in short], [hyps[i] for i in short])
  print(f"[bible] {model}: BLEU {summary['bleu']:.2f} ({summary['wall_s']:.0f} s)", flush=True)
  return summary


def decodes_path(name: str) -> str:
  return os.path.join(common.RUNS, f"{name}.decodes.jsonl.gz")


def significance(models: tuple[str, ...], quick: bool) -> str:
  """The CI / p-value tables of research.tools.compare over the saved decodes (baseline: the first model), or
  a note naming the runs that predate saved decodes."""
  names = {m: f"bible_{m}" + ("_quick" if quick else "") for m in models}
  saved = [m for m in models if os.path.exists(decodes_path(names[m]))]
  missing = [m for m in models if m not in saved]
  note = (f"No per-verse decodes are saved for {', '.join(missing)} (runs from before they were written; "
          f"`--force --models {','.join(missing)}` retrains them), so {'it is' if len(missing) == 1 else 'they are'} "
          "left out of the intervals and tests.") if missing else ""
  if len(saved) < 2 or saved[0] != models[0]:
    return note or "(Fewer than two runs with saved decodes: no intervals.)"
  systems = [outputs.read_decodes(decodes_path(names[m])) for m in saved]
  edges = [hi for _, hi in s2s.BUCKETS[:-1]]
  result = compare.compare(systems, saved, buckets=edges)
  findings, long_wins, chrf_not_up = [], [], []
  for i, m in enumerate(saved[1:], start=1):
    overall, overall_chrf = result.overall[i].bleu_test, result.overall[i].chrf_test
    tests = [group[i].bleu_test for _, group in result.buckets]
    wins = sum(t.p_value < 0.05 and t.system.score > t.baseline.score for t in tests)
    losses = sum(t.p_value < 0.05 and t.system.score < t.baseline.score for t in tests)
    longest = tests[-1]
    if m.startswith("luong") and overall_chrf.system.score <= overall_chrf.baseline.score:
      chrf_not_up.append(m)
    if m.startswith("luong") and longest.p_value < 0.05 and longest.system.score > longest.baseline.score:
      long_wins.append(m)
    findings.append(
        f"`{m}` {overall.system.score - overall.baseline.score:+.2f} BLEU ({stats.format_p(overall.p_value)}) and "
        f"{overall_chrf.system.score - overall_chrf.baseline.score:+.2f} chrF ({stats.format_p(overall_chrf.p_value)})"
        f" overall, BLEU higher at p < 0.05 in {wins} and lower in {losses} of {len(tests)} length buckets, "
        f"{longest.system.score - longest.baseline.score:+.2f} in the longest ({stats.format_p(longest.p_value)})")
  luong = [m for m in saved if m.startswith("luong")]
  if luong and not long_wins:
    chrf_clause = " (while its chrF is not higher)" if chrf_not_up and len(chrf_not_up) == len(luong) else ""
    verdict = (" What this supports: at this budget Luong attention's BLEU gain over the plain LSTM is significant"
               f"{chrf_clause} but not concentrated on long sources (no significant gain in the longest bucket), so "
               "the notes' long-sentence advantage is not shown here.")
  elif long_wins:
    verdict = f" What this supports: {', '.join(long_wins)} beat the plain LSTM on the longest sources (p < 0.05)."
  else:
    verdict = ""
  evidence = f"Against `{saved[0]}`: " + "; ".join(findings) + "." + verdict
  return (f"Corpus BLEU and chrF with 95% bootstrap intervals (1,000 resamples of the verses) and paired bootstrap "
          f"p-values against `{models[0]}` (sacrebleu's --paired-bs, 1,000 resamples), overall and per source-length "
          f"bucket (`python -m research.tools.compare` on results/runs/bible_<model>.decodes.jsonl.gz). {note}"
          f"\n\n{compare.render(result)}\n{evidence}")


def render(res: dict[str, dict], models: tuple[str, ...], command: str, quick: bool = False) -> str:
  keys = [s2s.bucket_name(lo, hi) for lo, hi in s2s.BUCKETS]
  first = res[models[0]]
  counts = [first["by_bucket"].get(k, {}).get("n", 0) for k in keys]
  rows = [[m, f"{res[m]['num_params']:,}", res[m]["bleu"], res[m]["bp"], res[m]["test_nll"], res[m]["token_accuracy"],
           res[m]["train_tokens_per_s"], res[m]["train_s"] / 60, res[m]["greedy_ms_per_sentence"]] for m in models]
  rows2 = [[m, *[res[m]["by_bucket"].get(k, {}).get("bleu", float("nan")) for k in keys], res[m]["bleu"]]
           for m in models]
  overrides = "; ".join(f"`{m}`: " + ", ".join(f"{k}={v}" for k, v in res[m]["overrides"].items()
                                               if k.startswith(("model.", "optimizer.")))
                        for m in models if any(k.startswith(("model.", "optimizer.")) for k in res[m]["overrides"]))
  samples = []
  for i in range(min(3, len(first["samples"]))):
    samples.append(f"* zh: {first['samples'][i]['src']}\n  * reference: {first['samples'][i]['ref']}")
    samples += [f"  * `{m}`: {res[m]['samples'][i]['hyp']}" for m in models]
  ranking = " > ".join(f"`{m}` {res[m]['bleu']:.2f}" for m in sorted(models, key=lambda m: -res[m]["bleu"]))
  return f"""## 4. zh→en (Bible) BLEU at the same budget

```
{command}
```

Each model: {first['steps']} steps of batch {first['batch_size']} (≈ {first['steps'] * first['batch_size'] / first['train_pairs']:.1f}
epochs of the {first['train_pairs']:,} training verses with ≤ {first['max_len']} tokens a side), Adam with linear warmup
and cosine decay, English vocabulary of {first['tgt_vocab_size']:,} lowercased words, Chinese {first['src_vocab_size']:,}
characters, **one seed**. Models are configs/attention.py:model=M,task=bible with the shared budget of
experiments/seq2seq/common.py{' (' + overrides + ')' if overrides else ''}; experiments/seq2seq/bible.py restores
the `lstm` run from its workdir for its search sweep. BLEU: greedy decoding of all {first['n_test']:,} test verses
from untruncated sources, corpus BLEU (13a, lowercased like the vocabulary) against the KJV text.
Train tok/s = target tokens per second of training (compilation excluded), train min = training wall time,
both on this machine's 2 CPU cores shared with other jobs (so only roughly comparable between rows).

{common.table(["model", "params", "test BLEU", "BP", "test NLL", "token acc", "train tok/s", "train min",
               "greedy ms/sentence"], rows)}

BLEU by source length (Chinese characters; verses per bucket: {', '.join(f'{k}: {c}' for k, c in zip(keys, counts, strict=True))};
training saw only sources of ≤ {first['max_len']} characters):

{common.table(["model", *[f"src {k}" for k in keys], "all"], rows2)}

Ranking by test BLEU (computed from the table): {ranking}. One seed, and the length buckets hold
{min(counts)}–{max(counts)} verses each, so read the intervals below before any difference.

{significance(models, quick)}

Sample translations (greedy, first test verses):

{chr(10).join(samples)}
"""


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--quick", action="store_true", help="tiny budget smoke run")
  p.add_argument("--force", action="store_true", help="retrain even if a run summary exists")
  p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
  a = p.parse_args()
  models = tuple(a.models.split(","))
  res = {m: run_one(m, a.quick, a.force) for m in models}
  common.write_section("bible" + ("_quick" if a.quick else ""), render(res, models, common.command_line(), a.quick))


if __name__ == "__main__":
  cli.run_main(main)
