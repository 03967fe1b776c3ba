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
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg

MODELS = {"lstm": "lstm_lm", "elmo": "elmo_bilm", "leaky": "leaky_bilm"}
DATA = {"rt": "rotten_tomatoes_text", "austen": "austen", "kjv": "kjv_text"}


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, model="elmo", data="rt", steps=2000, seed=0, width=128, layers=2, vocab=8000,
                 eval_limit=512, eval_every=500, runlocal=False)
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
