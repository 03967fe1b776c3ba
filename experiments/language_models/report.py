"""Builds experiments/language_models/README.md from results/*.json (written by run_all.py).

  python -m experiments.language_models.report

Every number in the README comes from those files; nothing is typed by hand.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def load() -> dict[str, dict]:
  out = {}
  for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
    with open(path) as f:
      r = json.load(f)
    out[r["name"]] = r
  return out


def table(header: list[str], rows: list[list]) -> str:
  def fmt(v):
    if isinstance(v, float):
      return "—" if math.isnan(v) else f"{v:.4f}" if abs(v) < 100 else f"{v:,.1f}"
    return str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def mean_std(values: list[float]) -> str:
  if not values:
    return "not run"
  if len(values) == 1:
    return f"{values[0]:.4f}"
  return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def seeds_of(runs: dict, prefix: str) -> list[dict]:
  return [r for n, r in sorted(runs.items()) if re.fullmatch(re.escape(prefix) + r"_s\d+", n)]


def sentiment(runs: dict) -> str:
  rows = []
  spec = [
      ("LSTM from scratch, last state", "rt_lstm_last"),
      ("LSTM from scratch, mean pooling", "rt_lstm_mean"),
      ("LSTM from scratch, max pooling", "rt_lstm_max"),
      ("frozen ELMo features (scalar mix, mean pooling)", "rt_elmo_mean"),
      ("frozen leaky-biLM features (same classifier)", "rt_leaky_mean"),
      ("BERT without pretraining, [CLS]", "rt_bert_scratch_cls"),
      ("BERT pretrained here + fine-tuned, [CLS]", "rt_bert_pre_cls"),
      ("BERT pretrained here + fine-tuned, mean pooling", "rt_bert_pre_mean"),
      ("BERT pretrained here + fine-tuned, max pooling", "rt_bert_pre_max"),
  ]
  for label, prefix in spec:
    rs = seeds_of(runs, prefix)
    if not rs:
      continue
    rows.append([label, len(rs), mean_std([r["final"]["validation"]["accuracy"] for r in rs]),
                 mean_std([r["final"]["test"]["accuracy"] for r in rs]),
                 f"`{rs[0]['config'].replace(',seed=0', '')}`"])
  rows.append(["always the training split's majority class", "—", *majority_baseline(), "—"])
  return table(["model", "seeds", "validation accuracy", "test accuracy", "config (seed=N added per seed)"], rows)


def majority_baseline() -> list[str]:
  """Accuracy of predicting the training split's most frequent label (the same movie-hash split as the runs)."""
  from research.data.text import read_rotten_tomatoes, split_of
  rows = read_rotten_tomatoes()
  by = {s: [r["label"] for r in rows if split_of(r["movie"], 10, 10) == s] for s in ("train", "validation", "test")}
  major = int(np.mean(by["train"]) >= 0.5)
  return [f"{np.mean(np.asarray(by[s]) == major):.4f}" for s in ("validation", "test")]


def ranking(runs: dict) -> str:
  rs = [(r["final"]["test"]["accuracy"], n) for n, r in runs.items() if n.startswith("rt_") and n.endswith("_s0")]
  major = float(majority_baseline()[1])
  text = " > ".join(f"`{n[3:-3]}` {a:.3f}" for a, n in sorted(rs, reverse=True))
  stuck = [f"`{n[3:-3]}`" for a, n in rs if abs(a - major) < 5e-5]
  if stuck:
    text += (f". {', '.join(stuck)} score exactly the majority-class accuracy ({major:.4f}): in 300 steps the "
             "classifier on frozen features did not move off predicting one class (its training loss stays at "
             "log 2; the cause — budget, learning rate or a bug in the frozen-feature path — is not yet diagnosed)")
  return text


def pairs(runs: dict) -> str:
  rows = []
  for label, prefix in (("BERT without pretraining, [CLS]", "pairs_bert_scratch_cls"),
                        ("BERT pretrained here + fine-tuned, [CLS]", "pairs_bert_pre_cls")):
    rs = seeds_of(runs, prefix)
    if rs:
      rows.append([label, len(rs), mean_std([r["final"]["validation"]["accuracy"] for r in rs]),
                   mean_std([r["final"]["test"]["accuracy"] for r in rs]), f"`{rs[0]['config']}`"])
  return table(["model", "seeds", "validation accuracy", "test accuracy", "config"], rows) if rows else "not run"


