"""Every experiment config's `full` setting: its published budget, and a dry run of its first steps.

The full settings read official TFDS datasets that need internet to prepare, so each dry run prepares a tiny
GeneratorBasedBuilder with that dataset's features (MNIST's image/label, lm1b's text, imdb_reviews' text/label,
WMT's Translation, coco_captions' image/captions) into the test's TFDS data dir, points the config's dataset at it
and trains two steps through the registered trainer with everything else as the full setting configures it:
model sizes, optimizer, schedule, tokenization and task. Only batch sizes, step counts and evaluation limits
shrink. (configs/attention.py's full setting: tests/experiments/test_attention_config.py; configs/lda.py's:
tests/lda/test_lda_full.py.)
"""

from __future__ import annotations

import io

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from ml_collections import ConfigDict
from PIL import Image

from configs import bert, captioning, cnn, deep_nets, lm, lstm_sentiment, quickstart, seq2seq, text_to_image
from research.errors import UserError
from research.train.init_from import InitFromTrainer, WarmStartTrainer
from research.train.loop import Trainer

TRAINERS = {"supervised": Trainer, "finetune": InitFromTrainer, "warm_start": WarmStartTrainer}  # config.trainer

WORDS = ("the cat sat on a mat and the dog ran to the red house while birds sang over green fields "
         "under one warm sun").split()
POSITIVE, NEGATIVE = ("good", "great", "fine", "lovely"), ("bad", "awful", "dull", "poor")


def _png(pixels: np.ndarray) -> bytes:
  """uint8[H, W, C] → PNG bytes: TFDS encodes Image features with TensorFlow, which these tests do without."""
  out = io.BytesIO()
  Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(out, format="PNG")
  return out.getvalue()


def _sentence(rng: np.random.Generator, n: int = 8) -> str:
  return " ".join(rng.choice(WORDS, size=n)).capitalize() + "."


class FullMnistFixture(tfds.core.GeneratorBasedBuilder):
  """MNIST's features: image uint8[28, 28, 1], label ClassLabel(10); train / test."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(28, 28, 1)), "label": tfds.features.ClassLabel(num_classes=10)}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(120, 0), "test": self._generate_examples(20, 1)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      yield i, {"image": _png(rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)), "label": int(rng.integers(10))}


class FullCorpusFixture(tfds.core.GeneratorBasedBuilder):
  """lm1b's / wikipedia's feature: text (several sentences per example here, so NSP has successors); train / test."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({"text": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(200, 0), "test": self._generate_examples(20, 1)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      yield i, {"text": " ".join(_sentence(rng) for _ in range(4))}


class FullReviewsFixture(tfds.core.GeneratorBasedBuilder):
  """imdb_reviews' features: text, label ClassLabel(neg, pos); train / test / unsupervised (label -1)."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=["neg", "pos"])}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(120, 0), "test": self._generate_examples(24, 1), "unsupervised": self._generate_examples(16, 2)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      label = int(rng.integers(2))
      words = rng.choice(POSITIVE if label else NEGATIVE, size=6)
      yield i, {"text": _sentence(rng) + " it was " + " ".join(words) + " .", "label": -1 if seed == 2 else label}


class FullWmtFixture(tfds.core.GeneratorBasedBuilder):
  """wmt14_translate/fr-en's feature: Translation(en, fr); train / validation / test."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.Translation(languages=("en", "fr")))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(60, 0), "validation": self._generate_examples(6, 1), "test": self._generate_examples(6, 2)}

  def _generate_examples(self, n, seed):
    for i in range(n):
      k = seed * 1000 + i
      yield i, {"en": f"the house number {k} is red .", "fr": f"la maison numéro {k} est rouge ."}


