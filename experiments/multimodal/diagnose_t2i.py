"""Why did a text→image run draw (or not draw) what its caption says? For each workdir given:

  - caption-vector spread: the std of each vector entry across test captions, averaged over entries, next to
    the mean |entry| (a vector that hardly moves between captions cannot steer the decoder);
  - linear probes (logistic regression, sklearn) fitted on the vectors of 5,000 training captions that
    predict the first item's class and cell, scored on 500 test captions (chance 10% and ~11%);
  - the spread of the drawn pixels across test captions (0 = the same picture whatever the caption).

  python -m experiments.multimodal.diagnose_t2i --runs=old=/tmp/h_mm/old_runs/t2i_s0,new=/tmp/mm_runs/t2i_s0
Writes experiments/multimodal/results/t2i_diagnosis.json (run.py's report puts it in the README).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def diagnose(workdir: str, data_dir: str) -> dict[str, float]:
  import jax
  from ml_collections import ConfigDict
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  from experiments.multimodal.run import get_config
  from research.data import get_dataset
  from research.train.checkpoint import load_state
  from research.train.loop import build_model
  saved = json.load(open(os.path.join(workdir, "config.json")))
  cfg = get_config("text_to_image", "", data_dir)
  cfg.model = ConfigDict(saved["model"])  # the run's own model fields (older runs lack the newer ones)
  ds = get_dataset(cfg.dataset, cfg.data_dir)
  model = build_model(cfg, ds.info)
  _, state, _ = load_state(workdir)
  variables = {"params": state["params"]}
  train, test = ds.split("train"), ds.split("test")
  tr = ds.collate(train.__getitems__(np.random.default_rng(0).permutation(len(train))[:5000]))
  te = ds.collate(test.__getitems__(np.arange(min(500, len(test)))))
  encode = jax.jit(lambda v, c, m: model.apply(v, c, m, method="encode_text"))
  vec_tr = np.concatenate([np.asarray(encode(variables, tr["caption_out"][i:i + 1000], tr["caption_mask"][i:i + 1000]))
                           for i in range(0, len(tr["caption_out"]), 1000)])
  vec_te = np.asarray(encode(variables, te["caption_out"], te["caption_mask"]))
  out = {"vector_dim": int(vec_te.shape[1]), "vector_std_across_captions": float(vec_te.std(0).mean()),
         "vector_mean_abs": float(np.abs(vec_te).mean())}
  for what in ("labels", "cells"):
    # Standardized first: a vector that hardly varies would otherwise make the solver crawl.
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(vec_tr, tr[what][:, 0])
    out[f"probe_{what}_accuracy"] = float(probe.score(vec_te, te[what][:, 0]))
  drawn = np.asarray(jax.jit(lambda v, c, m: model.apply(v, c, m, method="generate"))(
      variables, te["caption_out"], te["caption_mask"]))
  out["drawn_pixel_std_across_captions"] = float(drawn.std(0).mean())
  out["real_pixel_std_across_scenes"] = float((np.asarray(te["image"], np.float32) / 255).std(0).mean())
  out["model"] = {k: saved["model"].get(k) for k in ("text_pool", "text_norm", "latent_dim")}
  out["steps"] = int(saved.get("num_train_steps", 0))
  return out


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--runs", required=True, help="name=WORKDIR,name=WORKDIR")
  p.add_argument("--data_dir", default="~/tensorflow_datasets")
  args = p.parse_args()
  from experiments.multimodal.run import _import_registrations
  _import_registrations()
  results = {}
  for item in args.runs.split(","):
    name, wd = item.split("=", 1)
    results[name] = diagnose(os.path.expanduser(wd), os.path.expanduser(args.data_dir))
    results[name]["workdir"] = wd
    print(name, results[name], flush=True)
  os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
  with open(os.path.join(HERE, "results", "t2i_diagnosis.json"), "w") as f:
    json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  main()
