r"""Seq2seq translation (notes §3–4): an LSTM reads a Chinese verse into a "meaning vector", a second LSTM
writes the English verse; greedy and beam-search (k = 3) decoding, BLEU on the test split.

  python -m research.main --config=configs/seq2seq.py --workdir=/tmp/seq2seq
  python -m research.main --config=configs/seq2seq.py:data=reverse --workdir=/tmp/seq2seq_reverse

Data: Chinese Union Version (1919) ↔ King James Bible verse pairs (31,101 pairs; 27,943 / 1,586 / 1,572
train / validation / test by a hash of the verse id; research/data/translation.py). Chinese is split into
characters (2,824 distinct in train with min_freq 2), English into lowercased words and punctuation
(vocabulary capped at 8,000 ids). Preparing the corpus reads the KJV SWORD module once (~80 s on 2 busy
CPU cores, then cached under data_dir). Verses longer than 64 tokens on either side are left out of
training (too_long='drop'); evaluation verses are truncated, never dropped.
`data=copy|reverse|sort|addition` swaps in a synthetic task (research/data/synthetic.py) instead.

Model: embeddings 256, bidirectional 2-layer LSTM encoder (hidden 512), 2-layer LSTM decoder started from
the encoder's final states, dropout 0.2; masked cross-entropy with label smoothing 0.1 on real tokens.
Padding: each batch is padded to its longest sentence, rounded up to a multiple of 8 (few jit shapes).

Runtime and expected BLEU: not measured yet — this is a draft; the trainer/task for seq2seq is not in the
tree yet (task name 'seq2seq' below is the intended one). Fill in from a recorded run.

`:runlocal` is a tiny variant for tests (512 training and 64 evaluation verses, a small model, a few steps).
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg

SYNTHETIC = ("copy", "reverse", "sort", "addition")


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, data="bible", bidirectional=True)
  config = base_config()
  config.name = f"seq2seq_{arg.data}"
  config.task = "seq2seq"            # teacher-forced masked cross-entropy; BLEU after decoding at the end

  if arg.data == "bible":
    config.dataset.name = "bible_zh_en"
    config.dataset.src_lang = "zh"
    config.dataset.tgt_lang = "en"
    config.dataset.src_tokenizer = "char"   # Chinese has no spaces: characters are the tokens
    config.dataset.tgt_tokenizer = "word"   # lowercased words + punctuation; "subword" = BPE via `tokenizers`
    config.dataset.min_freq = 2             # rarer tokens in train → <unk>
    config.dataset.src_vocab_size = 8000    # caps incl. the 4 specials (zh: 2,824 chars pass min_freq)
    config.dataset.tgt_vocab_size = 8000
    config.dataset.validation_percent = 5   # hash split of verse ids
    config.dataset.test_percent = 5
    config.dataset.max_len = 64             # tokens per side, bos/eos excluded
    config.dataset.too_long = "drop"        # drop longer training pairs, truncate evaluation ones
  elif arg.data in SYNTHETIC:
    config.dataset.name = "synthetic_seq"
    config.dataset.task = arg.data
    config.dataset.vocab_size = 10          # symbols (addition: digits and '+')
    config.dataset.min_len = 1
    config.dataset.max_len = 10
    config.dataset.num_train = 20000
    config.dataset.num_validation = 500
    config.dataset.num_test = 1000
  else:
    raise ValueError(f"data={arg.data!r}: use 'bible' or one of {SYNTHETIC}")
  config.dataset.pad_multiple = 8           # pad the longest sentence up to a multiple of 8 (jit shapes)
  config.dataset.eval_splits = ("validation", "test")

  config.model_name = "lstm_seq2seq"        # src/tgt vocab sizes and pad_id come from the dataset info
  config.model = ConfigDict(dict(
      embed_dim=256,                 # token embedding size (both sides)
      hidden_dim=512,                # LSTM state size H; the meaning vector is the top layer's h[B, H]
      num_layers=2,                  # encoder and decoder layers
      bidirectional=arg.bidirectional,  # encoder reads both ways; final states bridged back to H
      dropout_rate=0.2,              # on embeddings, between layers and before the output layer
  ))
  config.label_smoothing = 0.1       # ε of the smoothed target (0 = plain cross-entropy)

  config.decode = ConfigDict(dict(
      beam_size=3,                   # the notes' k = 3 (1 = greedy)
      length_penalty=0.6,            # α of ((5 + len) / 6) ** α; 0 = raw summed log-probabilities
      max_decode_len=80,             # output tokens before giving up on <eos>
      bleu_tokenize="13a",           # sacrebleu-compatible tokenization of hypotheses and references
  ))

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-3
  config.optimizer.grad_clip_norm = 1.0  # LSTMs: clip exploding gradients
  config.batch_size = 64
  config.eval_batch_size = 128
  config.num_epochs = 10.0
  config.log_every_steps = 100
  config.eval_every_steps = 2000
  config.checkpoint_every_steps = 2000

  if arg.runlocal:
    if arg.data == "bible":
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
    config.num_epochs = 1.0
    config.log_every_steps = 4
    config.eval_every_steps = 8
    config.checkpoint_every_steps = 8
  return config