class FullCocoFixture(tfds.core.GeneratorBasedBuilder):
  """coco_captions' features that the dataset reads: image (any size, RGB), captions/text; train / val / test."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3)),
        "captions": tfds.features.Sequence({"text": tfds.features.Text()})}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(6, 0), "val": self._generate_examples(2, 1), "test": self._generate_examples(3, 2)}

  def _generate_examples(self, n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
      yield i, {"image": _png(rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)),
                "captions": {"text": [_sentence(rng, 6) for _ in range(5)]}}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory) -> str:
  folder = str(tmp_path_factory.mktemp("full_tfds"))
  for builder in (FullMnistFixture, FullCorpusFixture, FullReviewsFixture, FullWmtFixture, FullCocoFixture):
    builder(data_dir=folder, file_format="array_record").download_and_prepare(file_format="array_record")
  return folder


def _dry_run(config: ConfigDict, workdir, data_dir: str, *, batch: int = 4, steps: int = 2):
  """Trains `steps` steps of `config` (the full setting) with small batches and returns the trainer."""
  config.data_dir = data_dir
  config.dataset.download = False          # the fixture is prepared; never touch the network
  config.batch_size = config.eval_batch_size = batch
  config.num_epochs = -1.0
  config.num_train_steps = steps
  config.log_every_steps = 1
  config.eval_every_steps = -1
  config.checkpoint_every_steps = steps
  config.model_summary = False
  if "eval_limit" in config.dataset:
    config.dataset.eval_limit = 2 * batch
  trainer = TRAINERS[config.get("trainer", "supervised")](config, str(workdir))
  final = trainer.run()
  assert int(trainer.state.step) == steps
  losses = [v["loss"] for v in final.values() if isinstance(v, dict) and "loss" in v]
  assert losses and all(np.isfinite(losses)), final
  return trainer


def _num_params(trainer) -> int:
  return sum(x.size for x in jax.tree.leaves(trainer.state.params))


@pytest.mark.parametrize("get_config,arg", [
    (quickstart.get_config, "full,runlocal"), (cnn.get_config, "full,runlocal"),
    (deep_nets.get_config, "experiment=remedies,full,runlocal"), (lm.get_config, "full,runlocal"),
    (lstm_sentiment.get_config, "full,runlocal"), (bert.get_config, "full,runlocal"),
    (seq2seq.get_config, "full,runlocal"), (seq2seq.get_config, "full,task=reverse"),
    (captioning.get_config, "full,runlocal"), (text_to_image.get_config, "full,runlocal")])
def test_full_with_a_contradicting_argument_is_one_user_error(get_config, arg):
  with pytest.raises(UserError, match="full"):
    get_config(arg)


def test_quickstart_full_is_the_784_800_10_mlp_on_mnist(tmp_path, tfds_dir):
  c = quickstart.get_config("full")
  assert (c.dataset.name, c.model.hidden_sizes, c.num_epochs) == ("tfds:mnist", (800,), 50.0)
  c.dataset.name = "tfds:full_mnist_fixture"
  trainer = _dry_run(c, tmp_path / "run", tfds_dir)
  assert trainer.dataset.info["max_value"] == 255  # uint8 pixels scaled into [0, 1]
  assert _num_params(trainer) == 784 * 800 + 800 + 800 * 10 + 10


@pytest.mark.parametrize("experiment,hidden", [("vanishing", (1000,) * 5), ("remedies", (500, 500, 2000)),
                                               ("overfitting", (1024,) * 3)])
def test_deep_nets_full_are_the_papers_mnist_nets(tmp_path, tfds_dir, experiment, hidden):
  c = deep_nets.get_config(f"experiment={experiment},full")
  assert (c.dataset.name, c.model.hidden_sizes) == ("tfds:mnist", hidden)
  c.dataset.name = "tfds:full_mnist_fixture"
  if experiment == "remedies":
    assert (c.optimizer.name, c.num_epochs, c.pretrain.epochs) == ("momentum", 50.0, 20)
    c.pretrain.kind = "rbm"          # the variant the paper's 1.2% is for: greedy RBM stack, then fine-tuning
    c.pretrain.epochs = 1
    c.pretrain.batch_size = 20
  if experiment == "overfitting":
    assert c.dataset.validation_fraction == pytest.approx(1 / 6) and c.num_epochs == 100.0
    c.model.dropout_rate = 0.5
  _dry_run(c, tmp_path / "run", tfds_dir)


def test_cnn_and_text_to_image_full(tmp_path, tfds_dir, fashion_dir):
  c = cnn.get_config(f"full,local_dir={fashion_dir}")
  assert (c.model.features, c.num_train_steps) == ((32, 64), 14_070)
  _dry_run(c, tmp_path / "cnn", tfds_dir)
  t = text_to_image.get_config(f"full,local_dir={fashion_dir},classifier={tmp_path / 'cnn'}")
  assert (t.dataset.num_train, t.model.hidden_dim, t.num_train_steps) == (50_000, 512, 40_000)
  t.dataset.update(num_train=16, num_validation=0, num_test=4)  # the fixture holds 64 + 24 images
  t.decode.update(max_examples=4, batch_size=4)
  _dry_run(t, tmp_path / "t2i", tfds_dir)


def test_lm_full_is_a_two_layer_1024_lstm_on_lm1b_and_feeds_elmo_on_imdb(tmp_path, tfds_dir):
  c = lm.get_config("model=elmo,full")
  assert (c.dataset.name, c.dataset.tfds_name, c.dataset.vocab_size, c.model.hidden_dim) == (
      "tfds_corpus", "lm1b", 50_000, 1024)
  c.dataset.tfds_name = "full_corpus_fixture"
  c.dataset.validation_percent = 20    # 1% of 200 short documents would hold no 64-token window
  c.lm_hide_target = False             # its 64 extra passes cost a minute here; tests/tasks/test_lm_train.py covers it
  trainer = _dry_run(c, tmp_path / "run", tfds_dir)
  sizes = {s: len(trainer.dataset.split(s)) for s in ("train", "validation", "test")}
  assert min(sizes.values()) > 0       # test: the dataset's own split; validation: 1% of train by hash
  # The frozen-ELMo classifier of configs/lstm_sentiment.py:full reads this biLM: its widths, vocab.json, weights.
  e = lstm_sentiment.get_config(f"model=elmo,full,init_from={tmp_path / 'run'}")
  e.dataset.tfds_name = "full_reviews_fixture"
  elmo = _dry_run(e, tmp_path / "elmo", tfds_dir)
  assert elmo.dataset.info["vocab_size"] == trainer.dataset.info["vocab_size"]


def test_lstm_sentiment_full_is_the_imdb_lstm(tmp_path, tfds_dir):
  c = lstm_sentiment.get_config("full")
  assert (c.dataset.name, c.dataset.tfds_name, c.dataset.max_len, c.model.hidden_dim) == (
      "tfds_text", "imdb_reviews", 400, 512)
  c.dataset.tfds_name = "full_reviews_fixture"
  _dry_run(c, tmp_path / "run", tfds_dir)


def test_bert_full_pretrains_bert_base_and_fine_tunes_it(tmp_path, tfds_dir):
  c = bert.get_config("mode=pretrain,full")
  assert (c.model.d_model, c.model.num_heads, c.model.num_layers, c.model.d_ff) == (768, 12, 12, 3072)
  assert (c.dataset.tfds_name, c.batch_size, c.num_train_steps) == ("wikipedia/20230601.en", 256, 1_000_000)
  c.dataset.tfds_name = "full_corpus_fixture"
  c.dataset.vocab_size = 200
  c.seed = 1
  pre = _dry_run(c, tmp_path / "pre", tfds_dir, batch=2, steps=1)
  assert _num_params(pre) > 80_000_000  # 12 layers of width 768 (the fixture's vocabulary is small)
  f = bert.get_config(f"mode=finetune,full,init_from={tmp_path / 'pre'}")
  assert (f.dataset.tfds_name, f.dataset.max_len, f.optimizer.learning_rate) == ("imdb_reviews", 512, 2e-5)
  f.dataset.tfds_name = "full_reviews_fixture"
  fine = _dry_run(f, tmp_path / "fine", tfds_dir, batch=2, steps=1)
  # The encoder is the pretraining run's (seed 1), not a fresh init (seed 0): the one step taken at the warmup's
  # learning rate 0 left it untouched.
  for a, b in zip(jax.tree.leaves(fine.state.params["bert"]), jax.tree.leaves(pre.state.params["bert"]), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_seq2seq_full_is_the_sutskever_lstm_on_wmt14(tmp_path, tfds_dir):
  c = seq2seq.get_config("full,bidirectional=false")
  assert (c.dataset.tfds_name, c.dataset.src_lang, c.dataset.tgt_lang) == ("wmt14_translate/fr-en", "en", "fr")
  assert (c.model.num_layers, c.model.hidden_dim, c.model.bidirectional, c.decode.beam_size) == (4, 1000, False, 12)
  c.dataset.tfds_name = "full_wmt_fixture"
  c.dataset.src_vocab_size = c.dataset.tgt_vocab_size = 200
  c.decode.num_sentences = 2
  c.decode.max_decode_len = 12
  _dry_run(c, tmp_path / "run", tfds_dir)


def test_captioning_full_is_show_attend_tell_on_coco(tmp_path, tfds_dir):
  c = captioning.get_config("full")
  assert (c.dataset.name, c.dataset.image_size, c.dataset.grid, c.model.features) == (
      "coco_captions", 224, 14, (64, 128, 256, 512))
  c.dataset.tfds_name = "full_coco_fixture"
  c.dataset.min_freq = 1
  c.decode.update(max_examples=3, batch_size=3)
  trainer = _dry_run(c, tmp_path / "run", tfds_dir, batch=2)
  assert len(trainer.dataset.split("train")) == 6 * 5  # one row per (image, reference)
  assert len(trainer.dataset.split("test")) == 3       # one row per image, every reference kept for BLEU