def lm(runs: dict) -> str:
  rows = []
  for name, label in (("lm_lstm", "LSTM LM"), ("lm_elmo", "ELMo biLM"), ("lm_leaky", "leaky biLM"),
                      ("lm_leaky_long", "leaky biLM, 1 layer, 900 steps")):
    r = runs.get(name)
    if r is None:
      continue
    val, train = r["final"]["validation"], r["last_train"]
    for head in ("forward", "backward", "bidirectional"):
      if f"{head}_loss" not in val:
        continue
      rows.append([label, head, train.get(f"{head}_loss", float("nan")), math.exp(train.get(f"{head}_loss", math.nan)),
                   val[f"{head}_loss"], math.exp(val[f"{head}_loss"]), val[f"{head}_hidden_loss"],
                   math.exp(val[f"{head}_hidden_loss"]), val[f"{head}_accuracy"]])
  sizes = {int(m) for r in runs.values() for m in re.findall(r"vocab=(\d+)", r.get("config", ""))
           if r["name"].startswith("lm_")}
  for v in sorted(sizes):  # the no-information baseline: every word equally likely
    rows.append([f"uniform over the {v:,} ids", "—", math.log(v), float(v), math.log(v), float(v), math.log(v),
                 float(v), 1.0 / v])
  return table(["model", "direction", "train NLL (last 100 steps)", "train ppl", "validation NLL", "validation ppl",
                "honest NLL (target hidden)", "honest ppl", "validation next-token accuracy"], rows)


def leak_summary(runs: dict) -> str:
  """Sentences comparing the leaky model with the honest ones, with the numbers taken from the runs."""
  out = []
  honest = runs.get("lm_lstm")
  for name in ("lm_leaky", "lm_leaky_long"):
    r = runs.get(name)
    if r is None or honest is None:
      continue
    v, h = r["final"]["validation"], honest["final"]["validation"]
    vocab = re.findall(r"vocab=(\d+)", r["config"])
    uniform = math.log(int(vocab[0])) if vocab else float("nan")
    out.append(f"`{name}`: training NLL {r['last_train']['bidirectional_loss']:.2f} and validation NLL "
               f"{v['bidirectional_loss']:.2f} against the honest LSTM LM's {h['forward_loss']:.2f}, but "
               f"{v['bidirectional_hidden_loss']:.2f} once the token is hidden — "
               + ("worse than guessing uniformly" if v["bidirectional_hidden_loss"] > uniform else "still worse than "
                  "the honest LM" if v["bidirectional_hidden_loss"] > h["forward_loss"] else "not worse than the "
                  "honest LM") + f" ({uniform:.2f} nats).")
  return " ".join(out)


def pretraining(runs: dict) -> tuple[str, str]:
  r = runs.get("bert_pretrain")
  if r is None:
    return "not run", "not run"
  hist = r["history"]
  rows = [[h["step"], h["split"], h["mlm_loss"], h["mlm_accuracy"], h["nsp_loss"], h["nsp_accuracy"]]
          for h in hist if "mlm_loss" in h]
  curve = table(["step", "split", "MLM loss", "MLM accuracy", "NSP loss", "NSP accuracy"], rows)
  train = [h for h in hist if h["split"] == "train" and "select_rate" in h]
  rates = {k: float(np.mean([h[k] for h in train])) for k in ("select_rate", "mask_frac", "random_frac",
                                                                "keep_frac", "next_frac")}
  return curve, rates


def masking(runs: dict, train_rates) -> str:
  m = runs.get("masking_rates")
  rows = []
  if m:
    sel = m["selected"]
    rows.append(["direct draw on real pairs", f"{m['batches']} batches × {m['batch_size']}",
                 m["selected"] / m["maskable"], m["mask"] / sel, m["random"] / sel, m["keep"] / sel,
                 m["next"] / m["pairs"], int(m["special_selected"])])
  if isinstance(train_rates, dict):
    rows.append(["during BERT pretraining (mean of logged train windows)", "all training steps",
                 train_rates["select_rate"], train_rates["mask_frac"], train_rates["random_frac"],
                 train_rates["keep_frac"], train_rates["next_frac"], "—"])
  rows.append(["the rule", "", 0.15, 0.8, 0.1, 0.1, 0.5, 0])
  return table(["measured", "sample", "selected / maskable", "[MASK]", "random word", "unchanged", "NSP true next",
                "specials selected"], rows)


def run_list(runs: dict) -> str:
  rows = [[n, f"`{r['config']}`", f"{r['wall_s'] / 60:.1f}", r["device"]]
          for n, r in sorted(runs.items()) if "final" in r]
  return table(["run", "config", "wall minutes (compile + train + eval)", "device"], rows)


