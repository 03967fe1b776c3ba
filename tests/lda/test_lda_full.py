"""configs/lda.py:full — AG News through `tfds_text`: its values, a dry run of a few sweeps, and its errors.

The dry run reads a tiny GeneratorBasedBuilder with ag_news_subset's features (description, title, label with
4 class names) prepared as array_record into a temporary data dir, through the real builder path and the real
trainer; only the corpus name, the sweep count and the vocabulary cuts differ from the full setting.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from research import registry
from research.errors import UserError
from research.lda import trainer  # registers 'lda'

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Loaded from its file, as tests/lda/test_lda_trainer.py does: `configs` is not a package on pytest's path.
_spec = importlib.util.spec_from_file_location("lda_full_config", os.path.join(_ROOT, "configs", "lda.py"))
lda_config = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lda_config)

# Four disjoint word groups, one per class, so the tiny corpus has a topic structure to find.
GROUPS = (("vote", "senate", "minister", "treaty", "border"),
          ("goal", "match", "coach", "league", "season"),
          ("shares", "profit", "merger", "investor", "bank"),
          ("software", "chip", "internet", "linux", "browser"))
CLASSES = ["World", "Sports", "Business", "Sci/Tech"]


class TinyAgNewsLdaFixture(tfds.core.GeneratorBasedBuilder):
  """ag_news_subset's layout: train / test, features description + title (Text), label ClassLabel(4 names)."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "description": tfds.features.Text(), "title": tfds.features.Text(),
        "label": tfds.features.ClassLabel(names=CLASSES)}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples(100, 0), "test": self._generate_examples(20, 1)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      label = i % 4
      yield i, {"description": " ".join(rng.choice(GROUPS[label], size=8)),
                "title": " ".join(rng.choice(GROUPS[label], size=2)), "label": label}


def _full_dry_run_config(data_dir):
  c = lda_config.get_config("full")
  c.data_dir = str(data_dir)
  c.dataset.tfds_name = "tiny_ag_news_lda_fixture"
  c.dataset.download = False
  c.dataset.min_df = 1          # the fixture's 20 words all survive
  c.dataset.max_df = 1.0
  c.num_iterations = 10
  c.checkpoint_every = 5
  c.log_every = 5
  c.model.thin = 5              # one averaged sample after the burn-in of 5 sweeps
  c.model.transform_iterations = 5
  return c


def test_full_config_values():
  c = lda_config.get_config("full")
  assert c.trainer == "lda"
  assert (c.dataset.name, c.dataset.tfds_name, c.dataset.text_key, c.dataset.label_key) == \
      ("tfds_text", "ag_news_subset", "description", "label")
  assert c.dataset.download is True
  assert c.model.num_topics == 50 and c.model.alpha == 0.1 and c.model.beta == 0.01
  assert c.model.sampler == "parallel" and c.model.num_devices == 0   # one block per visible device
  assert c.num_iterations == 1000 and c.checkpoint_every == 100
  assert lda_config.get_config("full,k=100").model.num_topics == 100
  # The default setting is untouched by the full one's fields.
  default = lda_config.get_config()
  assert default.dataset.name == "bbc_news" and default.model.num_topics == 4 and "data_dir" not in default


def test_full_dry_run_on_tiny_ag_news_fixture(tmp_path):
  data_dir = tmp_path / "data"
  TinyAgNewsLdaFixture(data_dir=str(data_dir), file_format="array_record").download_and_prepare(
      file_format="array_record")
  c = _full_dry_run_config(data_dir)

  X, words, labels = trainer.load_corpus(c)
  assert X.shape == (100, 20) and sorted(words) == sorted(w for g in GROUPS for w in g)
  # int labels, one per document as bbc_news returns them, and each document's words are its class's group
  # (TFDS stores the split shuffled, so the order is not the generator's).
  assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [25, 25, 25, 25]
  for d in range(X.shape[0]):
    assert {words[w] for w in X[d].indices} <= set(GROUPS[labels[d]]), d
  c.dataset.text_key = "title,description"                    # several features, joined
  assert trainer.load_corpus(c)[0].sum() == 100 * 10
  c.dataset.text_key = "description"

  workdir = str(tmp_path / "run")
  scalars = registry.trainers.get("lda")(c, workdir)
  for name in ("config.json", "metrics.jsonl", "results.md", "topic_word.npy", "doc_topic.npy", "plots",
               "checkpoints"):
    assert os.path.exists(os.path.join(workdir, name)), name
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  train = [r for r in rows if r["split"] == "train"]
  assert [r["step"] for r in train] == [5, 10]
  assert all(np.isfinite(r["loglik_per_token"]) for r in train)
  assert np.isfinite(scalars["final_loglik_per_token"]) and np.isfinite(scalars["heldout_perplexity"])
  assert np.load(os.path.join(workdir, "topic_word.npy")).shape == (50, 20)
  assert np.load(os.path.join(workdir, "doc_topic.npy")).shape == (90, 50)   # 10% held out
  assert "dataset `tfds_text`: 90 training documents" in open(os.path.join(workdir, "results.md")).read()


def test_full_without_data_offline_is_one_user_error(tmp_path):
  c = lda_config.get_config("full")   # the real ag_news_subset name; nothing prepared, no download
  c.data_dir = str(tmp_path / "empty")
  c.dataset.download = False
  with pytest.raises(UserError, match="ag_news_subset data not found.*config.dataset.download=True") as e:
    registry.trainers.get("lda")(c, str(tmp_path / "run"))
  assert "\n" not in str(e.value)
  assert not os.path.exists(tmp_path / "run")   # nothing written before the corpus loads


def test_wrong_text_key_is_named(tmp_path):
  data_dir = tmp_path / "data"
  TinyAgNewsLdaFixture(data_dir=str(data_dir), file_format="array_record").download_and_prepare(
      file_format="array_record")
  c = _full_dry_run_config(data_dir)
  c.dataset.text_key = "text"
  with pytest.raises(UserError, match="set config.dataset.text_key/label_key"):
    trainer.load_corpus(c)


def test_full_with_runlocal_is_refused():
  with pytest.raises(UserError, match="full and runlocal") as e:
    lda_config.get_config("full,runlocal")
  assert "\n" not in str(e.value)
