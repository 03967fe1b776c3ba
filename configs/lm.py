r"""Language models on unlabeled English: an LSTM LM, ELMo's biLM (two independent LSTM LMs), the leaky biLM.

  python -m research.main --config=configs/lm.py:model=elmo --workdir=/tmp/lm_elmo
  python -m research.main --config=configs/lm.py:model=leaky --workdir=/tmp/lm_leaky

Arguments: model=lstm|elmo|leaky (registered 'lstm_lm', 'elmo_bilm', 'leaky_bilm'), data=rt|austen|kjv
('rotten_tomatoes_text': the training movies' snippets and plots, the corpus the sentiment experiments use;
'austen'; 'kjv_text'), steps, seed, width (embedding = LSTM width), layers, vocab (size), eval_limit (validation windows),
eval_every, runlocal.
What it trains: word-level LMs (vocabulary of the `vocab` most frequent training words, <unk> for the rest) on
windows of 32 tokens, Adam 2e-3, batch 32. Evaluation also scores every position with the predicted token
hidden (<unk>) in the input (`lm_hide_target`), the honest number for the leaky model.
Results (perplexities, the leakage table) and runtimes: experiments/language_models/README.md.
`:runlocal` is a seconds-long smoke run on a few hundred windows.

`:full` is the paper-scale setting, for a GPU or TPU (not run here; its first steps are tested): the corpus
ELMo's biLM was trained on (Peters et al., 2018), the One Billion Word benchmark (`tfds_corpus`, TFDS `lm1b`:
30.3 M training sentences, 0.8 B words, its own 306,688-sentence test split; internet once to prepare, then the
prepared copy is read; tokenizing it takes a while on one host: `--config.dataset.max_documents=N` reads fewer),
the 50,000 most frequent words, windows of 64 tokens, 2 LSTM layers of 1,024 units over 1,024-d embeddings
(ELMo's features need the two equal), dropout 0.1, batch 128, 100,000 steps (≈ 0.8 B tokens, one epoch), Adam 1e-3 with 2,000 warmup steps and cosine
decay. Perplexity over a 50 k vocabulary with <unk> is not comparable with lm1b's published figures (they use
the full 793 k vocabulary), so no expected figure is claimed. The run's vocab.json is what
configs/lstm_sentiment.py:model=elmo,full,init_from=DIR reads.

  python -m research.main --config=configs/lm.py:model=elmo,full --workdir=gs://BUCKET/elmo_lm1b
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError

MODELS = {"lstm": "lstm_lm", "elmo": "elmo_bilm", "leaky": "leaky_bilm"}
DATA = {"rt": "rotten_tomatoes_text", "austen": "austen", "kjv": "kjv_text"}


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, model="elmo", data="rt", steps=2000, seed=0, width=128, layers=2, vocab=8000,
                 eval_limit=512, eval_every=500, runlocal=False, full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is the lm1b setting, runlocal the "
                    "smoke test")
  config = base_config()
  config.name = f"lm_{arg.model}_{arg.data}"
  config.seed = arg.seed
  config.dataset.name = DATA[arg.data]
  config.dataset.tokenizer = "word"     # whole words; ELMo's features are looked up by the same vocabulary
  config.dataset.vocab_size = arg.vocab  # ids incl. the 4 specials
  config.dataset.min_freq = 2
  config.dataset.format = "windows"
  config.dataset.seq_len = 32           # tokens per training window
  config.dataset.eval_splits = ("validation",)
  config.dataset.eval_limit = arg.eval_limit  # windows per evaluation (the hidden-target pass costs seq_len passes)
  config.model_name = MODELS[arg.model]
  config.model = ConfigDict(dict(embed_dim=arg.width, hidden_dim=arg.width, num_layers=arg.layers,
                                 dropout_rate=0.1))
  config.task = "lm"
  config.lm_hide_target = True          # evaluation also reports {head}_hidden_loss
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 2e-3
  config.optimizer.grad_clip_norm = 1.0
  config.batch_size = 32
  config.eval_batch_size = 128
  config.num_train_steps = arg.steps
  config.log_every_steps = 100
  config.eval_every_steps = arg.eval_every
  config.checkpoint_every_steps = 1000
  config.model_summary = False
  if arg.full:
    _full(config)
  if arg.runlocal:
    config.dataset.train_limit = 256
    config.dataset.eval_limit = 64
    config.model.embed_dim = config.model.hidden_dim = 16
    config.num_train_steps = 4
    config.batch_size = 8
    config.eval_batch_size = 32
    config.log_every_steps = 2
    config.eval_every_steps = -1
    config.checkpoint_every_steps = 4
  return config


def _full(config: ConfigDict) -> None:
  """The paper-scale setting (module docstring, `full`): lm1b, 2 × 1,024-unit LSTMs, one epoch."""
  config.name = config.name.rsplit("_", 1)[0] + "_lm1b_full"
  config.dataset.name = "tfds_corpus"
  config.dataset.tfds_name = "lm1b"     # one sentence per example; train / test splits of its own
  config.dataset.text_key = "text"
  config.dataset.download = True
  config.dataset.validation_percent = 1  # lm1b has no validation split: 1% of the training sentences by hash
  config.dataset.vocab_size = 50_000
  config.dataset.min_freq = 3
  config.dataset.seq_len = 64
  config.dataset.eval_limit = 2048      # validation windows per evaluation (the hidden-target pass is 64× that)
  config.model.update(embed_dim=1024, hidden_dim=1024, num_layers=2, dropout_rate=0.1)
  config.optimizer.update(learning_rate=1e-3, schedule="warmup_cosine", warmup_steps=2000, grad_clip_norm=1.0)
  config.batch_size = 128
  config.eval_batch_size = 256
  config.num_train_steps = 100_000
  config.log_every_steps = 200
  config.eval_every_steps = 10_000
  config.checkpoint_every_steps = 5_000
