"""Tasks for language models and text classification, plugged into the one training loop (research/train/loop.py).

  'text_classification'  batch: tokens int32[B, T], segments int32[B, T], label int32[B], mask float32[B].
                         model(tokens, segments, train) → logits [B, C]. Metrics: loss, accuracy.
  'lm'                   batch: tokens int32[B, T]. model(tokens, train) → {head: {'logits' [B, T, V] aligned with
                         the token they predict, 'weights' [B, T]}} (research/models/lstm_lm.py). Loss = Σ over
                         heads of each head's mean token NLL (ELMo: forward + backward). Metrics per head:
                         `{head}_loss` (nats/token; perplexity = exp), `{head}_accuracy`. With
                         config.lm_hide_target=True, evaluation also reports `{head}_hidden_loss`: token t
                         predicted from an input where token t itself is replaced by <unk> — the honest score of
                         a model that might peek (equal to `{head}_loss` for models that cannot).
  'mlm_nsp'              batch: tokens_a, tokens_b int32[B, L] (consecutive sentences). On device: NSP pairs (50%
                         random B), BERT masking (15%, 80/10/10), model(tokens, segments, positions, train)
                         → {'mlm_logits' [B, P, V] at the P ≥ max selected positions per row, 'nsp_logits'}.
                         Loss = MLM + NSP. Metrics: mlm_loss, mlm_accuracy,
                         nsp_loss, nsp_accuracy, and the measured rule: select_rate (selected / maskable tokens),
                         mask_frac, random_frac, keep_frac (of selected), next_frac (NSP pairs with the true B).

Every task saves the dataset's vocabulary in the workdir (vocab.json or vocab.txt) and checks it on restore.

Starting from a pretraining run (ELMo features: a classifier's 'bilm' ← a pretrained 'elmo_bilm'; BERT fine-tuning:
'bert:bert', 'pooler:pooler') is trainer 'finetune' of research/train/init_from.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from ml_collections import ConfigDict

from research import registry
from research.data.vocab import save_or_check_vocab
from research.errors import UserError
from research.evaluation.metrics import mean_metric, metric
from research.models.bert import make_pairs, mask_tokens
from research.tasks.base import apply_model
from research.tasks.losses import classification_outputs

Batch = dict[str, jax.Array]


class _VocabHooks:
  """Saves the dataset's vocabulary next to the checkpoints and refuses a restored run whose vocabulary differs."""

  info: dict[str, Any]

  def check_workdir(self, path: str) -> None:
    if self.info.get("vocab") is not None:
      save_or_check_vocab(self.info["vocab"], path, check_only=True)

  def prepare_workdir(self, path: str) -> None:
    if self.info.get("vocab") is not None:
      save_or_check_vocab(self.info["vocab"], path)


