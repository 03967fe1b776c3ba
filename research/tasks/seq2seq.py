"""The 'seq2seq' task: teacher-forced training of any encoder–decoder, decoding and BLEU at evaluation.

Batches come from research/data/translation.py's `PadCollate` (translation and synthetic data alike):
  src int32[B, S], tgt_in int32[B, T] (<bos> y_1 … y_n), tgt_out int32[B, T] (y_1 … y_n <eos>),
  tgt_mask float32[B, T] (1 on the n + 1 real target positions), mask float32[B] (1 = real example;
  0 on the rows that pad the last evaluation batch).
A token counts in the loss and metrics iff tgt_mask · mask = 1, so neither sentence padding nor batch
padding biases an average (research/tasks/losses.py returns (sum, count) pairs).

Model protocol (what a model must offer to be trained and decoded here):
  * training: `model.apply(variables, src, tgt_in, train=bool, rngs=...)` → logits float[B, T, V];
  * decoding: a step_fn builder as research/decoding/decoder.py's `step_fns_for` finds it (a module-level
    `decode_fns(model, variables, src, max_len)` or the `init_cache` / `decode_step` methods).

Evaluation (`evaluate_extra`, called by research.train.loop.Trainer after the teacher-forced metrics):
decodes the first `config.decode.num_sentences` sentences of each split in `config.decode.splits` with
every method of `config.decode.methods` ('greedy'; 'beam' with beam_size / length_penalty; 'sample' with
temperature / top_k / top_p / num_samples, the best-scored sample counts), detokenizes with the target
vocabulary and scores corpus BLEU (research/evaluation/bleu.py) and chrF (research/evaluation/chrf.py), both equal to
sacrebleu's, against the untokenized reference text. Reported per method: `bleu_<method>` and
`chrf_<method>` (0..100) and `decode_ms_per_sentence_<method>` (wall time of the
compiled search, compilation excluded). The latest evaluation's 1-best hypotheses are written to
WORKDIR/decodes/<split>.<method>.txt, and per sentence every returned hypothesis (beam n-best, samples) with its
score and BLEU / chrF statistics to <split>.<method>.jsonl (research/evaluation/outputs.py: bootstrap CIs and
paired tests between runs without re-decoding).

Decoding is compiled once per (settings, batch shape) by research/decoding/decoder.py's `Decoder`: every
batch of a split is padded to the split's longest source (a multiple of 8) and to one batch size, so a split
costs one compilation per method however many evaluations a run makes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from research import registry
from research.data.vocab import Vocab, save_or_check_vocabs
from research.decoding.decoder import Decoder, decode_settings, step_fns_for
from research.errors import UserError
from research.evaluation import bleu
from research.evaluation.chrf import corpus_chrf
from research.evaluation.metrics import metric
from research.evaluation.outputs import write_decodes
from research.tasks import losses
from research.tasks.base import apply_model

Batch = dict[str, jax.Array]


# ----------------------------------------------------------------------------------------------------
# Configuration checks.


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
    step_fns_for(registry.models.get(config.model_name))  # fail before training, not at the first evaluation
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
    save_or_check_vocabs(self.info, path, check_only=True)

  def prepare_workdir(self, path: str) -> None:
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

  def chrf(self, hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (0..100, sacrebleu's defaults: character 6-grams, β = 2), case-folded as BLEU is."""
    if self.bleu_lowercase:
      hypotheses, references = [h.lower() for h in hypotheses], [r.lower() for r in references]
    return corpus_chrf(list(hypotheses), [list(references)]).score

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
      all_hyps, scores, seconds = decoder.translate_all(variables, list(examples["src"]), settings,
                                                        batch_size=self.batch_size)
      nbest = [[self.detokenize(h) for h in hyps] for hyps in all_hyps]
      texts = [hyps[0] for hyps in nbest]
      out[f"bleu_{name}"] = self.score(texts, references).score
      out[f"chrf_{name}"] = self.chrf(texts, references)
      out[f"decode_ms_per_sentence_{name}"] = 1000.0 * seconds / n
      if self.workdir is not None:
        # The 1-best as text, and per sentence every returned hypothesis with its score and the BLEU / chrF
        # statistics that reports resample for confidence intervals and paired tests (research/evaluation/outputs.py).
        folder = os.path.join(self.workdir, "decodes")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{split_name}.{name}.txt"), "w", encoding="utf-8") as f:
          f.writelines(t + "\n" for t in texts)
        write_decodes(os.path.join(folder, f"{split_name}.{name}.jsonl"), references, nbest, scores,
                      header={"split": split_name, "method": name, "settings": dataclasses.asdict(settings)},
                      source_lengths=[len(x) for x in examples["src"]],
                      bleu_tokenize=self.bleu_tokenize, lowercase=self.bleu_lowercase)
    return out
