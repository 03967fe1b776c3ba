r"""Seq2seq translation (notes §3–4): an LSTM reads a Chinese verse into a "meaning vector", a second LSTM
writes the English verse; greedy and beam-search (k = 3) decoding, BLEU on the test split.

  python -m research.main --config=configs/seq2seq.py --workdir=/tmp/seq2seq_bible
  python -m research.main --config=configs/seq2seq.py:task=reverse --workdir=/tmp/seq2seq_reverse
  python -m research.main --config=configs/seq2seq.py:task=reverse,runlocal --workdir=/tmp/s2s_local

Data (task=bible, the default): Chinese Union Version (1919) ↔ King James Bible verse pairs (31,101 pairs;
27,943 / 1,586 / 1,572 train / validation / test by a hash of the verse id; research/data/translation.py).
Chinese is split into characters (2,824 distinct in train with min_freq 2), English into lowercased words and
punctuation (the 4,000 most frequent ids; the rest are <unk>). Preparing the corpus reads the KJV SWORD module
once (~80 s on 2 busy CPU cores, then cached under data_dir). Training pairs longer than 39 tokens on
either side are left out (too_long='drop': 18,495 of 27,943 remain, the shorter two thirds: short
sentences are what a ~1-epoch CPU budget can learn); evaluation pairs are truncated, never dropped
(experiments/seq2seq/bible.py and experiments/attention/bible.py decode untruncated sources instead).
`task=copy|reverse|sort|addition` swaps in a synthetic task (research/data/synthetic.py) instead.

Model: an LSTM encoder–decoder sized for a 2-core CPU budget: embeddings 128, bidirectional 1-layer
encoder and 1-layer decoder with hidden 256 (3.35 M parameters, 22.5 GFLOP per step), no dropout (the
budget underfits); masked cross-entropy with label smoothing 0.1 on real target tokens (config.task='seq2seq',
research/tasks/seq2seq.py); 360 steps of 64 verses (≈ 1.2 epochs), Adam 3e-3 with 60 warmup steps and
cosine decay. Padding: each batch is padded to its longest sentence, rounded up to a multiple of 8 (few jit
shapes). Evaluation decodes the whole test split with greedy search and beam search (k = 3, α = 0.6) and
reports corpus BLEU (research/evaluation/bleu.py).

Measured (`python -m experiments.attention.bible`, whose `lstm` run is this config with evaluation
restricted to the test split; 2 CPU cores shared with other jobs, load average 8–10): training 10.2 min
wall, 970 target tokens/s; test (greedy, all 1,572 verses, untruncated sources) BLEU 1.44; teacher-forced
test NLL 4.33 per token. Still an under-trained model at this budget (it has learned the KJV's frequent
words and rhythm more than the source): see experiments/seq2seq/README.md and experiments/attention/README.md.
`:task=reverse` (10 symbols, lengths 1–10, 10 epochs = 782 steps of 128; measured with the second command
above on the same loaded machine): 5.1 min wall (3.6 min training); test sequence accuracy 0.976 (teacher
forced), BLEU 98.3 greedy and 98.9 beam k=3. copy/sort/addition: not measured.

`:runlocal` is a tiny variant for tests (512 training and 64 evaluation pairs, a tiny model, a few steps).

`:full` is the setting of Sutskever et al. (2014), for a GPU or TPU (not run here; its first steps are tested):
WMT'14 English→French (`tfds_translation`, `wmt14_translate/fr-en`, newstest2013 as validation, newstest2014
as test; internet once to prepare), the first 12 M training pairs (the paper's subset size; not its selection),
32,000-piece BPE vocabularies per side, pairs of ≤ 80 tokens, 4 LSTM layers of 1,000 units over 1,000-d
embeddings, a unidirectional encoder (`bidirectional=` still applies), batch 128, 700,000 steps (≈ 7.5 epochs),
Adam 1e-3 with 4,000 warmup steps and cosine decay, clip 5, beam 12 without length penalty. The paper reports
BLEU 30.59 on newstest2014 for one such LSTM reading the source reversed, with 160 k / 80 k word vocabularies
and SGD (34.81 for an ensemble of five); this setting reads the source in order and uses BPE and sacreBLEU, so
that figure is a reference point, not a promise.

  python -m research.main --config=configs/seq2seq.py:full,bidirectional=false --workdir=gs://BUCKET/s2s_wmt14
"""

