r"""Attention (notes §5.2–5.3): the same translation / reversal tasks as configs/seq2seq.py, trained with
a plain LSTM encoder–decoder, a Luong-attention LSTM decoder (dot or general scores) or a small
Transformer written from explicit Wq, Wk, Wv projections.

  python -m research.main --config=configs/attention.py:model=transformer --workdir=/tmp/att_tf_bible
  python -m research.main --config=configs/attention.py:model=luong_general,task=reverse,length=50 --workdir=/tmp/a
  python -m research.main --config=configs/attention.py:model=transformer,task=reverse,scale=false --workdir=/tmp/b
  python -m research.main --config=configs/attention.py:model=lstm,task=reverse,runlocal --workdir=/tmp/c

Arguments:
  model   lstm (research/models/seq2seq.py, 'lstm_seq2seq': no attention, the "meaning vector" bottleneck)
          | luong_dot | luong_general (research/models/attention.py, 'luong_seq2seq': score h_t·h̄_s or
          h_t·W h̄_s, softmax over the source, input feeding)
          | transformer (research/models/transformer.py, 'transformer': 2+2 pre-LN layers, d_model 128,
          2 heads so d_k = 64 and the scale is the notes' 1/8).
  task    bible (zh→en verses, 'bible_zh_en', the dataset fields of configs/seq2seq.py) | reverse (synthetic
          reversal, 'synthetic_seq').
  scale   True | False: the Transformer's 1/sqrt(d_k) on q·k (False = the ablation; other models ignore it).
  length  reverse only: sources have length//2 … length tokens (default 10).
  runlocal  tiny data, tiny model, a few steps (tests).
  full    the paper-scale setting, for a GPU or TPU (not run here; its first steps are tested): WMT'14
          English→German (`tfds_translation`, `wmt14_translate/de-en`: 4.5 M sentence pairs, newstest2013 as
          validation, newstest2014 as test; internet once to prepare), BPE subword vocabularies of 32,000 per
          side, batches of 256 sentence pairs of ≤ 100 tokens, 100,000 steps, label smoothing 0.1, beam 4 with
          α = 0.6 at the end. With model=transformer it is the Transformer "base" of Vaswani et al. (2017):
          d_model 512, 8 heads, 6 + 6 post-LN layers, d_ff 2048, dropout 0.1, Adam(0.9, 0.98, 1e-9) with the
          paper's warmup_rsqrt schedule (4,000 warmup steps, peak (512 · 4000)^-0.5); the paper reports BLEU
          27.3 on newstest2014 after 100,000 steps of ~25,000 tokens on 8 P100 GPUs (12 h). The LSTM and Luong
          models get 4-layer 1,000-unit LSTMs, dropout 0.2, Adam 1e-3 warmup + cosine (the sizes of Luong et al.,
          2015, trained here with Adam); no expected figure is claimed for them at this budget.

          python -m research.main --config=configs/attention.py:model=transformer,full --workdir=gs://BUCKET/tf_base

All models share the optimizer (Adam, warmup + cosine, clip 1.0; the peak rate is per model), batch size
and step budget of a task, so a table compares models at the same training budget, not at convergence.

Measured: experiments/attention/README.md. Every figure there is written by the script named above its
table (experiments/attention/): reversal at lengths 10/25/50/100 with each model's learning rate chosen on
the validation split and the same step budget for every model (means ± std over seeds), the 1/sqrt(d_k)
ablation over 3 seeds, zh→en BLEU at a small budget, attention heatmaps, and the speed benchmark of
experiments/benchmarks/transformer.py; all on 2 CPU cores shared with other jobs.
"""

from __future__ import annotations

from ml_collections import ConfigDict

from configs import seq2seq
from research.config import parse_arg
from research.errors import UserError