def main() -> None:
  runs = load()
  curve, train_rates = pretraining(runs)
  walls = sum(r.get("wall_s", 0.0) for r in runs.values())
  m = runs.get("masking_rates", {})
  text = f"""# Language models: LSTM, ELMo, the leaky biLM, BERT (issue 9)

All tables below are generated by `python -m experiments.language_models.report` from `results/*.json`, which
`python -m experiments.language_models.run_all` writes (one file per training run, with the exact config string).
Runs: {len([r for r in runs.values() if 'final' in r])} training runs, {walls / 60:.0f} minutes of wall time in all, on
the project's shared 2-core CPU while many other jobs ran (load average ≈ 20), so every model is tiny and every
budget short (300 steps for the LMs and classifiers, 500 for BERT pretraining). The numbers show the mechanisms
working; they are far from what these models reach with real budgets. Where a row says "seeds 1" only seed 0
fit in the time available.

Data (research/data/text.py): Rotten Tomatoes critic snippets (fresh = 1 / rotten = 0), split 80/10/10 by a hash
of the movie name so no movie's reviews are in two splits. The unlabeled text for the LMs, ELMo and BERT
pretraining is `rotten_tomatoes_text`: the *training* movies' snippets and plot summaries (no label used, no
validation/test movie included), so pretraining never saw an evaluation example. Jane Austen (`austen`) and the KJV
(`kjv_text`) are available as other corpora (`data=austen|kjv` in configs/lm.py and configs/bert.py).

## Sentiment accuracy (fresh vs rotten)

{sentiment(runs)}

Seed-0 test accuracy, best first: {ranking(runs)}. With these budgets the pretrained representations are weak
(the biLM's perplexity and BERT's MLM accuracy are in the tables below), so frozen features or a briefly pretrained
encoder need not beat an LSTM trained end to end on the labels; the comparison is only as good as the pretraining.

The ELMo rows read the frozen biLM of the `lm_elmo` run (below); only the scalar mix and the head are trained. The
BERT rows share one pretraining run (`bert_pretrain`, 64-wide, 2 layers, WordPiece vocabulary of 4,000 trained on
the pretraining text); "without pretraining" is the same architecture and vocabulary size from random weights.

## Sentence pairs: are two snippets about the same movie?

{pairs(runs)}

Both stay at chance after 300 steps: the task needs far more than this budget (and the briefly pretrained encoder,
whose NSP accuracy below is also at chance, brings no pair knowledge).

## Language-model perplexities and the leakage table

NLL in nats per token; perplexity = exp(NLL). Word vocabulary of 4,000 (the rest is `<unk>`), windows of 32
tokens, evaluated on 128 validation windows. "Honest" scores every position t from an input in which token t
itself is replaced by `<unk>` (config `lm_hide_target`, research/lm_tasks.py): for a model that cannot see the
token it predicts this changes nothing (the LSTM LM and both ELMo directions give identical numbers), for the
leaky biLM it removes the answer it was copying.

{lm(runs)}

The leaky biLM predicts token t from [forward state at t−1; backward state at t−1], and the backward state at t−1
has read token t. {leak_summary(runs)} tests/test_elmo.py proves the mechanism with gradients (ELMo's forward LM:
zero gradient from tokens ≥ t; backward LM: zero from tokens ≤ t; leaky: non-zero from token t itself).

## BERT pretraining: MLM and NSP

Loss = MLM cross-entropy over the selected positions + NSP cross-entropy. Train rows average the 100 steps before
the logged step; validation rows use fixed masks and pairs.

{curve}

## Measured masking rates and the NSP split

{masking(runs, train_rates)}

The first row applies `make_pairs` + `mask_tokens` (research/models/bert.py) to
{m.get('batches', 0)} random training batches; the selection is exactly round(15%) of the maskable tokens of each
row (at least 1), so its rate sits slightly off 0.15 through rounding. tests/test_bert.py checks the 80/10/10 split
and the NSP 50/50 within 5 standard deviations over 4,000 pairs, and that [CLS]/[SEP]/[PAD] are never selected.

## Every run

{run_list(runs)}

## Reproduce

```
python -m experiments.language_models.run_all          # skips runs whose results/*.json exist
python -m experiments.language_models.report           # rewrites this README
python -m experiments.language_models.run_all --quick --workroot=/tmp/lm_quick   # pipeline smoke test
```
Single runs: `python -m experiments.language_models.train --config=configs/lm.py:model=leaky --workdir=/tmp/leaky`
(the same as `python -m research.main ...` once the registrations are imported by research/).
"""
  with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