from __future__ import annotations

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.decoding.decoder import decode_config
from research.errors import UserError

SYNTHETIC = ("copy", "reverse", "sort", "addition")


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, task="bible", bidirectional=True, full=False)
  if arg.full and (arg.runlocal or arg.task != "bible"):
    raise UserError("config argument full replaces the data with WMT'14 en→fr: use it without task= and runlocal")
  config = base_config()
  config.name = f"seq2seq_{arg.task}"
  config.task = "seq2seq"            # teacher-forced masked cross-entropy; decoding + BLEU at evaluation

  if arg.task == "bible":
    config.dataset.name = "bible_zh_en"
    config.dataset.src_lang = "zh"
    config.dataset.tgt_lang = "en"
    config.dataset.src_tokenizer = "char"   # Chinese has no spaces: characters are the tokens
    config.dataset.tgt_tokenizer = "word"   # lowercased words + punctuation; "subword" = BPE via `tokenizers`
    config.dataset.min_freq = 2             # rarer tokens in train → <unk>
    config.dataset.src_vocab_size = 3000    # caps incl. the 4 specials (zh: 2,824 chars pass min_freq)
    config.dataset.tgt_vocab_size = 4000    # ~half the step's cost on a CPU is this output softmax
    config.dataset.validation_percent = 5   # hash split of verse ids (percent of verses)
    config.dataset.test_percent = 5         # hash split of verse ids (percent of verses)
    config.dataset.max_len = 39             # tokens per side, bos/eos excluded (39 + eos pads to 40); 68% of train
    config.dataset.too_long = "drop"        # drop longer training pairs, truncate evaluation ones
    config.dataset.train_limit = 0          # > 0: keep only the first N training pairs (quick runs)
    config.dataset.eval_limit = 0           # > 0: keep only the first N pairs of every other split
    config.dataset.pad_multiple = 8         # pad the longest sentence up to a multiple of 8 (jit shapes)
    config.dataset.eval_splits = ("validation", "test")
  elif arg.task in SYNTHETIC:
    config.dataset.name = "synthetic_seq"
    config.dataset.task = arg.task          # what the target is: copy | reverse | sort | addition of the source
    config.dataset.vocab_size = 10          # symbols (addition: always digits and '+')
    config.dataset.min_len = 1              # shortest source (addition: digits per operand)
    config.dataset.max_len = 10             # longest source (addition: digits per operand)
    config.dataset.num_train = 10000        # generated training pairs
    config.dataset.num_validation = 500     # generated validation pairs
    config.dataset.num_test = 1000          # generated test pairs
    config.dataset.seed = 0                 # data seed (independent of config.seed)
    config.dataset.pad_multiple = 1         # lengths ≤ 21: every padded length is its own jit shape
    config.dataset.eval_splits = ("validation", "test")
  else:
    raise UserError(f"config argument task={arg.task!r}: use 'bible' or one of {', '.join(SYNTHETIC)}")

  config.model_name = "lstm_seq2seq"        # src/tgt vocab sizes and pad_id come from the dataset info
  config.model = ConfigDict(dict(
      embed_dim=128,                 # token embedding size (both sides)
      hidden_dim=256,                # LSTM state size H; the meaning vector is the top layer's h[B, H]
      num_layers=1,                  # encoder and decoder layers
      bidirectional=arg.bidirectional,  # encoder reads both ways; final states bridged back to H
      dropout_rate=0.0,              # on embeddings, between layers and before the output layer; 0: a
                                     # ~1-epoch budget underfits, there is no overfitting to prevent
  ))
  config.label_smoothing = 0.1       # ε of the smoothed target (0 = plain cross-entropy)

  # The search fields (sampling, n-best, n-gram blocking, length-penalty type) and their defaults are
  # research/decoding/decoder.py's decode_config(); e.g. --config.decode.method=sample --config.decode.top_p=0.9.
  config.decode = decode_config(
      methods=("greedy", "beam"),    # searches run at evaluation: greedy, beam and/or sample
      beam_size=3,                   # the notes' k = 3 (1 = greedy)
      length_penalty=0.6,            # α of ((5 + len) / 6) ** α; 0 = raw summed log-probabilities
      max_decode_len=80,             # output tokens (eos included) before giving up on <eos>
      num_sentences=-1,              # decode the first N sentences of each split (-1 = all, 0 = none)
      splits=("test",),              # which eval splits are decoded and BLEU-scored
      bleu_tokenize="13a",           # sacrebleu-compatible tokenization of hypotheses and references
  )

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 3e-3  # small LSTM, short budget: a high constant rate, then cosine decay
  config.optimizer.schedule = "warmup_cosine"
  config.optimizer.warmup_steps = 100    # linear warmup steps before the cosine decay
  config.optimizer.grad_clip_norm = 1.0  # LSTMs: clip exploding gradients
  config.batch_size = 64
  config.eval_batch_size = 256
  config.num_train_steps = 360       # ≈ 1.2 epochs of the 18.9k short verses: ~15 min on 2 busy CPU cores
  config.num_epochs = -1.0           # (synthetic tasks train by epochs instead)
  config.log_every_steps = 50
  config.eval_every_steps = -1       # decoding is the slow part of evaluation: evaluate at the end only
  config.checkpoint_every_steps = 100

  if arg.task == "bible":
    config.optimizer.warmup_steps = 60   # a sixth of the short budget

  if arg.task in SYNTHETIC:
    config.model.embed_dim = 32
    config.model.hidden_dim = 128
    config.model.dropout_rate = 0.0
    config.label_smoothing = 0.0
    config.decode.max_decode_len = 24     # longest synthetic target is 11 (+ eos)
    config.decode.length_penalty = 0.0
    config.batch_size = 128
    config.num_train_steps = -1
    config.num_epochs = 10.0              # ≈ 780 steps

  if arg.full:
    _full(config)
  if arg.runlocal:
    if arg.task == "bible":
      config.dataset.train_limit = 512
      config.dataset.eval_limit = 64
    else:
      config.dataset.num_train = 512
      config.dataset.num_validation = 64
      config.dataset.num_test = 64
    config.model.embed_dim = 16
    config.model.hidden_dim = 32
    config.decode.max_decode_len = 20
    config.batch_size = 32
    config.eval_batch_size = 64
    config.num_train_steps = -1
    config.num_epochs = 1.0
    config.optimizer.warmup_steps = 2
    config.log_every_steps = 4
    config.eval_every_steps = 8
    config.checkpoint_every_steps = 8
  return config


def _full(config: ConfigDict) -> None:
  """The paper-scale setting (module docstring, `full`): Sutskever et al. (2014)'s 4 × 1,000 LSTM on WMT'14 en→fr."""
  config.name = "seq2seq_wmt14_enfr_full"
  config.dataset.update(dict(
      name="tfds_translation", tfds_name="wmt14_translate/fr-en", src_lang="en", tgt_lang="fr",
      src_tokenizer="subword", tgt_tokenizer="subword", src_vocab_size=32_000, tgt_vocab_size=32_000,
      lowercase=False, min_freq=2, max_len=80, too_long="drop", download=True,
      train_limit=12_000_000, eval_limit=0))
  config.model.update(embed_dim=1000, hidden_dim=1000, num_layers=4, dropout_rate=0.2)
  config.label_smoothing = 0.0
  config.optimizer.update(learning_rate=1e-3, warmup_steps=4000, grad_clip_norm=5.0)
  config.batch_size = 128
  config.eval_batch_size = 256
  config.num_train_steps = 700_000
  config.log_every_steps = 200
  config.eval_every_steps = 50_000
  config.checkpoint_every_steps = 10_000
  config.decode.update(beam_size=12, length_penalty=0.0, max_decode_len=160, num_sentences=-1)
