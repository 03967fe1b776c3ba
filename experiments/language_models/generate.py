"""Text from the LSTM language model at two sampling temperatures (and greedy search), via research/decoding.

  python -m experiments.language_models.generate [--workroot=/tmp/lm_gen] [--steps=3000] [--quick]

Trains (or resumes) configs/lm.py:model=lstm,data=austen,width=256,layers=2 through the ordinary training loop
(`research.train.loop.Trainer`, the loop `research.main` runs), then continues a few fixed prompts with
`research.decoding.temperature_sample` at temperature 0.7 and 1.0 (full distribution, no top-k / top-p) and with
greedy search (plain, and blocking repeated trigrams), 30 tokens each, from one fixed jax.random key. Writes results/generate.json (config, validation
perplexity, the texts with each sample's mean log-probability per token under the model, wall time);
`python -m experiments.language_models.report` renders it in README.md. `--quick` is a seconds-long pipeline check
under WORKROOT/quick (its JSON goes there too, never to results/).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from configs import lm as lm_config
from research.decoding import greedy_search, temperature_sample
from research.models import lstm_lm
from research.train.loop import Trainer
from research.train.metric_writers import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPTS = ("it is a truth universally acknowledged that", "she could not help", "mr. darcy", "the weather was")
TEMPERATURES = (0.7, 1.0)
NUM_TOKENS = 30
SAMPLES_PER_PROMPT = 2


def config_arg(steps: int, quick: bool) -> str:
  if quick:
    return "model=lstm,data=austen,runlocal=True"
  return f"model=lstm,data=austen,width=256,layers=2,vocab=8000,steps={steps},eval_limit=256,eval_every=-1"


def generate(trainer: Trainer, seed: int = 0) -> dict:
  """Continues PROMPTS: {'greedy': [...], 'T=0.7': [...], ...}, each entry (prompt, continuation, mean log-prob)."""
  vocab = trainer.task.info["vocab"]
  model = trainer.model
  variables = {"params": trainer.state.params, **trainer.state.model_state}
  prompts = [vocab.encode(p) for p in PROMPTS]
  # Prompts differ in length: each is decoded on its own (one row; sampling folds its samples into the batch).
  out: dict[str, list] = {"greedy": [], "greedy, no_repeat_ngram_size=3": []}
  for temperature in TEMPERATURES:
    out[f"T={temperature}"] = []
  key = jax.random.key(seed)
  for i, (text, ids) in enumerate(zip(PROMPTS, prompts, strict=True)):
    prompt = jnp.asarray(ids[None, :], jnp.int32)
    step_fn, cache = lstm_lm.decode_fns(model, variables, prompt)
    kw = dict(batch_size=1, max_len=NUM_TOKENS, bos_id=0, eos_id=-1)  # an LM window has no <bos>/<eos>
    seqs, score = jax.jit(lambda c: greedy_search(step_fn, c, **kw))(cache)
    out["greedy"].append((text, vocab.decode(np.asarray(seqs[0])), float(score[0]) / NUM_TOKENS))
    seqs, score = jax.jit(lambda c: greedy_search(step_fn, c, no_repeat_ngram_size=3, **kw))(cache)
    out["greedy, no_repeat_ngram_size=3"].append((text, vocab.decode(np.asarray(seqs[0])),
                                                 float(score[0]) / NUM_TOKENS))
    for temperature in TEMPERATURES:
      seqs, scores = jax.jit(lambda c, k, t=temperature: temperature_sample(
          step_fn, c, k, temperature=t, num_samples=SAMPLES_PER_PROMPT, **kw))(cache, jax.random.fold_in(key, i))
      for s, lp in zip(np.asarray(seqs[0]), np.asarray(scores[0]), strict=True):
        out[f"T={temperature}"].append((text, vocab.decode(s), float(lp) / NUM_TOKENS))
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--workroot", default="/tmp/lm_gen")
  p.add_argument("--steps", type=int, default=3000)
  p.add_argument("--quick", action="store_true")
  a = p.parse_args()
  root = os.path.join(a.workroot, "quick") if a.quick else a.workroot
  results = os.path.join(root, "results") if a.quick else os.path.join(HERE, "results")
  os.makedirs(results, exist_ok=True)
  arg = config_arg(a.steps, a.quick)
  config = lm_config.get_config(arg)
  config.lm_hide_target = False  # perplexity only; the hidden-target pass costs seq_len forward passes
  workdir = os.path.join(root, "lstm_austen")
  trainer = Trainer(config, workdir)
  final = trainer.run()
  # A finished workdir is restored, not retrained: the training time is the longest process time it logged.
  train_s = max((r.get("time", 0.0) for r in read_metrics(workdir)), default=0.0)
  t1 = time.time()
  texts = generate(trainer)
  record = {"config": f"configs/lm.py:{arg}", "overrides": {"lm_hide_target": False},
            "validation_perplexity": math.exp(final["validation"]["forward_loss"]),
            "final": final, "texts": texts, "num_tokens": NUM_TOKENS, "train_wall_s": round(train_s, 1),
            "generate_wall_s": round(time.time() - t1, 1), "device": jax.devices()[0].platform,
            "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
  path = os.path.join(results, "generate.json")
  with open(path, "w") as f:
    json.dump(record, f, indent=1)
  for name, rows in texts.items():
    for prompt, cont, lp in rows:
      print(f"[{name}] {prompt} | {cont}   ({lp:.2f} nats/token)")
  print(json.dumps({"results": path, "validation_perplexity": record["validation_perplexity"]}))


if __name__ == "__main__":
  main()