@registry.tasks.register("text_classification")
class TextClassificationTask(_VocabHooks):
  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    self.info = info

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    return batch["tokens"], batch.get("segments", jnp.zeros_like(batch["tokens"]))

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    logits, new_state = apply_model(model, variables, *self.init_args(batch), train=train, rngs=rngs, mutable=mutable)
    labels, mask = batch["label"].astype(jnp.int32), batch["mask"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    loss = (ce * mask).sum() / jnp.maximum(mask.sum(), 1.0)
    return loss, {"loss": mean_metric(ce, mask),
                  "accuracy": mean_metric((logits.argmax(-1) == labels).astype(jnp.float32), mask)}, new_state

  def example_outputs(self, model: nn.Module, variables: dict[str, Any], batch: Batch) -> dict[str, jax.Array]:
    """Evaluation-mode label, prediction, correct and nll per example, each [B]."""
    logits, _ = apply_model(model, variables, *self.init_args(batch), train=False, rngs=None, mutable=())
    return classification_outputs(logits, batch["label"])


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """float32[..., V], int[...] → −log p(target): float32[...]."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(logp, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]


@registry.tasks.register("lm")
class LanguageModelTask(_VocabHooks):
  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    self.info = info
    self.hide_target = bool(config.get("lm_hide_target", False))
    self.unk_id = int(info.get("unk_id", 3))

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    return (batch["tokens"],)

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    tokens = batch["tokens"].astype(jnp.int32)
    heads, new_state = apply_model(model, variables, tokens, train=train, rngs=rngs, mutable=mutable)
    row = batch["mask"][:, None]
    loss = jnp.zeros((), jnp.float32)
    metrics = {}
    for name, out in heads.items():
      w = out["weights"] * row
      nll = token_nll(out["logits"], tokens)
      loss = loss + (nll * w).sum() / jnp.maximum(w.sum(), 1.0)
      metrics[f"{name}_loss"] = mean_metric(nll, w)
      metrics[f"{name}_accuracy"] = mean_metric((out["logits"].argmax(-1) == tokens).astype(jnp.float32), w)
    metrics["loss"] = metric(loss * batch["mask"].sum(), batch["mask"].sum())
    if self.hide_target and not train:
      metrics.update(self.hidden_target_metrics(model, variables, tokens, heads, row))
    return loss, metrics, new_state

  def example_outputs(self, model: nn.Module, variables: dict[str, Any], batch: Batch) -> dict[str, jax.Array]:
    """Per sentence and head: `<head>_nll` float32[B] (nats summed over its scored tokens) and
    `<head>_tokens` float32[B] (how many), for perplexity intervals and paired tests."""
    tokens = batch["tokens"].astype(jnp.int32)
    heads, _ = apply_model(model, variables, tokens, train=False, rngs=None, mutable=())
    out = {}
    for name, head in heads.items():
      w = head["weights"].astype(jnp.float32)
      out[f"{name}_nll"] = jnp.where(w != 0, token_nll(head["logits"], tokens) * w, 0.0).sum(-1)
      out[f"{name}_tokens"] = w.sum(-1)
    return out

  def hidden_target_metrics(self, model, variables, tokens, heads, row) -> dict[str, jax.Array]:
    """Position t scored by a pass whose input has <unk> at t (one pass per position, lax.map over t)."""
    def one(t):
      hidden = tokens.at[:, t].set(jnp.where(tokens[:, t] != 0, self.unk_id, 0))
      out = model.apply(variables, hidden, train=False)
      return {k: token_nll(v["logits"][:, t], tokens[:, t]) for k, v in out.items()}

    per_t = jax.lax.map(one, jnp.arange(tokens.shape[1]))  # {head: [T, B]}
    return {f"{k}_hidden_loss": mean_metric(v.T, heads[k]["weights"] * row) for k, v in per_t.items()}


@registry.tasks.register("mlm_nsp")
class MaskedLMTask(_VocabHooks):
  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    self.info = info
    for key in ("cls_id", "sep_id", "mask_id", "vocab_size", "num_special"):
      if key not in info:
        raise UserError(f"task 'mlm_nsp' needs a wordpiece dataset (info has no {key!r}); set "
                        "config.dataset.tokenizer='wordpiece' and config.dataset.format='sentence_pairs'")
    t = config.get("mlm", None) or ConfigDict()
    self.select_rate = float(t.get("select_rate", 0.15))
    self.mask_rate = float(t.get("mask_rate", 0.8))
    self.random_rate = float(t.get("random_rate", 0.1))
    self.next_prob = float(t.get("next_prob", 0.5))
    self.eval_seed = int(t.get("eval_seed", 0))
    if not (0 < self.select_rate < 1 and 0 <= self.mask_rate and 0 <= self.random_rate
            and self.mask_rate + self.random_rate <= 1 and 0 <= self.next_prob <= 1):
      raise UserError("config.mlm rates must satisfy 0 < select_rate < 1, mask_rate + random_rate <= 1, "
                      "0 <= next_prob <= 1")

  def prepare(self, batch: Batch, key: jax.Array) -> dict[str, jax.Array]:
    """tokens_a, tokens_b → masked pair inputs, segments, MLM targets/weights/kind, NSP label."""
    k_pair, k_mask = jax.random.split(key)
    info = self.info
    pairs = make_pairs(k_pair, batch["tokens_a"], batch["tokens_b"], cls_id=info["cls_id"], sep_id=info["sep_id"],
                       pad_id=info["pad_id"], next_prob=self.next_prob)
    masked = mask_tokens(k_mask, pairs["tokens"], vocab_size=info["vocab_size"], mask_id=info["mask_id"],
                         special_ids=tuple(range(info["num_special"])), random_low=info["num_special"],
                         select_rate=self.select_rate, mask_rate=self.mask_rate, random_rate=self.random_rate)
    return {**pairs, **masked}

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    p = self.prepare(batch, jax.random.PRNGKey(0))
    return p["inputs"], p["segments"]

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    if rngs is not None and "noise" in rngs:
      key = rngs["noise"]
    else:  # evaluation: the same masks and pairs every time, so evaluations are comparable across steps
      key = jax.random.fold_in(jax.random.PRNGKey(self.eval_seed), batch["tokens_a"][:, 0].sum())
    p = self.prepare(batch, key)
    # The MLM head runs only at the selected positions: at most ceil(select_rate · T) + 1 per row (mask_tokens
    # selects round(select_rate · n) of n ≤ T maskable tokens); unselected slots get weight 0.
    n_pos = min(p["inputs"].shape[1], int(np.ceil(self.select_rate * p["inputs"].shape[1])) + 1)
    pos = jnp.argsort(-p["weights"], axis=1, stable=True)[:, :n_pos]
    out, new_state = apply_model(model, variables, p["inputs"], p["segments"], pos, train=train, rngs=rngs,
                                 mutable=mutable)
    row = batch["mask"]
    w_all = p["weights"] * row[:, None]
    w = jnp.take_along_axis(w_all, pos, axis=1)
    targets = jnp.take_along_axis(p["targets"], pos, axis=1)
    mlm = token_nll(out["mlm_logits"], targets)
    nsp = token_nll(out["nsp_logits"], p["is_next"])
    mlm_loss = (mlm * w).sum() / jnp.maximum(w.sum(), 1.0)
    nsp_loss = (nsp * row).sum() / jnp.maximum(row.sum(), 1.0)
    loss = mlm_loss + nsp_loss
    info = self.info
    maskable = jnp.ones_like(p["targets"], dtype=bool)
    for s in range(info["num_special"]):
      maskable &= p["targets"] != s
    maskable = maskable.astype(jnp.float32) * row[:, None]
    kind = p["kind"]
    metrics = {
        "loss": metric(loss * row.sum(), row.sum()),
        "mlm_loss": mean_metric(mlm, w),
        "mlm_accuracy": mean_metric((out["mlm_logits"].argmax(-1) == targets).astype(jnp.float32), w),
        "nsp_loss": mean_metric(nsp, row),
        "nsp_accuracy": mean_metric((out["nsp_logits"].argmax(-1) == p["is_next"]).astype(jnp.float32), row),
        "select_rate": metric((p["weights"] * maskable).sum(), maskable.sum()),
        "mask_frac": mean_metric((kind == 1).astype(jnp.float32), w_all),
        "random_frac": mean_metric((kind == 2).astype(jnp.float32), w_all),
        "keep_frac": mean_metric((kind == 3).astype(jnp.float32), w_all),
        "next_frac": mean_metric(p["is_next"].astype(jnp.float32), row),
    }
    return loss, metrics, new_state


# ----------------------------------------------------------------------------------------------
# Fine-tuning from another run's parameters.
