"""Tasks for the multimodal models (research/models/captioning.py, research/models/text_to_image.py). A captioner
whose CNN trunk starts from a trained classifier runs under trainer 'warm_start' (research/train/init_from.py).

'captioning'     batch from research/data/scenes.py's CaptionCollate. Loss = masked per-token
                 cross-entropy + λ · mean over images of Σ_i (1 − Σ_t α_ti)² (the doubly stochastic
                 term; attention models only; λ = config.doubly_stochastic). Eval metrics: loss,
                 token_accuracy, doubly_stochastic, and `alignment` (attention models): over the
                 reference's object words, teacher-forced, the fraction whose attention peak
                 argmax_i α_ti falls on the cell of the item the word names.
                 evaluate_extra decodes up to config.decode.max_examples images with greedy search and
                 every other search of config.decode.methods (research/decoding/decoder.py: beam, sample)
                 and scores BLEU-1..4 against all references (research/evaluation/bleu.py, cumulative BLEU-n in
                 0..100; `bleu<n>` greedy, `<method>_bleu<n>` the others) and chrF (`chrf`,
                 `<method>_chrf`; research/evaluation/chrf.py), object precision/recall of the
                 greedy captions (are the named classes in the scene, are the scene's classes
                 named), and `alignment_greedy`: over the greedy captions' object words that name an
                 item in the scene, the fraction whose attention peak is on that item's cell.
                 Each search's captions (every returned one: beam n-best, samples) with scores and the
                 multi-reference BLEU / chrF statistics go to WORKDIR/decodes/<split>.<method>.jsonl
                 (research/evaluation/outputs.py), for `python -m research.tools.compare`.
'text_to_image'  loss = per-pixel BCE (config.pixel_loss = 'bce') or squared error ('mse') + the KL
                 term of a conditional VAE. evaluate_extra draws each eval image from its caption
                 alone and reports pixel_mse / pixel_mae (pixels in [0, 1]) and, with
                 config.classifier_workdir naming a trained 'cnn' run, `classifier_accuracy`: the
                 fraction of the scene's items whose generated cell that fixed classifier labels as
                 the captioned class (`classifier_accuracy_real`: the same on the real scenes, the
                 ceiling).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from ml_collections import ConfigDict

from research import registry
from research.data.scenes import CaptionCollate
from research.data.vocab import BOS_ID, EOS_ID, PAD_ID
from research.decoding.decoder import Decoder, DecodeSettings, decode_settings
from research.errors import UserError
from research.evaluation.bleu import corpus_bleu_tokens
from research.evaluation.chrf import corpus_chrf
from research.evaluation.metrics import mean_metric, metric
from research.evaluation.outputs import reference_streams, write_decodes
from research.models.cnn import CNNClassifier
from research.tasks.base import apply_model
from research.tasks.losses import accuracy, cross_entropy
from research.train.checkpoint import load_state

Batch = dict[str, jax.Array]


def doubly_stochastic_penalty(alphas: jax.Array, token_mask: jax.Array) -> jax.Array:
  """Σ_i (1 − Σ_t α_ti)² per example, over real time steps only.

  alphas: float32[B, T, L] attention weights; token_mask: float[B, T] (1 = real step). Returns float32[B].
  """
  attended = (alphas * token_mask[:, :, None]).sum(axis=1)  # [B, L]
  return jnp.square(1.0 - attended).sum(axis=-1)


def cut_at_eos(seq: Sequence[int]) -> list[int]:
  """Token ids up to (not including) the first <eos>, without <pad>/<bos>."""
  out = []
  for t in np.asarray(seq).tolist():
    if t == EOS_ID:
      break
    if t not in (PAD_ID, BOS_ID):
      out.append(int(t))
  return out


def _batches(n: int, size: int):
  """(indices int[size], real bool[size]) covering 0..n-1; the last batch repeats index n-1 (fixed jit shape)."""
  for start in range(0, n, size):
    idx = np.arange(start, start + size)
    yield np.minimum(idx, n - 1), idx < n


@registry.tasks.register("captioning")
class CaptioningTask:
  """See the module docstring. Batch: image uint8[B, S, S, C], caption_in/caption_out int32[B, T],
  caption_mask float32[B, T], word_cell int32[B, T], labels/cells int32[B, M], mask float32[B]."""

  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    self.info = info
    self.scale = 1.0 / float(info.get("max_value", 255))
    self.ds_weight = float(config.get("doubly_stochastic", 1.0))
    self.label_smoothing = float(config.get("label_smoothing", 0.0))
    if self.ds_weight < 0:
      raise UserError(f"config.doubly_stochastic={self.ds_weight} must be >= 0")
    noun_ids = np.asarray(info.get("noun_ids", np.zeros((0,), np.int64)))
    self.noun_to_class = {int(t): k for k, t in enumerate(noun_ids) if t > 3}
    self._decoders: dict[Any, Any] = {}
    self.workdir: str | None = None  # set on the writing process: evaluations then save decodes/

  def prepare_workdir(self, path: str) -> None:
    self.workdir = path  # only process 0 gets here, so only it writes decodes/

  def image(self, batch: Batch) -> jax.Array:
    return batch["image"].astype(jnp.float32) * self.scale

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    return self.image(batch), batch["caption_in"]

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    (logits, alphas), new_state = apply_model(model, variables, self.image(batch), batch["caption_in"], train=train,
                                              rngs=rngs, mutable=mutable)
    example_mask = batch["mask"].astype(jnp.float32)
    token_mask = batch["caption_mask"] * example_mask[:, None]
    ce_sum, count = cross_entropy(logits, batch["caption_out"], token_mask, self.label_smoothing)
    loss = ce_sum / jnp.maximum(count, 1.0)
    metrics = {"loss": metric(ce_sum, count), "token_accuracy": metric(*accuracy(logits, batch["caption_out"],
                                                                                   token_mask))}
    if getattr(model, "attention", False):
      penalty = doubly_stochastic_penalty(alphas, batch["caption_mask"])
      metrics["doubly_stochastic"] = mean_metric(penalty, example_mask)
      if self.ds_weight > 0:
        loss = loss + self.ds_weight * (penalty * example_mask).sum() / jnp.maximum(example_mask.sum(), 1.0)
      is_object = (batch["word_cell"] >= 0) & (token_mask > 0)
      hit = jnp.argmax(alphas, axis=-1) == batch["word_cell"]
      metrics["alignment"] = metric((hit & is_object).sum(), is_object.sum())
    return loss, metrics, new_state

  # -- decoding ------------------------------------------------------------------------------------
  def settings(self, config: ConfigDict) -> dict[str, DecodeSettings]:
    """The searches of config.decode.methods (research/decoding/decoder.py; greedy is always run: the object
    and alignment metrics read its captions); max_len defaults to the longest caption + eos."""
    dec = config.get("decode") or ConfigDict()
    max_len = int(dec.get("max_len", 0)) or int(self.info.get("max_caption_len", 20)) + 1
    if dec.get("methods") is None and dec.get("method") is None:  # a config older than the methods field
      config = ConfigDict({"decode": {**dict(dec), "methods": ("greedy", "beam")}})
    out = decode_settings(config, max_len=max_len)
    if "greedy" not in out:
      out = {"greedy": DecodeSettings("greedy", max_len=max_len), **out}
    return out

  def decoder(self, model: nn.Module) -> Decoder:
    """The (cached) compiled decoder of `model` over images float[B, ...] (already scaled to [0, 1])."""
    entry = self._decoders.get(id(model))
    if entry is None or entry.model is not model:
      entry = Decoder(model, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID)
      self._decoders[id(model)] = entry
    return entry

  def decode_split(self, model: nn.Module, variables: dict[str, Any], source: Any, config: ConfigDict
                   ) -> dict[str, Any]:
    """For the first max_examples images: per method the best caption (token lists, `out[method]`) and every
    returned one with its score (`out[method + "/all"]`: [N][R] token lists, float32[N, R]), the references
    and the scene facts."""
    dec = config.get("decode") or ConfigDict()
    n = min(len(source), int(dec.get("max_examples", 500)))
    batch_size = int(dec.get("batch_size", 100))
    decoder = self.decoder(model)
    out: dict[str, Any] = {}
    for name, settings in self.settings(config).items():
      returned, scores = [], []
      for batch_index, (idx, real) in enumerate(_batches(n, batch_size)):
        rows = source.__getitems__(idx)
        images = np.asarray(rows["image"], np.float32) * self.scale
        seqs, seq_scores = decoder.decode(variables, images, settings, batch_index=batch_index)
        returned += [[cut_at_eos(s) for s in row] for row in seqs[real]]
        scores.append(seq_scores[real])
      out[name] = [r[0] for r in returned]
      out[name + "/all"] = (returned, np.concatenate(scores) if scores else np.zeros((0, 1), np.float32))
    rows = source.__getitems__(np.arange(n))
    refs = [[list(map(int, r)) for r in refs] for refs in rows["refs"]]
    out.update({"refs": refs, "labels": np.asarray(rows["labels"]), "cells": np.asarray(rows["cells"]),
                "image": rows["image"]})
    return out

  def attention_of(self, model: nn.Module, variables: dict[str, Any], images: np.ndarray,
                   captions: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """Teacher-forced attention float32[N, length, L] when the model reads `captions` (token lists)."""
    tokens = np.full((len(captions), length), PAD_ID, np.int32)
    for i, c in enumerate(captions):
      c = list(c)[:length - 1]
      tokens[i, 0] = BOS_ID
      tokens[i, 1:len(c) + 1] = c
    _, alphas = jax.jit(functools.partial(model.apply, train=False))(
        variables, jnp.asarray(images, jnp.float32) * self.scale, jnp.asarray(tokens))
    return np.asarray(alphas)

  def evaluate_extra(self, model: nn.Module, variables: dict[str, Any], split_name: str, source: Any,
                     config: ConfigDict) -> dict[str, float]:
    out = self.decode_split(model, variables, source, config)
    results: dict[str, float] = {}
    vocab = self.info.get("vocab")
    settings = self.settings(config)
    for name in settings:
      prefix = "" if name == "greedy" else f"{name}_"
      for n in range(1, 5):
        results[f"{prefix}bleu{n}"] = corpus_bleu_tokens(out[name], out["refs"], max_ngram_order=n).score
      if vocab is not None:  # chrF reads text: captions and references as words joined by spaces
        hyps = [vocab.decode(h) for h in out[name]]
        refs = [[vocab.decode(r) for r in refs] for refs in out["refs"]]
        results[f"{prefix}chrf"] = corpus_chrf(hyps, reference_streams(refs)).score
        if self.workdir is not None:
          # Every returned caption (beam n-best, samples) with its score, and the 1-best's multi-reference BLEU /
          # chrF statistics (BLEU on the words, tokenize="none", as bleu<n> above) for intervals and paired tests.
          returned, scores = out[name + "/all"]
          write_decodes(os.path.join(self.workdir, "decodes", f"{split_name}.{name}.jsonl"), refs,
                        [[vocab.decode(c) for c in caps] for caps in returned], scores,
                        header={"split": split_name, "method": name,
                                "settings": dataclasses.asdict(settings[name])}, bleu_tokenize="none")
    named = in_scene = items = recalled = 0
    for hyp, labels in zip(out["greedy"], out["labels"], strict=True):
      scene = {int(k) for k in labels if k >= 0}
      said = {self.noun_to_class[t] for t in hyp if t in self.noun_to_class}
      named += len(said)
      in_scene += len(said & scene)
      items += len(scene)
      recalled += len(said & scene)
    if named:
      results["object_precision"] = in_scene / named
    if items:
      results["object_recall"] = recalled / items
    if getattr(model, "attention", False) and self.noun_to_class:
      length = max(len(h) for h in out["greedy"]) + 1
      hits = total = 0
      for start in range(0, len(out["greedy"]), 100):
        caps = out["greedy"][start:start + 100]
        alphas = self.attention_of(model, variables, out["image"][start:start + 100], caps, length)
        for i, cap in enumerate(caps):
          labels, cells = out["labels"][start + i], out["cells"][start + i]
          for t, tok in enumerate(cap):
            k = self.noun_to_class.get(tok)
            if k is not None and k in labels:
              total += 1
              hits += int(np.argmax(alphas[i, t]) == cells[list(labels).index(k)])
      if total:
        results["alignment_greedy"] = hits / total
    return results


# ------------------------------------------------------------------------------------------ text → image
def load_classifier(workdir: str) -> tuple[CNNClassifier, dict[str, Any], tuple[int, ...]]:
  """(model, variables, input image shape) of a 'cnn' run's latest checkpoint, for scoring images."""
  path = os.path.join(os.path.expanduser(workdir), "config.json")
  if not os.path.exists(path):
    raise UserError(f"config.classifier_workdir={workdir!r} has no config.json; train one first with "
                    "`python -m research.main --config=configs/cnn.py --workdir=DIR`")
  with open(path) as f:
    cfg = json.load(f)
  if cfg.get("model_name") != "cnn":
    raise UserError(f"{workdir} holds a {cfg.get('model_name')!r} run; config.classifier_workdir needs a 'cnn' run")
  fields = {k: tuple(v) if isinstance(v, list) else v for k, v in (cfg.get("model") or {}).items()}
  fields.pop("dtype", None)
  fields.pop("param_dtype", None)
  fields.setdefault("num_classes", 10)
  _, state, _ = load_state(workdir)
  params = state["ema_params"] if state.get("ema_params") is not None else state["params"]
  return CNNClassifier(**fields), {"params": params}, (28, 28, 1)