MODELS = ("lstm", "luong_dot", "luong_general", "transformer")
TASKS = ("bible", "reverse")


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, model="transformer", task="bible", scale=True, length=10, runlocal=False, full=False)
  if arg.model not in MODELS:
    raise UserError(f"config argument model={arg.model!r}: use one of {', '.join(MODELS)}")
  if arg.task not in TASKS:
    raise UserError(f"config argument task={arg.task!r}: use one of {', '.join(TASKS)}")
  if arg.length < 2:
    raise UserError(f"config argument length={arg.length} must be >= 2 (sources have length//2 … length tokens)")
  # The dataset, decode, optimizer and loop fields are configs/seq2seq.py's, so the two configs'
  # numbers are comparable; only the model (and the reversal lengths) change here.
  config = seq2seq.get_config(f"task={arg.task}" + (",runlocal" if arg.runlocal else ""))
  config.name = f"attention_{arg.model}_{arg.task}" + (f"{arg.length}" if arg.task == "reverse" else "") + \
      ("" if arg.scale else "_noscale")

  if arg.task == "reverse":
    config.dataset.min_len = max(1, arg.length // 2)  # shortest source: a range of lengths exercises the pad masks
    config.dataset.max_len = arg.length               # longest source (and target: a reversal keeps the length)
    config.dataset.pad_multiple = 1 if arg.length <= 20 else 8  # few jit shapes for long sequences
    config.decode.max_decode_len = arg.length + 2     # target + eos, one spare step
    config.decode.methods = ("greedy",)               # reversal has one right answer: greedy exact match
    if not arg.runlocal:
      config.num_epochs = -1.0                        # train by steps: the same budget at every length
      config.num_train_steps = 300                    # ≈ 2 epochs of 10,000 pairs at batch 64 (2 busy cores)
      config.batch_size = 64
      config.dataset.num_train = 10000                # generated training pairs
      config.dataset.num_test = 500                   # exact-match sequence accuracy is read off these

  hidden = config.model.hidden_dim                    # LSTM width of the task (seq2seq config's choice)
  embed = config.model.embed_dim
  dropout = config.model.dropout_rate
  if arg.model == "lstm":
    pass                                              # configs/seq2seq.py's model, unchanged
  elif arg.model.startswith("luong"):
    config.model_name = "luong_seq2seq"
    config.model = ConfigDict(dict(
        embed_dim=embed,                 # token embedding size (both sides), as the plain LSTM
        hidden_dim=hidden,               # LSTM state size H, as the plain LSTM
        num_layers=1,                    # encoder and decoder LSTM layers
        bidirectional=True,              # encoder reads both ways; projected back to H for the scores
        score=arg.model.split("_", 1)[1],  # dot: h_t·h̄_s | general: h_t·W_a h̄_s
        normalization="softmax",         # softmax over source positions (alternative: the notes' 'sum')
        input_feeding=True,              # h̃_{t-1} is fed into the next decoder step (Luong §3.3)
        dropout_rate=dropout,            # embeddings and h̃ before the output layer
    ))
  else:
    config.model_name = "transformer"
    config.model = ConfigDict(dict(
        d_model=128,                     # residual width; small enough for 2 CPU cores
        num_heads=2,                     # d_k = 128 / 2 = 64, so the scale is the notes' 1/sqrt(64) = 1/8
        num_encoder_layers=2,            # encoder blocks
        num_decoder_layers=2,            # decoder blocks (self, cross, feed-forward)
        d_ff=256,                        # feed-forward hidden width (2 × d_model: a CPU budget)
        dropout_rate=dropout,            # on sublayer outputs and embeddings (as the LSTMs' rate)
        pre_norm=True,                   # pre-LN: trains at a constant rate without a long warmup
        scale_attention=arg.scale,       # False: the no-1/sqrt(d_k) ablation
        positions="sinusoidal",          # fixed sin/cos position codes (no length limit learned)
        max_positions=256,               # longest source / target / decode length the tables cover
        share_embeddings="target",       # target input embedding = output layer (the vocabularies differ)
    ))
    config.optimizer.learning_rate = 1e-3  # a usual Adam rate for small Transformers (reversal.py picks
                                           # every model's rate on validation for its own budget)

  if arg.full:
    if arg.task != "bible" or arg.runlocal:
      raise UserError("config argument full replaces the data with WMT'14 en→de: use it without task= and runlocal")
    _full(config, arg.model)

  if arg.runlocal:
    config.num_epochs = -1.0           # a fixed handful of steps, whatever the data size
    config.num_train_steps = 4
    if arg.model == "transformer":
      config.model.d_model = 16
      config.model.num_heads = 2
      config.model.d_ff = 32
      config.model.num_encoder_layers = 1
      config.model.num_decoder_layers = 1
    elif arg.model.startswith("luong"):
      config.model.embed_dim = 16
      config.model.hidden_dim = 32
  return config


def _full(config: ConfigDict, model: str) -> None:
  """The paper-scale setting (module docstring, `full`): WMT'14 en→de at Transformer-base size and budget."""
  config.name = config.name.replace("_bible", "_wmt14_full")
  config.dataset.update(dict(
      name="tfds_translation",
      tfds_name="wmt14_translate/de-en",    # official TFDS: train 4.5 M pairs, validation newstest2013, test 2014
      src_lang="en", tgt_lang="de",
      src_tokenizer="subword", tgt_tokenizer="subword",
      src_vocab_size=32_000, tgt_vocab_size=32_000,
      lowercase=False,                      # cased BLEU, as the paper
      min_freq=2,
      max_len=100,                          # tokens per side; longer training pairs are dropped
      too_long="drop",
      download=True,
      pad_multiple=8,
      train_limit=0, eval_limit=0,          # every pair (the bible settings' limits do not apply)
  ))
  config.batch_size = 256                   # sentence pairs (≈ 25k tokens at WMT's mean length, as the paper)
  config.eval_batch_size = 256
  config.num_epochs = -1.0
  config.num_train_steps = 100_000
  config.label_smoothing = 0.1
  config.eval_every_steps = 10_000
  config.checkpoint_every_steps = 5_000
  config.log_every_steps = 100
  config.decode.methods = ("beam",)
  config.decode.beam_size = 4
  config.decode.length_penalty = 0.6
  config.decode.max_decode_len = 150
  config.decode.num_sentences = -1          # all of newstest2014
  if model == "transformer":
    config.model.update(d_model=512, num_heads=8, num_encoder_layers=6, num_decoder_layers=6, d_ff=2048,
                        dropout_rate=0.1, pre_norm=False, max_positions=256)
    config.optimizer.update(name="adam", b1=0.9, b2=0.98, eps=1e-9, schedule="warmup_rsqrt", warmup_steps=4000,
                            learning_rate=(512 * 4000) ** -0.5, grad_clip_norm=0.0)
  else:
    config.model.update(embed_dim=1000, hidden_dim=1000, num_layers=4, dropout_rate=0.2)
    config.optimizer.update(name="adam", learning_rate=1e-3, schedule="warmup_cosine", warmup_steps=4000,
                            grad_clip_norm=5.0)

