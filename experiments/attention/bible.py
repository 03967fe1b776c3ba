"""zh→en BLEU on the Bible verses: plain LSTM seq2seq vs Luong (dot, general) vs Transformer at one
training budget; BLEU by source-length bucket; training tokens/s per model.

  python -m experiments.attention.bible [--quick] [--force]

Each run trains configs/attention.py:model=M (task=bible) for the same number of steps at batch 32 on
the first `train_limit` training verses, then greedy-decodes the first 200 test verses; BLEU is corpus
BLEU (research/bleu.py, 13a tokenization) against the KJV text. `--quick`: 30 steps, 100 sentences.
"""

from __future__ import annotations

import argparse

from experiments.attention import common
from research import bleu

MODELS = ("lstm", "luong_dot", "luong_general", "transformer")
BUCKETS = ((1, 20), (20, 35), (35, 50), (50, 64))  # source characters, [lo, hi)
STEPS, TRAIN_LIMIT, N_TEST = 200, 8000, 200


def overrides_for(quick: bool) -> dict:
  return {"num_train_steps": 30 if quick else STEPS, "batch_size": 32, "dataset.train_limit": TRAIN_LIMIT,
          "dataset.eval_limit": 100 if quick else N_TEST, "dataset.eval_splits": ("test",),
          "log_every_steps": 10, "eval_every_steps": -1, "checkpoint_every_steps": 1000,
          "decode.num_sentences": 0, "optimizer.warmup_steps": 5 if quick else 50}


def run_one(model: str, overrides: dict, force: bool) -> dict:
  arg = f"model={model},task=bible"
  name = common.run_name(arg, overrides)
  cached = None if force else common.load_run(name)
  if cached is not None:
    return cached
  trainer, workdir = common.train(arg, overrides, force=force)
  n = int(overrides["dataset.eval_limit"])
  hyps, examples = common.greedy_decode(trainer, "test", n, trainer.config.decode.max_decode_len)
  vocab = trainer.dataset.info["tgt_vocab"]
  texts = [vocab.decode(h) for h in hyps]
  refs = [str(t) for t in examples["tgt_text"]]
  src_lens = [len(s) for s in examples["src"]]
  by_bucket = {}
  for lo, hi in BUCKETS:
    idx = [i for i, n_src in enumerate(src_lens) if lo <= n_src < hi]
    if idx:
      score = bleu.corpus_bleu([texts[i] for i in idx], [[refs[i] for i in idx]], tokenize="13a", force=True)
      by_bucket[f"{lo}-{hi - 1}"] = {"bleu": float(score.score), "n": len(idx)}
  steps, losses = common.loss_curve(workdir)
  summary = {
      "model": model, "arg": arg, "steps": int(trainer.config.num_train_steps),
      "bleu": float(bleu.corpus_bleu(texts, [refs], tokenize="13a", force=True).score),
      "by_bucket": by_bucket, "test_loss": float(trainer.final["test"]["nll"]),
      "token_accuracy": float(trainer.final["test"]["token_accuracy"]),
      "train_tokens_per_s": common.train_tokens_per_second(trainer, workdir), "wall_s": trainer.wall_seconds,
      "num_params": int(sum(x.size for x in __import__("jax").tree.leaves(trainer.state.params))),
      "train_pairs": len(trainer.train_source), "n_test": len(hyps), "loss_steps": steps, "losses": losses, "workdir": workdir,
      "samples": [{"src": str(s), "ref": r, "hyp": h} for s, r, h in
                  zip(examples["src_text"][:3], refs[:3], texts[:3], strict=True)],
  }
  common.save_run(name, summary)
  short = [i for i, n_src in enumerate(src_lens) if 8 <= n_src <= 24][:2]  # readable heatmaps
  common.save_attention(name, trainer, [examples["src"][i] for i in short], [hyps[i] for i in short])
  print(f"[bible] {model}: BLEU {summary['bleu']:.2f} ({summary['wall_s']:.0f} s)", flush=True)
  return summary


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--quick", action="store_true")
  p.add_argument("--force", action="store_true")
  p.add_argument("--models", default=",".join(MODELS))
  a = p.parse_args()
  models = tuple(a.models.split(","))
  overrides = overrides_for(a.quick)
  res = {m: run_one(m, overrides, a.force) for m in models}
  keys = [f"{lo}-{hi - 1}" for lo, hi in BUCKETS]
  first = res[models[0]]
  counts = [first["by_bucket"].get(k, {}).get("n", 0) for k in keys]
  rows = [[m, f"{res[m]['num_params']:,}", res[m]["bleu"], res[m]["test_loss"], res[m]["token_accuracy"],
           res[m]["train_tokens_per_s"], res[m]["wall_s"]] for m in models]
  rows2 = [[m, *[res[m]["by_bucket"].get(k, {}).get("bleu", float("nan")) for k in keys]] for m in models]
  samples = "\n".join(f"- `{m}`: {res[m]['samples'][0]['hyp']!r}" for m in models)
  text = f"""## 4. zh→en (Bible) BLEU at the same budget

```
{common.command_line()}
```

{first['steps']} steps of batch 32 on the first {first['train_pairs']:,} training verses (≤ 63 tokens a side),
greedy decoding of the first {first['n_test']} test verses, corpus BLEU (13a), one seed.
This is a tiny budget (a fraction of an epoch of the 28k-verse corpus): BLEU is low for every model and
the table says which model learns fastest here, not which translates best at convergence.
Tokens/s = target tokens per second of training (compilation excluded) on the shared, busy 2-core CPU,
so it is noisy; wall = the whole run including compilation and evaluation.

{common.table(["model", "params", "test BLEU", "test NLL", "token acc", "train tok/s", "wall s"], rows)}

BLEU by source length (Chinese characters; sentences per bucket: {', '.join(f'{k}: {c}' for k, c in zip(keys, counts, strict=True))}):

{common.table(["model", *[f"src {k}" for k in keys]], rows2)}

First test verse — reference: {first['samples'][0]['ref']!r}

{samples}
"""
  common.write_section("bible" + ("_quick" if a.quick else ""), text)


if __name__ == "__main__":
  main()
