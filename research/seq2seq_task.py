"""The 'seq2seq' task: teacher-forced training of any encoder–decoder, decoding and BLEU at evaluation.

Batches come from research/data/translation.py's `PadCollate` (translation and synthetic data alike):
  src int32[B, S], tgt_in int32[B, T] (<bos> y_1 … y_n), tgt_out int32[B, T] (y_1 … y_n <eos>),
  tgt_mask float32[B, T] (1 on the n + 1 real target positions), mask float32[B] (1 = real example;
  0 on the rows that pad the last evaluation batch).
A token counts in the loss and metrics iff tgt_mask · mask = 1, so neither sentence padding nor batch
padding biases an average (research/losses.py returns (sum, count) pairs).

Model protocol (what a model must offer to be trained and decoded here):
  * training: `model.apply(variables, src, tgt_in, train=bool, rngs=...)` → logits float[B, T, V];
  * decoding, either
      - a function `decode_fns(model, variables, src, max_len) -> (step_fn, cache)` in the module that
        defines the model class (research/models/seq2seq.py has one), or
      - the methods `init_cache(src, max_len) -> cache` and `decode_step(tokens, cache) -> (logits, cache)`
        (research/models/transformer.py, research/models/attention.py),
    where `step_fn(tokens: int32[B], cache) -> (log_probs: float32[B, V], cache)` is the one decoding
    contract of research/decoding.py. `decode_fns_for(model)` picks whichever the model has.

Evaluation (`evaluate_extra`, called by research.train.Trainer after the teacher-forced metrics):
decodes the first `config.decode.num_sentences` sentences of each split in `config.decode.splits` with
every method of `config.decode.methods` ('greedy'; 'beam' with beam_size / length_penalty), detokenizes
with the target vocabulary and scores corpus BLEU (research/bleu.py, sacrebleu-equal) against the
untokenized reference text. Reported per method: `bleu_<method>` (0..100) and
`decode_ms_per_sentence_<method>` (wall time of the compiled search, compilation excluded). The
hypotheses of the latest evaluation are written to WORKDIR/decodes/<split>.<method>.txt.

Decoding is jitted once per (method, beam size, length penalty, max length, batch shape): every batch of
a split is padded to the split's longest source (a multiple of 8) and to one batch size, so a split costs
one compilation per method however many evaluations a run makes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from research import bleu, decoding, losses, registry
from research.errors import UserError
from research.metrics import metric
from research.tasks import apply_model
from research.tokenizer import Vocab

Batch = dict[str, jax.Array]
StepFn = Callable[[jax.Array, Any], tuple[jax.Array, Any]]
DecodeFns = Callable[[nn.Module, Any, jax.Array, int], tuple[StepFn, Any]]

METHODS = ("greedy", "beam")
_SRC_MULTIPLE = 8  # decode batches pad the source to a multiple of this (one compiled program per split)


# ----------------------------------------------------------------------------------------------------
# The decoding protocol.


def _method_decode_fns(model: nn.Module, variables: Any, src: jax.Array, max_len: int) -> tuple[StepFn, Any]:
  """(step_fn, cache) from a model's `init_cache` / `decode_step` methods."""
  cache = model.apply(variables, src, max_len, method="init_cache")

  def step_fn(tokens: jax.Array, cache: Any) -> tuple[jax.Array, Any]:
    logits, cache = model.apply(variables, tokens.astype(jnp.int32), cache, method="decode_step")
    return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), cache
  return step_fn, cache


def decode_fns_for(model: nn.Module) -> DecodeFns:
  """The model's `decode_fns(model, variables, src, max_len) -> (step_fn, cache)` (see module docstring).

  Raises:
    UserError: the model offers neither a module-level `decode_fns` nor `init_cache`/`decode_step`.
  """
  cls = model if isinstance(model, type) else type(model)
  module_fn = getattr(sys.modules.get(cls.__module__), "decode_fns", None)
  if callable(module_fn):
    return module_fn
  if callable(getattr(cls, "init_cache", None)) and callable(getattr(cls, "decode_step", None)):
    return _method_decode_fns
  raise UserError(f"model {cls.__name__} cannot be decoded: give its module a decode_fns(model, variables, src, "
                  "max_len) function or the class init_cache/decode_step methods (see research/seq2seq_task.py)")


