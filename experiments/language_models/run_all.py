"""Runs this issue's experiments in order of priority and stores each run's numbers as results/<run>.json.

  python -m experiments.language_models.run_all [--workroot=/tmp/lm_exp] [--seeds=3] [--quick]

Every run is the ordinary training loop (`registry.trainers`) on a config from configs/lm.py,
configs/lstm_sentiment.py or configs/bert.py; the config arguments used are stored with the numbers.
A run whose JSON already exists is skipped, so the script can be interrupted and restarted.
`python -m experiments.language_models.report` turns results/*.json into the README tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time

import jax
import numpy as np

from research import (
  lm_tasks,  # noqa: F401  (registers tasks and the 'finetune' trainer)
  registry,
)
from research.data import text
from research.errors import UserError
from research.models import bert, elmo, lstm_lm  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def load_config(file: str, arg: str):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(HERE, "..", "..", "configs", file))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def history(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def run(name: str, file: str, arg: str, workroot: str) -> dict | None:
  out = os.path.join(RESULTS, f"{name}.json")
  if os.path.exists(out):
    with open(out) as f:
      return json.load(f)
  config = load_config(file, arg)
  workdir = os.path.join(workroot, name)
  t0 = time.time()
  print(f"=== {name}: {file}:{arg}", flush=True)
  try:
    final = registry.trainers.get(config.trainer)(config, workdir)
  except UserError as e:  # e.g. another run_all process holds this workdir's lock: leave the run to it
    print(f"--- {name} skipped: {e}", flush=True)
    return None
  rows = history(workdir)
  train = [r for r in rows if r["split"] == "train"]
  record = {"name": name, "config": f"configs/{file}:{arg}", "final": final, "last_train": train[-1] if train else {},
            "history": rows, "wall_s": round(time.time() - t0, 1), "device": jax.devices()[0].platform}
  with open(out, "w") as f:
    json.dump(record, f, indent=1)
  return record


def measure_masking(quick: bool) -> None:
  """The 80/10/10 rule and the NSP split measured on real pretraining batches (no model involved)."""
  out = os.path.join(RESULTS, "masking_rates.json")
  if os.path.exists(out):
    return
  from ml_collections import ConfigDict
  cfg = ConfigDict(dict(tokenizer="wordpiece", vocab_size=4000, format="sentence_pairs", max_sentence_len=32))
  ds = text.rotten_tomatoes_text(cfg, "/tmp")
  info = ds.info
  src = ds.split("train")
  n_batches, bs = (20 if quick else 200), 64
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


def bert_runs(a, q: str) -> None:
  bert_w, sent = "width=64,layers=2", "steps=300"
  pre_dir = os.path.join(a.workroot, "bert_pretrain")
  run("bert_pretrain", "bert.py", f"mode=pretrain,data=rt,{bert_w},steps=500{q}", a.workroot)
  run("rt_bert_pre_cls_s0", "bert.py", f"mode=finetune,pooling=cls,init_from={pre_dir},{bert_w},{sent},seed=0{q}",
      a.workroot)
  run("rt_bert_scratch_cls_s0", "bert.py", f"mode=scratch,pooling=cls,{bert_w},{sent},seed=0{q}", a.workroot)
  for pooling in ("mean", "max"):
    run(f"rt_bert_pre_{pooling}_s0", "bert.py",
        f"mode=finetune,pooling={pooling},init_from={pre_dir},{bert_w},{sent},seed=0{q}", a.workroot)
  run("pairs_bert_pre_cls_s0", "bert.py",
      f"mode=finetune,data=rt_pairs,pooling=cls,init_from={pre_dir},{bert_w},{sent},seed=0{q}", a.workroot)
  run("pairs_bert_scratch_cls_s0", "bert.py", f"mode=scratch,data=rt_pairs,pooling=cls,{bert_w},{sent},seed=0{q}",
      a.workroot)
  for seed in range(1, a.seeds):
    run(f"rt_bert_pre_cls_s{seed}", "bert.py",
        f"mode=finetune,pooling=cls,init_from={pre_dir},{bert_w},{sent},seed={seed}{q}", a.workroot)
    run(f"rt_bert_scratch_cls_s{seed}", "bert.py", f"mode=scratch,pooling=cls,{bert_w},{sent},seed={seed}{q}",
        a.workroot)


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--workroot", default="/tmp/lm_exp")
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--quick", action="store_true", help="a few steps each (smoke test of the whole pipeline)")
  p.add_argument("--only", choices=("all", "lstm", "bert"), default="all",
                 help="lstm: LMs, LSTM and ELMo classifiers; bert: BERT pretraining and fine-tuning (two processes "
                      "can share the work)")
  a = p.parse_args()
  os.makedirs(RESULTS, exist_ok=True)
  q = ",steps=6,runlocal" if a.quick else ""
  lm_w = "width=64,layers=2"
  measure_masking(a.quick)
  if a.only == "bert":
    bert_runs(a, q)
    return
  # Language models on the in-domain unlabeled text (the training movies' snippets and plots).
  lm_steps = "steps=300,vocab=4000,eval_limit=128,eval_every=-1"
  run("lm_lstm", "lm.py", f"model=lstm,{lm_w},{lm_steps}{q}", a.workroot)
  run("lm_elmo", "lm.py", f"model=elmo,{lm_w},{lm_steps}{q}", a.workroot)
  run("lm_leaky", "lm.py", f"model=leaky,{lm_w},{lm_steps}{q}", a.workroot)
  elmo_dir = os.path.join(a.workroot, "lm_elmo")
  leaky_dir = os.path.join(a.workroot, "lm_leaky")
  sent = "steps=300"
  run("rt_lstm_last_s0", "lstm_sentiment.py", f"model=lstm,pooling=last,{sent},seed=0{q}", a.workroot)
  run("rt_elmo_mean_s0", "lstm_sentiment.py",
      f"model=elmo,pooling=mean,init_from={elmo_dir},{lm_w},{sent},seed=0{q}", a.workroot)
  run("rt_leaky_mean_s0", "lstm_sentiment.py",
      f"model=leaky,pooling=mean,init_from={leaky_dir},{lm_w},{sent},seed=0{q}", a.workroot)
  for pooling in ("mean", "max"):
    run(f"rt_lstm_{pooling}_s0", "lstm_sentiment.py", f"model=lstm,pooling={pooling},{sent},seed=0{q}", a.workroot)
  for seed in range(1, a.seeds):
    run(f"rt_lstm_last_s{seed}", "lstm_sentiment.py", f"model=lstm,pooling=last,{sent},seed={seed}{q}", a.workroot)
    run(f"rt_elmo_mean_s{seed}", "lstm_sentiment.py",
        f"model=elmo,pooling=mean,init_from={elmo_dir},{lm_w},{sent},seed={seed}{q}", a.workroot)
  if a.only == "all":
    bert_runs(a, q)


if __name__ == "__main__":
  main()
