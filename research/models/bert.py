"""BERT (Devlin et al. 2019) on the shared Transformer encoder blocks (notes §6).

Input = token embedding + position embedding + segment embedding, summed, then LayerNorm and dropout; post-LN
encoder blocks with GELU — `research.models.transformer.TransformerEncoder` with learned positions, no
√d scaling, `embed_norm=True` and the segment embedding passed as `extra_embeddings`.

  'bert_pretraining'  → {'mlm_logits': float32[B, T, V], 'nsp_logits': float32[B, 2]}. MLM head: Dense(D) → GELU
                      → LayerNorm → logits with the token-embedding table (tied) + bias; NSP head: Dense(2) on
                      the pooled [CLS] state (pooler = tanh(Dense(h_[CLS]))).
  'bert_classifier'   → logits float32[B, num_classes] for single sentences (`[CLS] a [SEP]`) or pairs
                      (`[CLS] a [SEP] b [SEP]`, segments 0/1). pooling: 'cls' (the pooler on [CLS]), 'mean' or
                      'max' over real tokens (the notes' "clumsy" alternatives).
Both keep the encoder under params['bert'] and the pooler under params['pooler'], so a classifier is initialized
from a pretraining run by copying those two subtrees (trainer 'finetune' in research/tasks/language.py).

Pretraining data ops (pure, jittable, explicit keys): `make_pairs` builds `[CLS] A [SEP] B [SEP]` with B the true
next sentence or, with probability 1/2, another example's sentence; `mask_tokens` selects 15% of the maskable
tokens (never [CLS]/[SEP]/[PAD] or other specials) and replaces 80% of those by [MASK], 10% by a random word,
leaves 10% unchanged.

Hugging Face interop: `from_pretrained(folder) -> (model, params)` reads config.json + model.safetensors (or
pytorch_model.bin, which needs torch) of a BertForPreTraining / BertModel checkpoint; `save_pretrained(model,
params, folder)` writes one back that `transformers.BertForPreTraining.from_pretrained` loads.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research import registry
from research.errors import UserError
from research.models.lstm_lm import masked_pool
from research.models.transformer import ACTIVATIONS, BlockConfig, TransformerEncoder

Array = jax.Array
POOLINGS = ("cls", "mean", "max")


class _BertFields(nn.Module):
  vocab_size: int
  d_model: int = 128
  num_heads: int = 2
  num_layers: int = 2
  d_ff: int = 512
  max_positions: int = 128
  type_vocab_size: int = 2
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.1
  activation: str = "gelu"
  layer_norm_eps: float = 1e-12
  init_std: float = 0.02
  pad_id: int = 0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _dense(self, features: int, name: str) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.normal(self.init_std), dtype=self.dtype,
                    param_dtype=self.param_dtype, name=name)


def _bert_fields(m: nn.Module) -> dict[str, Any]:
  """The shared BERT hyperparameters of `m`, to build its BertEncoder with."""
  return {f.name: getattr(m, f.name) for f in dataclasses.fields(_BertFields) if f.name not in ("parent", "name")}


class BertEncoder(_BertFields):
  """(tokens: int32[B, T], segments: int32[B, T]) → hidden float[B, T, D].

  Params: `encoder` (TransformerEncoder: embedder/token_embed, embedder/position_embed, embed_layer_norm,
  layer_i), `segment_embed`.
  """

  def block_config(self) -> BlockConfig:
    return BlockConfig(d_model=self.d_model, num_heads=self.num_heads, d_ff=self.d_ff, dropout_rate=self.dropout_rate,
                       attention_dropout_rate=self.attention_dropout_rate, pre_norm=False, activation=self.activation,
                       layer_norm_eps=self.layer_norm_eps, init_std=self.init_std, dtype=self.dtype,
                       param_dtype=self.param_dtype)

  def setup(self):
    self.encoder = TransformerEncoder(self.block_config(), self.num_layers, self.vocab_size, positions="learned",
                                      max_positions=self.max_positions, scale_embeddings=False, embed_norm=True,
                                      pad_id=self.pad_id)
    self.segment_embed = nn.Embed(self.type_vocab_size, self.d_model,
                                  embedding_init=nn.initializers.normal(self.init_std), dtype=self.dtype,
                                  param_dtype=self.param_dtype)

  def __call__(self, tokens: Array, segments: Array | None = None, *, train: bool = False,
               return_attention: bool = False) -> Array | tuple[Array, list[Array]]:
    segments = jnp.zeros_like(tokens) if segments is None else segments
    return self.encoder(tokens, extra_embeddings=self.segment_embed(segments), train=train,
                        return_attention=return_attention)

  def token_logits(self, x: Array) -> Array:
    """x: [..., D] → float32[..., V] with the transposed token-embedding table (the tied MLM output)."""
    return self.encoder.embedder.attend(x)


@registry.models.register("bert_pretraining")
class BertForPretraining(_BertFields):
  """`(tokens, segments, mlm_positions=None, train)` → {'mlm_logits': float32[B, T, V] (or [B, P, V] at
  mlm_positions), 'nsp_logits': float32[B, 2]}.

  Params: `bert`, `pooler`, `mlm_transform`, `mlm_norm`, `mlm_bias`, `nsp`.
  """

  def setup(self):
    self.bert = BertEncoder(**_bert_fields(self))
    self.pooler = self._dense(self.d_model, "pooler")
    self.mlm_transform = self._dense(self.d_model, "mlm_transform")
    self.mlm_norm = nn.LayerNorm(epsilon=self.layer_norm_eps, dtype=self.dtype, param_dtype=self.param_dtype)
    self.mlm_bias = self.param("mlm_bias", nn.initializers.zeros, (self.vocab_size,), self.param_dtype)
    self.nsp = self._dense(2, "nsp")

  def __call__(self, tokens: Array, segments: Array | None = None, mlm_positions: Array | None = None, *,
               train: bool = False) -> dict[str, Array]:
    """mlm_positions: optional int32[B, P]; then mlm_logits is [B, P, V] at those positions only. Why: the
    vocabulary projection at every position costs ~25× the encoder of a small BERT, and the MLM loss only
    reads the ~15% selected positions."""
    h = self.bert(tokens, segments, train=train)
    pooled = jnp.tanh(self.pooler(h[:, 0]))
    if mlm_positions is not None:
      h = jnp.take_along_axis(h, mlm_positions[..., None].astype(jnp.int32), axis=1)
    t = self.mlm_norm(ACTIVATIONS[self.activation](self.mlm_transform(h)))
    mlm = self.bert.token_logits(t) + self.mlm_bias.astype(jnp.float32)
    return {"mlm_logits": mlm, "nsp_logits": self.nsp(pooled).astype(jnp.float32)}


@registry.models.register("bert_classifier")
class BertClassifier(_BertFields):
  """`(tokens: int32[B, T], segments: int32[B, T], train)` → logits float32[B, num_classes].

  Params: `bert`, `pooler` (used by 'cls' pooling; present always so checkpoints share one layout), `classifier`.
  """

  num_classes: int = 2
  pooling: str = "cls"  # cls | mean | max
  classifier_dropout: float = 0.1

  def setup(self):
    if self.pooling not in POOLINGS:
      raise UserError(f"pooling={self.pooling!r} is unknown; use one of {', '.join(POOLINGS)}")
    self.bert = BertEncoder(**_bert_fields(self))
    self.pooler = self._dense(self.d_model, "pooler")
    self.classifier = self._dense(self.num_classes, "classifier")
    self.dropout = nn.Dropout(self.classifier_dropout)

  def __call__(self, tokens: Array, segments: Array | None = None, *, train: bool = False) -> Array:
    h = self.bert(tokens, segments, train=train)
    cls = jnp.tanh(self.pooler(h[:, 0]))
    if self.pooling == "cls":
      pooled = cls
    else:
      valid = tokens != self.pad_id
      pooled = masked_pool(h, valid, valid.sum(1).astype(jnp.int32), self.pooling)
      pooled = pooled + 0.0 * cls  # keeps the pooler in the param tree (and its gradient zero) for every pooling
    return self.classifier(self.dropout(pooled, deterministic=not train)).astype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# Pretraining data: sentence pairs for NSP and the 80/10/10 masking rule, on device.


def make_pairs(key: Array, tokens_a: Array, tokens_b: Array, *, cls_id: int, sep_id: int, pad_id: int = 0,
               next_prob: float = 0.5) -> dict[str, Array]:
  """Builds `[CLS] A [SEP] B [SEP] [PAD]…` rows for next-sentence prediction.

  Args:
    key: PRNG key.
    tokens_a, tokens_b: int32[N, L] sentences (B follows A in the corpus), right-padded with pad_id.
    next_prob: probability that a row keeps its true next sentence (label 1); otherwise its B is another row's
      B (row (i + shift) mod N, one random shift in 1..N-1 per call), i.e. a random sentence of the corpus.
  Returns:
    tokens int32[N, 2L+3], segments int32[N, 2L+3] (0 for [CLS] A [SEP], 1 for B [SEP], 0 on padding),
    is_next int32[N].
  """
  n, length = tokens_a.shape
  k_next, k_shift = jax.random.split(key)
  is_next = jax.random.bernoulli(k_next, next_prob, (n,))
  shift = jax.random.randint(k_shift, (), 1, max(n, 2)) if n > 1 else jnp.zeros((), jnp.int32)
  other = jnp.roll(tokens_b, -shift, axis=0)
  b = jnp.where(is_next[:, None], tokens_b, other)
  la = (tokens_a != pad_id).sum(1)[:, None]
  lb = (b != pad_id).sum(1)[:, None]
  p = jnp.arange(2 * length + 3)[None, :]
  a_val = jnp.take_along_axis(tokens_a, jnp.clip(p - 1, 0, length - 1), axis=1)
  b_val = jnp.take_along_axis(b, jnp.clip(p - la - 2, 0, length - 1), axis=1)
  tokens = jnp.where(p == 0, cls_id,
           jnp.where(p <= la, a_val,
           jnp.where(p == la + 1, sep_id,
           jnp.where(p <= la + lb + 1, b_val,
           jnp.where(p == la + lb + 2, sep_id, pad_id)))))
  segments = ((p >= la + 2) & (p <= la + lb + 2)).astype(jnp.int32)
  return {"tokens": tokens.astype(jnp.int32), "segments": segments, "is_next": is_next.astype(jnp.int32)}


def mask_tokens(key: Array, tokens: Array, *, vocab_size: int, mask_id: int, special_ids: tuple[int, ...],
                random_low: int, select_rate: float = 0.15, mask_rate: float = 0.8,
                random_rate: float = 0.1) -> dict[str, Array]:
  """BERT's masking rule.

  In each row, round(select_rate · n) of its n maskable tokens (at least 1 when n > 0) are selected uniformly
  without replacement; tokens in `special_ids` ([PAD], [CLS], [SEP], …) are never selected. Each selected token
  independently becomes [MASK] with probability mask_rate, a random word drawn uniformly from
  [random_low, vocab_size) with probability random_rate, and stays unchanged otherwise.

  Args: tokens int32[N, T].
  Returns: inputs int32[N, T] (the corrupted tokens), targets int32[N, T] (the original tokens),
    weights float32[N, T] (1 on selected positions: the MLM loss is taken there only), and
    kind int32[N, T] (0 not selected, 1 [MASK], 2 random word, 3 unchanged) for measuring the rates.
  """
  k_sel, k_kind, k_word = jax.random.split(key, 3)
  maskable = jnp.ones_like(tokens, dtype=bool)
  for s in special_ids:
    maskable &= tokens != s
  n = maskable.sum(1, keepdims=True)
  k = jnp.where(n > 0, jnp.maximum(jnp.round(select_rate * n), 1), 0)
  scores = jnp.where(maskable, jax.random.uniform(k_sel, tokens.shape), 2.0)  # specials rank last
  rank = jnp.argsort(jnp.argsort(scores, axis=1), axis=1)
  selected = (rank < k) & maskable
  u = jax.random.uniform(k_kind, tokens.shape)
  kind = jnp.where(~selected, 0, jnp.where(u < mask_rate, 1, jnp.where(u < mask_rate + random_rate, 2, 3)))
  random_words = jax.random.randint(k_word, tokens.shape, random_low, vocab_size)
  inputs = jnp.where(kind == 1, mask_id, jnp.where(kind == 2, random_words, tokens))
  return {"inputs": inputs.astype(jnp.int32), "targets": tokens, "weights": selected.astype(jnp.float32),
          "kind": kind.astype(jnp.int32)}


# ----------------------------------------------------------------------------------------------
# Hugging Face checkpoints.

_HF_ACT = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu",
           "silu": "silu"}
_OUR_ACT = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu", "silu": "silu"}


def _read_hf_weights(folder: str) -> dict[str, np.ndarray]:
  st, pt = os.path.join(folder, "model.safetensors"), os.path.join(folder, "pytorch_model.bin")
  if os.path.exists(st):
    from safetensors.numpy import load_file
    weights = load_file(st)
  elif os.path.exists(pt):
    try:
      import torch
    except ImportError:
      raise UserError(f"{pt} needs torch to read; install the `hf` extra or convert it to model.safetensors") from None
    weights = {k: v.float().numpy() for k, v in torch.load(pt, map_location="cpu", weights_only=True).items()}
  else:
    raise UserError(f"{folder} has neither model.safetensors nor pytorch_model.bin")
  # Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
  return {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"):
          np.asarray(v, np.float32) for k, v in weights.items()}


def model_from_hf_config(cfg: dict[str, Any], **overrides: Any) -> BertForPretraining:
  act = cfg.get("hidden_act", "gelu")
  if act not in _HF_ACT:
    raise UserError(f"hidden_act={act!r} in config.json is not supported; use one of {', '.join(_HF_ACT)}")
  return BertForPretraining(**{
      "vocab_size": cfg["vocab_size"], "d_model": cfg["hidden_size"], "num_heads": cfg["num_attention_heads"],
      "num_layers": cfg["num_hidden_layers"], "d_ff": cfg["intermediate_size"],
      "max_positions": cfg.get("max_position_embeddings", 512), "type_vocab_size": cfg.get("type_vocab_size", 2),
      "dropout_rate": cfg.get("hidden_dropout_prob", 0.1),
      "attention_dropout_rate": cfg.get("attention_probs_dropout_prob", 0.1), "activation": _HF_ACT[act],
      "layer_norm_eps": cfg.get("layer_norm_eps", 1e-12), "init_std": cfg.get("initializer_range", 0.02),
      "pad_id": cfg.get("pad_token_id", 0) or 0, **overrides})


def from_pretrained(path: str, **overrides: Any) -> tuple[BertForPretraining, dict[str, Any]]:
  """Loads a Hugging Face BERT folder → (BertForPretraining, params).

  A BertModel checkpoint (no MLM/NSP heads) loads too; its heads are then freshly initialized (seed 0).
  `overrides` replace model fields (e.g. dtype=jnp.bfloat16, dropout_rate=0.0).
  """
  try:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
      cfg = json.load(f)
  except FileNotFoundError:
    raise UserError(f"{path}/config.json not found; point from_pretrained at a Hugging Face BERT folder") from None
  model = model_from_hf_config(cfg, **overrides)
  w = _read_hf_weights(path)
  prefix = "bert." if any(k.startswith("bert.") for k in w) else ""
  d, h = model.d_model, model.num_heads
  dk = d // h

  def get(name: str) -> np.ndarray:
    key = prefix + name if not name.startswith("cls.") else name
    if key not in w:
      raise UserError(f"{path}: weight {key!r} is missing; is this a BERT checkpoint?")
    return w[key]

  def dense(name: str) -> dict[str, np.ndarray]:
    return {"kernel": get(f"{name}.weight").T, "bias": get(f"{name}.bias")}

  def norm(name: str) -> dict[str, np.ndarray]:
    return {"scale": get(f"{name}.weight"), "bias": get(f"{name}.bias")}

  enc: dict[str, Any] = {
      "embedder": {"token_embed": {"embedding": get("embeddings.word_embeddings.weight")},
                   "position_embed": {"embedding": get("embeddings.position_embeddings.weight")}},
      "embed_layer_norm": norm("embeddings.LayerNorm"),
  }
  for i in range(model.num_layers):
    p = f"encoder.layer.{i}."
    attn = {}
    for ours, theirs in (("query", "query"), ("key", "key"), ("value", "value")):
      attn[ours] = {"kernel": get(p + f"attention.self.{theirs}.weight").T.reshape(d, h, dk),
                    "bias": get(p + f"attention.self.{theirs}.bias").reshape(h, dk)}
    attn["out"] = {"kernel": get(p + "attention.output.dense.weight").T.reshape(h, dk, d),
                   "bias": get(p + "attention.output.dense.bias")}
    enc[f"layer_{i}"] = {
        "self_attention": attn, "attention_norm": norm(p + "attention.output.LayerNorm"),
        "ffn": {"dense_in": dense(p + "intermediate.dense"), "dense_out": dense(p + "output.dense")},
        "ffn_norm": norm(p + "output.LayerNorm"),
    }
  params: dict[str, Any] = {
      "bert": {"encoder": enc, "segment_embed": {"embedding": get("embeddings.token_type_embeddings.weight")}},
  }
  init = None
  if prefix + "pooler.dense.weight" in w:
    params["pooler"] = dense("pooler.dense")
  if "cls.predictions.bias" in w:
    params["mlm_transform"] = dense("cls.predictions.transform.dense")
    params["mlm_norm"] = norm("cls.predictions.transform.LayerNorm")
    params["mlm_bias"] = get("cls.predictions.bias")
  if "cls.seq_relationship.weight" in w:
    params["nsp"] = dense("cls.seq_relationship")
  missing = {"pooler", "mlm_transform", "mlm_norm", "mlm_bias", "nsp"} - set(params)
  if missing:
    dummy = jnp.zeros((1, 2), jnp.int32)
    init = model.init(jax.random.PRNGKey(0), dummy, dummy)["params"]
    for k in missing:
      params[k] = jax.device_get(init[k])
  params = jax.tree.map(lambda x: jnp.asarray(x, model.param_dtype), params)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2), jnp.int32),
                                             jnp.zeros((1, 2), jnp.int32))["params"])
  if jax.tree.structure(shapes) != jax.tree.structure(params) or any(
      a.shape != b.shape for a, b in zip(jax.tree.leaves(shapes), jax.tree.leaves(params), strict=True)):
    raise UserError(f"{path}: the weights do not fit the model described by config.json")
  return model, params


def save_pretrained(model: BertForPretraining | BertClassifier, params: dict[str, Any], path: str) -> None:
  """Writes config.json + model.safetensors in the BertForPreTraining layout (classifier heads are left out)."""
  from safetensors.numpy import save_file
  p = jax.tree.map(lambda x: np.asarray(x, np.float32), jax.device_get(params))
  d, h = model.d_model, model.num_heads
  out: dict[str, np.ndarray] = {}

  def put_dense(name: str, tree: dict[str, np.ndarray]) -> None:
    out[f"{name}.weight"] = tree["kernel"].T
    out[f"{name}.bias"] = tree["bias"]

  def put_norm(name: str, tree: dict[str, np.ndarray]) -> None:
    out[f"{name}.weight"], out[f"{name}.bias"] = tree["scale"], tree["bias"]

  enc = p["bert"]["encoder"]
  out["bert.embeddings.word_embeddings.weight"] = enc["embedder"]["token_embed"]["embedding"]
  out["bert.embeddings.position_embeddings.weight"] = enc["embedder"]["position_embed"]["embedding"]
  out["bert.embeddings.token_type_embeddings.weight"] = p["bert"]["segment_embed"]["embedding"]
  put_norm("bert.embeddings.LayerNorm", enc["embed_layer_norm"])
  for i in range(model.num_layers):
    layer, pre = enc[f"layer_{i}"], f"bert.encoder.layer.{i}."
    for name in ("query", "key", "value"):
      out[pre + f"attention.self.{name}.weight"] = layer["self_attention"][name]["kernel"].reshape(d, d).T
      out[pre + f"attention.self.{name}.bias"] = layer["self_attention"][name]["bias"].reshape(d)
    out[pre + "attention.output.dense.weight"] = layer["self_attention"]["out"]["kernel"].reshape(d, d).T
    out[pre + "attention.output.dense.bias"] = layer["self_attention"]["out"]["bias"]
    put_norm(pre + "attention.output.LayerNorm", layer["attention_norm"])
    put_dense(pre + "intermediate.dense", layer["ffn"]["dense_in"])
    put_dense(pre + "output.dense", layer["ffn"]["dense_out"])
    put_norm(pre + "output.LayerNorm", layer["ffn_norm"])
  put_dense("bert.pooler.dense", p["pooler"])
  if "mlm_transform" in p:
    put_dense("cls.predictions.transform.dense", p["mlm_transform"])
    put_norm("cls.predictions.transform.LayerNorm", p["mlm_norm"])
    out["cls.predictions.bias"] = p["mlm_bias"]
    out["cls.predictions.decoder.weight"] = out["bert.embeddings.word_embeddings.weight"]
    out["cls.predictions.decoder.bias"] = p["mlm_bias"]
    put_dense("cls.seq_relationship", p["nsp"])
  os.makedirs(path, exist_ok=True)
  # safetensors refuses tensors that share memory; the tied decoder is a copy here.
  save_file({k: np.ascontiguousarray(v).copy() for k, v in out.items()}, os.path.join(path, "model.safetensors"),
            metadata={"format": "pt"})
  cfg = {"architectures": ["BertForPreTraining"], "model_type": "bert", "vocab_size": model.vocab_size,
         "hidden_size": d, "num_hidden_layers": model.num_layers, "num_attention_heads": h,
         "intermediate_size": model.d_ff, "hidden_act": _OUR_ACT[model.activation],
         "hidden_dropout_prob": model.dropout_rate, "attention_probs_dropout_prob": model.attention_dropout_rate,
         "max_position_embeddings": model.max_positions, "type_vocab_size": model.type_vocab_size,
         "initializer_range": model.init_std, "layer_norm_eps": model.layer_norm_eps, "pad_token_id": model.pad_id}
  with open(os.path.join(path, "config.json"), "w", encoding="utf-8") as f:
    json.dump(cfg, f, indent=2)