def scene_cells(images: jax.Array, grid: int) -> jax.Array:
  """float[B, G·c, G·c, C] → float[B, G·G, c, c, C], cells in row-major order (cell r·G + c)."""
  b, s, _, ch = images.shape
  c = s // grid
  x = images[:, :grid * c, :grid * c].reshape(b, grid, c, grid, c, ch)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, grid * grid, c, c, ch)


@registry.tasks.register("text_to_image")
class TextToImageTask:
  """See the module docstring. Batch as CaptioningTask's; the model reads caption_out (words + <eos>)."""

  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    self.info = info
    self.scale = 1.0 / float(info.get("max_value", 255))
    self.pixel_loss = config.get("pixel_loss", "bce")
    if self.pixel_loss not in ("bce", "mse"):
      raise UserError(f"config.pixel_loss={self.pixel_loss!r}; use 'bce' or 'mse'")
    self.kl_weight = float(config.get("kl_weight", 1.0))
    self.classifier_workdir = config.get("classifier_workdir") or ""
    self._classifier = None
    self._jitted: dict[Any, Any] = {}
    noun_ids = np.asarray(info.get("noun_ids", np.zeros((0,), np.int64)))
    self.collate = CaptionCollate(length=int(info.get("max_caption_len", 20)) + 1,
                                  noun_to_class={int(t): k for k, t in enumerate(noun_ids) if t > 3})

  def image(self, batch: Batch) -> jax.Array:
    return batch["image"].astype(jnp.float32) * self.scale

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    return batch["caption_out"], batch["caption_mask"], self.image(batch)

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    target = self.image(batch)
    (logits, kl), new_state = apply_model(model, variables, batch["caption_out"], batch["caption_mask"], target,
                                          train=train, rngs=rngs, mutable=mutable)
    pixels = float(np.prod(target.shape[1:]))
    if self.pixel_loss == "bce":
      recon = optax.sigmoid_binary_cross_entropy(logits, target).reshape(target.shape[0], -1).sum(-1)
    else:
      recon = jnp.square(jax.nn.sigmoid(logits) - target).reshape(target.shape[0], -1).sum(-1)
    mask = batch["mask"].astype(jnp.float32)
    per_example = recon + self.kl_weight * kl
    # Per pixel, so the learning rate does not depend on the image size.
    loss = (per_example * mask).sum() / jnp.maximum(mask.sum(), 1.0) / pixels
    sq = jnp.square(jax.nn.sigmoid(logits) - target).reshape(target.shape[0], -1).mean(-1)
    metrics = {"loss": mean_metric(per_example / pixels, mask), "recon_mse": mean_metric(sq, mask)}
    if getattr(model, "latent_dim", 0) > 0:
      metrics["kl"] = mean_metric(kl, mask)
    return loss, metrics, new_state

  def classifier(self):
    if self._classifier is None and self.classifier_workdir:
      self._classifier = load_classifier(self.classifier_workdir)
    return self._classifier

  def classify_cells(self, images: jax.Array, labels: np.ndarray, cells: np.ndarray) -> tuple[int, int]:
    """(items whose cell the fixed classifier labels as their class, items) for images float[B, S, S, 1]."""
    model, variables, shape = self.classifier()
    key = ("classify", images.shape)
    if key not in self._jitted:
      grid = int(self.info["grid"])

      @jax.jit
      def predict(variables, images):
        x = scene_cells(images, grid)
        b, n = x.shape[:2]
        x = x.reshape((b * n,) + x.shape[2:])
        if x.shape[1:3] != shape[:2]:
          x = jax.image.resize(x, (x.shape[0],) + shape, "bilinear")
        return model.apply(variables, x).argmax(-1).reshape(b, n)
      self._jitted[key] = predict
    pred = np.asarray(self._jitted[key](variables, images))
    correct = total = 0
    for i in range(len(labels)):
      for k, cell in zip(labels[i], cells[i], strict=True):
        if 0 <= k < 10:  # the classifier knows the 10 Fashion-MNIST classes
          total += 1
          correct += int(pred[i, cell] == k)
    return correct, total

  def generate(self, model: nn.Module, variables: dict[str, Any], caption: jax.Array, mask: jax.Array) -> jax.Array:
    key = ("generate", model, caption.shape)
    if key not in self._jitted:
      self._jitted[key] = jax.jit(lambda v, c, m: model.apply(v, c, m, method="generate"))
    return self._jitted[key](variables, caption, mask)

  def evaluate_extra(self, model: nn.Module, variables: dict[str, Any], split_name: str, source: Any,
                     config: ConfigDict) -> dict[str, float]:
    del split_name
    dec = config.get("decode") or ConfigDict()
    n = min(len(source), int(dec.get("max_examples", 500)))
    size = int(dec.get("batch_size", 100))
    sq = ab = 0.0
    pix = 0
    gen_ok = gen_total = real_ok = real_total = 0
    for idx, real in _batches(n, size):
      rows = source.__getitems__(idx)
      batch = self.collate(rows)
      images = jax.device_get(self.generate(model, variables, jnp.asarray(batch["caption_out"]),
                                            jnp.asarray(batch["caption_mask"])))[real]
      target = np.asarray(batch["image"], np.float32)[real] * self.scale
      sq += float(np.square(images - target).sum())
      ab += float(np.abs(images - target).sum())
      pix += target.size
      if self.classifier_workdir:
        labels, cells = np.asarray(batch["labels"])[real], np.asarray(batch["cells"])[real]
        c, t = self.classify_cells(jnp.asarray(images), labels, cells)
        gen_ok, gen_total = gen_ok + c, gen_total + t
        c, t = self.classify_cells(jnp.asarray(target), labels, cells)
        real_ok, real_total = real_ok + c, real_total + t
    results = {"pixel_mse": sq / pix, "pixel_mae": ab / pix}
    if gen_total:
      results["classifier_accuracy"] = gen_ok / gen_total
      results["classifier_accuracy_real"] = real_ok / real_total
    return results