@dataclasses.dataclass(frozen=True)
class DecodeSettings:
  """One search configuration. method: 'greedy' | 'beam' | 'exhaustive'; beam_size K (greedy: 1);
  length_penalty α of ((5 + len) / 6) ** α (greedy ignores it); max_len: most generated tokens, eos included."""

  method: str = "greedy"
  beam_size: int = 1
  length_penalty: float = 0.0
  max_len: int = 64


class Decoder:
  """Compiled searches over one model: `decode(variables, src) -> (sequences, scores)`.

  Keeps one compiled program per (settings, src shape, variables' shapes and shardings), compiled ahead
  of time so `seconds` (the time spent running searches) never includes compilation.
  """

  def __init__(self, model: nn.Module, *, bos_id: int, eos_id: int, pad_id: int):
    self.model, self.bos_id, self.eos_id, self.pad_id = model, bos_id, eos_id, pad_id
    self.decode_fns = decode_fns_for(model)
    self._compiled: dict[Any, Any] = {}
    self.seconds = 0.0

  def _search(self, settings: DecodeSettings, variables: Any, src: jax.Array) -> tuple[jax.Array, jax.Array]:
    step_fn, cache = self.decode_fns(self.model, variables, src, settings.max_len)
    kw = dict(batch_size=src.shape[0], max_len=settings.max_len, bos_id=self.bos_id, eos_id=self.eos_id,
              pad_id=self.pad_id)
    if settings.method == "greedy":
      seqs, scores = decoding.greedy_search(step_fn, cache, **kw)
      return seqs[:, None, :], scores[:, None]
    search = {"beam": decoding.beam_search, "exhaustive": decoding.exhaustive_search}[settings.method]
    return search(step_fn, cache, beam_size=settings.beam_size, length_penalty=settings.length_penalty, **kw)

  def compiled(self, settings: DecodeSettings, variables: Any, src: np.ndarray) -> Any:
    leaves = tuple((x.shape, x.dtype, getattr(x, "sharding", None)) for x in jax.tree.leaves(variables))
    key = (settings, src.shape, jax.tree.structure(variables), leaves)
    if key not in self._compiled:
      fn = jax.jit(functools.partial(self._search, settings))
      self._compiled[key] = fn.lower(variables, jnp.asarray(src, jnp.int32)).compile()
    return self._compiled[key]

  def decode(self, variables: Any, src: np.ndarray, settings: DecodeSettings) -> tuple[np.ndarray, np.ndarray]:
    """src int32[B, S] (pad_id-padded) → (sequences int32[B, K, max_len] best first, scores float32[B, K]).

    Sequences exclude <bos>, include the first <eos> and hold pad_id after it (research/decoding.py).
    """
    run = self.compiled(settings, variables, src)
    start = time.perf_counter()
    seqs, scores = jax.device_get(run(variables, jnp.asarray(src, jnp.int32)))
    self.seconds += time.perf_counter() - start
    return np.asarray(seqs), np.asarray(scores)

  def translate(self, variables: Any, sources: Sequence[np.ndarray], settings: DecodeSettings, *,
                batch_size: int) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Decodes ragged source id sequences (no bos/eos) in fixed-shape batches.

    Sentences are decoded in order of source length (similar lengths finish together, so the search's
    early exit fires sooner) and returned in the input order.

    Returns:
      (best hypothesis per sentence as int32[n_i] ids without <eos>/pads, its score float32[N],
       wall seconds of the searches, compilation excluded).
    """
    n = len(sources)
    if n == 0:
      return [], np.zeros((0,), np.float32), 0.0
    lengths = np.array([len(s) for s in sources])
    width = max(_SRC_MULTIPLE, -(-int(lengths.max()) // _SRC_MULTIPLE) * _SRC_MULTIPLE)
    rows = min(batch_size, -(-n // _SRC_MULTIPLE) * _SRC_MULTIPLE)
    order = np.argsort(lengths, kind="stable")
    hyps: list[np.ndarray] = [np.zeros((0,), np.int32)] * n
    scores = np.zeros((n,), np.float32)
    before = self.seconds
    for start in range(0, n, rows):
      idx = order[start:start + rows]
      src = np.full((rows, width), self.pad_id, np.int32)
      src[:, 0] = self.eos_id  # spare rows get a 1-token source so no encoder sees an all-pad row
      for r, i in enumerate(idx):
        src[r, :] = self.pad_id
        src[r, :len(sources[i])] = sources[i]
      seqs, best = self.decode(variables, src, settings)
      for r, i in enumerate(idx):
        hyps[i] = np.asarray(bleu.strip_special(seqs[r, 0], eos_id=self.eos_id, drop_ids=(self.pad_id,)), np.int32)
        scores[i] = best[r, 0]
    return hyps, scores, self.seconds - before


# ----------------------------------------------------------------------------------------------------
# Configuration checks.


def decode_settings(config: ConfigDict) -> dict[str, DecodeSettings]:
  """config.decode → {method: DecodeSettings} for the methods evaluation runs, after range checks."""
  d = config.get("decode") or ConfigDict()
  methods = tuple(d.get("methods", ("greedy",)))
  unknown = [m for m in methods if m not in METHODS]
  if unknown or not methods:
    raise UserError(f"config.decode.methods={methods} must be a non-empty subset of {METHODS}")
  beam_size, max_len = int(d.get("beam_size", 1)), int(d.get("max_decode_len", 64))
  alpha = float(d.get("length_penalty", 0.0))
  if beam_size < 1:
    raise UserError(f"config.decode.beam_size={beam_size} must be >= 1 (1 = greedy)")
  if max_len < 1:
    raise UserError(f"config.decode.max_decode_len={max_len} must be >= 1")
  if not math.isfinite(alpha):
    raise UserError(f"config.decode.length_penalty={alpha} must be a finite number (0 = off)")
  out = {}
  for m in methods:
    out[m] = (DecodeSettings("greedy", 1, 0.0, max_len) if m == "greedy"
              else DecodeSettings("beam", beam_size, alpha, max_len))
  return out


def _check_config(config: ConfigDict) -> None:
  eps = float(config.get("label_smoothing", 0.0))
  if not 0.0 <= eps < 1.0:
    raise UserError(f"config.label_smoothing={eps} must be in [0, 1)")
  d = config.get("decode") or ConfigDict()
  n = int(d.get("num_sentences", -1))
  if n < -1:
    raise UserError(f"config.decode.num_sentences={n} must be -1 (all), 0 (no decoding) or a positive count")
  tok = d.get("bleu_tokenize", "13a")
  if tok not in bleu.TOKENIZERS:
    raise UserError(f"config.decode.bleu_tokenize={tok!r} must be one of {', '.join(bleu.TOKENIZERS)}")
  evaluated = set(config.dataset.get("eval_splits", ()))
  if float(config.dataset.get("validation_fraction", 0.0)) > 0:
    evaluated.add("validation")
  missing = [s for s in d.get("splits", ()) if s not in evaluated]
  if missing:
    raise UserError(f"config.decode.splits names {missing[0]!r}, which is not evaluated; use splits from "
                    f"config.dataset.eval_splits={tuple(config.dataset.get('eval_splits', ()))}")
  decode_settings(config)


def _check_saved_vocab(vocab: Vocab, path: str) -> None:
  """Read-only: a vocabulary saved in the workdir must equal the one built from the data now."""
  if not os.path.exists(path):
    return
  saved = Vocab.load(path)
  if saved.fingerprint() != vocab.fingerprint():
    raise UserError(f"vocabulary {path} ({saved.size} tokens, fingerprint {saved.fingerprint()}) differs from the "
                    f"one built from the data now ({vocab.size} tokens, {vocab.fingerprint()}), so the checkpoint's "
                    "token ids would mean other words; restore the original config.dataset settings or use a fresh "
                    "--workdir")


# ----------------------------------------------------------------------------------------------------
# The task.


@registry.tasks.register("seq2seq")
class Seq2SeqTask:
  """Teacher-forced masked cross-entropy; greedy/beam decoding and BLEU at evaluation.

  Metrics (each a per-token or per-sentence mean over real positions, as (sum, count)):
    loss: the training objective per target token (label-smoothed when config.label_smoothing > 0);
    nll: plain negative log-likelihood per target token (ln(perplexity));
    token_accuracy: argmax of the teacher-forced logits equals the target token;
    sequence_accuracy: every target token of the sentence (eos included) is predicted right.
  """

  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    _check_config(config)
    for key in ("tgt_vocab", "bos_id", "eos_id", "pad_id"):
      if key not in info:
        raise UserError(f"dataset {config.dataset.name!r} gives no {key!r}; the seq2seq task needs a translation "
                        "or synthetic_seq dataset (research/data/translation.py, synthetic.py)")
    decode_fns_for(registry.models.get(config.model_name))  # fail before training, not at the first evaluation
    self.info = info
    self.label_smoothing = float(config.get("label_smoothing", 0.0))
    self.settings = decode_settings(config)
    d = config.get("decode") or ConfigDict()
    self.num_sentences = int(d.get("num_sentences", -1))
    self.decode_splits = tuple(d.get("splits", ()))
    self.bleu_tokenize = d.get("bleu_tokenize", "13a")
    tgt_vocab: Vocab = info["tgt_vocab"]
    # A lowercasing vocabulary cannot produce capitals, so BLEU then ignores case on both sides.
    self.bleu_lowercase = bool(getattr(tgt_vocab, "lowercase", False))
    self.batch_size = int(config.eval_batch_size)
    self.workdir: str | None = None
    self._decoders: dict[int, Decoder] = {}

  # -- training ------------------------------------------------------------------------------------
  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    return (batch["src"], batch["tgt_in"])

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    logits, new_state = apply_model(model, variables, batch["src"], batch["tgt_in"], train=train, rngs=rngs,
                                    mutable=mutable)
    targets = batch["tgt_out"]
    weights = batch["tgt_mask"].astype(jnp.float32) * batch["mask"].astype(jnp.float32)[:, None]
    loss_sum, count = losses.cross_entropy(logits, targets, weights, self.label_smoothing)
    nll_sum, _ = (loss_sum, count) if self.label_smoothing == 0.0 else losses.cross_entropy(logits, targets, weights)
    correct, _ = losses.accuracy(logits, targets, weights)
    wrong = ((logits.argmax(-1) != targets) & (weights > 0)).any(axis=-1)
    real = batch["mask"].astype(jnp.float32)
    metrics = {
        "loss": metric(loss_sum, count),
        "nll": metric(nll_sum, count),
        "token_accuracy": metric(correct, count),
        "sequence_accuracy": metric(((~wrong).astype(jnp.float32) * real).sum(), real.sum()),
    }
    return loss_sum / jnp.maximum(count, 1.0), metrics, new_state

  # -- workdir hooks ---------------------------------------------------------------------------------
  def check_workdir(self, path: str) -> None:
    for side in ("src", "tgt"):
      vocab = self.info.get(f"{side}_vocab")
      if vocab is not None:
        _check_saved_vocab(vocab, os.path.join(path, f"vocab_{side}.json"))

  def prepare_workdir(self, path: str) -> None:
    from research.tokenizer import save_or_check_vocabs
    save_or_check_vocabs(self.info, path)
    self.workdir = path  # only process 0 gets here, so only it writes decodes/

  # -- decoding and BLEU -------------------------------------------------------------------------------
  def decoder(self, model: nn.Module) -> Decoder:
    """The (cached) compiled decoder of `model`."""
    entry = self._decoders.get(id(model))
    if entry is None or entry.model is not model:
      entry = Decoder(model, bos_id=int(self.info["bos_id"]), eos_id=int(self.info["eos_id"]),
                      pad_id=int(self.info["pad_id"]))
      self._decoders[id(model)] = entry
    return entry

  def detokenize(self, ids: np.ndarray) -> str:
    return self.info["tgt_vocab"].decode(ids)

  def score(self, hypotheses: Sequence[str], references: Sequence[str]) -> bleu.BLEUScore:
    """Corpus BLEU of detokenized hypotheses against one reference each (config.decode.bleu_tokenize)."""
    return bleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=self.bleu_tokenize,
                            lowercase=self.bleu_lowercase, force=True)

  def evaluate_extra(self, model: nn.Module, variables: dict[str, Any], split_name: str, source: Any,
                     config: ConfigDict) -> dict[str, float]:
    if split_name not in self.decode_splits or self.num_sentences == 0:
      return {}
    n = len(source) if self.num_sentences < 0 else min(self.num_sentences, len(source))
    examples = source.__getitems__(np.arange(n))
    references = [str(t) for t in examples["tgt_text"]]
    decoder = self.decoder(model)
    out = {}
    for name, settings in self.settings.items():
      hyps, _, seconds = decoder.translate(variables, list(examples["src"]), settings, batch_size=self.batch_size)
      texts = [self.detokenize(h) for h in hyps]
      out[f"bleu_{name}"] = self.score(texts, references).score
      out[f"decode_ms_per_sentence_{name}"] = 1000.0 * seconds / n
      if self.workdir is not None:
        folder = os.path.join(self.workdir, "decodes")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{split_name}.{name}.txt"), "w", encoding="utf-8") as f:
          f.writelines(t + "\n" for t in texts)
    return out
