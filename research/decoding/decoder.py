"""The decoding harness: a model's step_fn, the search a config asks for, compiled once, run on batches.

Every token decoder of the framework (the LSTM encoder–decoder, Luong attention, the Transformer with its
KV-cache, the captioner, the LSTM language model) is decoded here, through

    make_step(model, variables, inputs, max_len) -> (step_fn, cache)

where `step_fn(tokens int32[B], cache) -> (log_probs float32[B, V], cache)` is research/decoding/search.py's
contract. `step_fns_for(model)` finds a model's builder: a module-level `decode_fns(model, variables, inputs,
max_len)` in the module that defines the class (research/models/seq2seq.py), or the class methods
`init_cache(inputs, max_len) -> cache` and `decode_step(tokens, cache) -> (logits, cache)` (the Transformer,
Luong attention); families whose builder takes other arguments pass their own `make_step` (captioning,
language models).

`DecodeSettings` names one search (greedy, beam, sample, exhaustive, with their options); `search()` runs it
on a (step_fn, cache) and returns [B, N, T] sequences best first; `Decoder` compiles one program per
(settings, input shape, parameter shapes) and times the searches without compilation. `decode_settings(config)`
reads `config.decode` (see `decode_config()` for the fields and their defaults).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict, config_dict

from research.decoding import search as S
from research.errors import UserError
from research.evaluation import bleu

StepFn = S.StepFn
MakeStep = Callable[[nn.Module, Any, Any, int], tuple[StepFn, Any]]

# Searches a config may name in config.decode.methods; 'exhaustive' is the oracle, for tiny V and T only.
METHODS = ("greedy", "beam", "sample")
ALL_METHODS = METHODS + ("exhaustive",)
_SRC_MULTIPLE = 8  # decode batches pad the source to a multiple of this (one compiled program per split)


# ----------------------------------------------------------------------------------------------------
# The one step_fn builder.


def logits_step_fn(model: nn.Module, variables: Any, method: str = "decode_step") -> StepFn:
  """step_fn over a model method `(tokens int32[B], cache) -> (logits [B, V], cache)`: log-softmax in float32."""
  def step_fn(tokens: jax.Array, cache: Any) -> tuple[jax.Array, Any]:
    logits, cache = model.apply(variables, tokens.astype(jnp.int32), cache, method=method)
    return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), cache
  return step_fn


def method_step_fns(model: nn.Module, variables: Any, inputs: Any, max_len: int) -> tuple[StepFn, Any]:
  """(step_fn, cache) from a model's `init_cache(inputs, max_len)` and `decode_step(tokens, cache)` methods."""
  cache = model.apply(variables, inputs, max_len, method="init_cache")
  return logits_step_fn(model, variables), cache


def step_fns_for(model: nn.Module | type) -> MakeStep:
  """The model's `make_step(model, variables, inputs, max_len) -> (step_fn, cache)` (see module docstring).

  Raises:
    UserError: the model offers neither a module-level `decode_fns` nor `init_cache`/`decode_step`.
  """
  cls = model if isinstance(model, type) else type(model)
  module_fn = getattr(sys.modules.get(cls.__module__), "decode_fns", None)
  if callable(module_fn):
    return module_fn
  if callable(getattr(cls, "init_cache", None)) and callable(getattr(cls, "decode_step", None)):
    return method_step_fns
  raise UserError(f"model {cls.__name__} cannot be decoded: give its module a decode_fns(model, variables, inputs, "
                  "max_len) function or the class init_cache/decode_step methods (see research/decoding/decoder.py)")


# ----------------------------------------------------------------------------------------------------
# One search, by name.


@dataclasses.dataclass(frozen=True)
class DecodeSettings:
  """One search configuration (hashable: the compile cache keys on it).

  method: 'greedy' | 'beam' | 'sample' | 'exhaustive'; beam_size K (beam, exhaustive); length_penalty α and
  length_penalty_type ('gnmt' | 'power', research/decoding/search.py); max_len: most generated tokens, eos and
  prefix included; temperature, top_k, top_p, num_samples, seed (sample); no_repeat_ngram_size (all methods);
  num_return_sequences: how many of the K beams (or N samples) come back, 0 = all.
  """

  method: str = "greedy"
  beam_size: int = 1
  length_penalty: float = 0.0
  max_len: int = 64
  length_penalty_type: str = "gnmt"
  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  num_samples: int = 1
  seed: int = 0
  no_repeat_ngram_size: int = 0
  num_return_sequences: int = 0

  @property
  def width(self) -> int:
    """Hypotheses per item that `search` returns."""
    full = {"greedy": 1, "sample": self.num_samples}.get(self.method, self.beam_size)
    return min(full, self.num_return_sequences) if self.num_return_sequences > 0 else full


def search(step_fn: StepFn, cache: Any, settings: DecodeSettings, *, batch_size: int, bos_id: int, eos_id: int,
           pad_id: int, rng: jax.Array | None = None, prefix: jax.Array | None = None,
           prefix_lengths: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """Runs `settings` on (step_fn, cache): → (sequences int32[B, N, T], scores float32[B, N]), best first.

  N = settings.width. Samples are ordered by the model's log-probability (a sample-and-rank list, as beams
  are); `rng` (a jax.random key) is required for 'sample' and ignored otherwise.
  """
  kw = dict(batch_size=batch_size, max_len=settings.max_len, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
  gen = dict(no_repeat_ngram_size=settings.no_repeat_ngram_size, prefix=prefix, prefix_lengths=prefix_lengths)
  n = settings.width
  if settings.method == "greedy":
    seqs, scores = S.greedy_search(step_fn, cache, **kw, **gen)
    return seqs[:, None, :], scores[:, None]
  if settings.method == "beam":
    return S.beam_search(step_fn, cache, beam_size=settings.beam_size, length_penalty=settings.length_penalty,
                         length_penalty_type=settings.length_penalty_type, num_return_sequences=n, **kw, **gen)
  if settings.method == "sample":
    if rng is None:
      raise ValueError("method 'sample' needs an rng key")
    seqs, scores = S.temperature_sample(step_fn, cache, rng, temperature=settings.temperature, top_k=settings.top_k,
                                        top_p=settings.top_p, num_samples=settings.num_samples, **kw, **gen)
    _, order = jax.lax.top_k(scores, n)
    return S.gather_beams(seqs, order), S.gather_beams(scores, order)
  if settings.method == "exhaustive":
    if settings.no_repeat_ngram_size or prefix is not None:
      raise UserError("exhaustive search scores every sequence: it takes neither no_repeat_ngram_size nor a prefix")
    seqs, scores = S.exhaustive_search(step_fn, cache, beam_size=settings.beam_size,
                                       length_penalty=settings.length_penalty,
                                       length_penalty_type=settings.length_penalty_type, **kw)
    return seqs[:, :n], scores[:, :n]
  raise UserError(f"decode method {settings.method!r} must be one of {ALL_METHODS}")


# ----------------------------------------------------------------------------------------------------
# The harness.


class Decoder:
  """Compiled searches over one model: `decode(variables, inputs, settings) -> (sequences, scores)`.

  Keeps one compiled program per (settings, input shape, variables' shapes and shardings, prefix shape),
  compiled ahead of time so `seconds` (the time spent running searches) never includes compilation.
  Sampling draws batch i with `fold_in(key(settings.seed), i)`: a split decodes to the same samples every
  evaluation, and its batches independently.
  """

  def __init__(self, model: nn.Module, *, bos_id: int, eos_id: int, pad_id: int, make_step: MakeStep | None = None):
    self.model, self.bos_id, self.eos_id, self.pad_id = model, bos_id, eos_id, pad_id
    self.make_step = make_step or step_fns_for(model)
    self._compiled: dict[Any, Any] = {}
    self.seconds = 0.0

  def _search(self, settings: DecodeSettings, variables: Any, inputs: Any, rng: jax.Array, prefix: Any
              ) -> tuple[jax.Array, jax.Array]:
    step_fn, cache = self.make_step(self.model, variables, inputs, settings.max_len)
    batch_size = jax.tree.leaves(inputs)[0].shape[0]
    tokens, lengths = prefix if prefix is not None else (None, None)
    return search(step_fn, cache, settings, batch_size=batch_size, bos_id=self.bos_id, eos_id=self.eos_id,
                  pad_id=self.pad_id, rng=rng, prefix=tokens, prefix_lengths=lengths)

  def compiled(self, settings: DecodeSettings, variables: Any, inputs: Any, prefix: Any = None) -> Any:
    def signature(tree):
      return jax.tree.structure(tree), tuple((jnp.shape(x), jnp.result_type(x), getattr(x, "sharding", None))
                                             for x in jax.tree.leaves(tree))
    key = (settings, signature(inputs), signature(variables), signature(prefix))
    if key not in self._compiled:
      fn = jax.jit(functools.partial(self._search, settings))
      self._compiled[key] = fn.lower(variables, inputs, jax.random.key(0), prefix).compile()
    return self._compiled[key]

  def decode(self, variables: Any, inputs: Any, settings: DecodeSettings, *, prefix: np.ndarray | None = None,
             prefix_lengths: np.ndarray | None = None, batch_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """inputs (e.g. src int32[B, S], pad_id-padded; images) → (sequences int32[B, N, max_len] best first,
    scores float32[B, N]). Sequences exclude <bos>, include the prefix and the first <eos>, pad_id after it.

    prefix: optional int32[B, P] forced first tokens, prefix_lengths int32[B] how many of them per row.
    """
    inputs = jax.tree.map(jnp.asarray, inputs)
    forced = None
    if prefix is not None:
      prefix = jnp.asarray(prefix, jnp.int32)
      lengths = (jnp.full((prefix.shape[0],), prefix.shape[1], jnp.int32) if prefix_lengths is None
                 else jnp.asarray(prefix_lengths, jnp.int32))
      forced = (prefix, lengths)
    run = self.compiled(settings, variables, inputs, forced)
    rng = jax.random.fold_in(jax.random.key(settings.seed), batch_index)
    start = time.perf_counter()
    seqs, scores = jax.device_get(run(variables, inputs, rng, forced))
    self.seconds += time.perf_counter() - start
    return np.asarray(seqs), np.asarray(scores)

  def translate(self, variables: Any, sources: Sequence[np.ndarray], settings: DecodeSettings, *,
                batch_size: int) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Decodes ragged source id sequences (no bos/eos) in fixed-shape batches; the 1-best of `translate_all`.

    Returns:
      (best hypothesis per sentence as int32[n_i] ids without <eos>/pads, its score float32[N],
       wall seconds of the searches, compilation excluded).
    """
    hyps, scores, seconds = self.translate_all(variables, sources, settings, batch_size=batch_size)
    return [h[0] for h in hyps], scores[:, 0], seconds

  def translate_all(self, variables: Any, sources: Sequence[np.ndarray], settings: DecodeSettings, *,
                    batch_size: int) -> tuple[list[list[np.ndarray]], np.ndarray, float]:
    """Every returned sequence per sentence: beam search's n-best (`num_return_sequences`) or the samples.

    Sentences are decoded in order of source length (similar lengths finish together, so the search's
    early exit fires sooner) and returned in the input order.

    Returns:
      (per sentence, R hypotheses as int32[n_i] ids without <eos>/pads, best first for beam search;
       their scores float32[N, R]; wall seconds of the searches, compilation excluded).
    """
    n = len(sources)
    if n == 0:
      return [], np.zeros((0, 1), np.float32), 0.0
    lengths = np.array([len(s) for s in sources])
    width = max(_SRC_MULTIPLE, -(-int(lengths.max()) // _SRC_MULTIPLE) * _SRC_MULTIPLE)
    rows = min(batch_size, -(-n // _SRC_MULTIPLE) * _SRC_MULTIPLE)
    order = np.argsort(lengths, kind="stable")
    hyps: list[list[np.ndarray]] = [[]] * n
    scores: np.ndarray | None = None
    before = self.seconds
    for batch_index, start in enumerate(range(0, n, rows)):
      idx = order[start:start + rows]
      src = np.full((rows, width), self.pad_id, np.int32)
      src[:, 0] = self.eos_id  # spare rows get a 1-token source so no encoder sees an all-pad row
      for r, i in enumerate(idx):
        src[r, :] = self.pad_id
        src[r, :len(sources[i])] = sources[i]
      seqs, seq_scores = self.decode(variables, src, settings, batch_index=batch_index)
      if scores is None:
        scores = np.zeros((n, seqs.shape[1]), np.float32)
      for r, i in enumerate(idx):
        hyps[i] = [np.asarray(bleu.strip_special(seq, eos_id=self.eos_id, drop_ids=(self.pad_id,)), np.int32)
                   for seq in seqs[r]]
        scores[i] = seq_scores[r]
    return hyps, scores, self.seconds - before


# ----------------------------------------------------------------------------------------------------
# Configuration.


def decode_config(**overrides: Any) -> ConfigDict:
  """`config.decode`'s search fields with their defaults; family configs add their own (splits, counts)."""
  c = ConfigDict(dict(
      methods=("greedy",),           # searches run at evaluation: any of greedy, beam, sample
      method=config_dict.placeholder(str),  # one search instead of `methods` (--config.decode.method=sample)
      beam_size=3,                   # K of beam search (1 = greedy)
      length_penalty=0.0,            # α of the length penalty; 0 = raw summed log-probabilities
      length_penalty_type="gnmt",    # 'gnmt': ((5 + len) / 6) ** α (= t5x brevity penalty); 'power': len ** α (HF)
      num_return_sequences=0,        # n-best length Decoder.decode returns (0 = all K beams / N samples)
      temperature=1.0,               # sample: divides the log-probs (→ 0: greedy)
      top_k=0,                       # sample: keep the k most likely tokens (0 = off)
      top_p=1.0,                     # sample: nucleus, the most likely tokens with this much mass (1 = off)
      num_samples=1,                 # sample: draws per input, ranked by model log-prob (the best is scored)
      seed=0,                        # sample: jax.random key of the draws
      no_repeat_ngram_size=0,        # every method: never repeat an n-gram (0 = off)
  ))
  for key, value in overrides.items():  # update() would refuse to set the placeholder's None to a value
    c[key] = value
  return c


def _int(d: ConfigDict, key: str, default: int, low: int, what: str) -> int:
  value = d.get(key, default)
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
    raise UserError(f"config.decode.{key}={value!r} must be an int >= {low} ({what})")
  return int(value)


def _float(d: ConfigDict, key: str, default: float) -> float:
  value = d.get(key, default)
  try:
    value = float(value)
  except (TypeError, ValueError):
    raise UserError(f"config.decode.{key}={value!r} must be a number") from None
  if not math.isfinite(value):
    raise UserError(f"config.decode.{key}={value} must be a finite number")
  return value


def decode_settings(config: ConfigDict, *, max_len: int | None = None) -> dict[str, DecodeSettings]:
  """config.decode → {method: DecodeSettings} for the methods evaluation runs, after range checks.

  `config.decode.method` (one name) is accepted as well as `methods` (a tuple); max_len defaults to
  `config.decode.max_decode_len` (64 if absent).
  """
  d = config.get("decode") or ConfigDict()
  methods = d.get("methods", ("greedy",))
  if d.get("method") is not None:
    methods = (d.get("method"),)
  methods = (methods,) if isinstance(methods, str) else tuple(methods)
  unknown = [m for m in methods if m not in METHODS]
  if unknown or not methods:
    raise UserError(f"config.decode.methods={methods} must be a non-empty subset of {METHODS}")
  beam_size = _int(d, "beam_size", 1, 1, "1 = greedy")
  if max_len is None:
    max_len = _int(d, "max_decode_len", 64, 1, "tokens generated before giving up on <eos>")
  alpha = _float(d, "length_penalty", 0.0)
  kind = d.get("length_penalty_type", "gnmt")
  if kind not in S.LENGTH_PENALTIES:
    raise UserError(f"config.decode.length_penalty_type={kind!r} must be one of {S.LENGTH_PENALTIES}")
  temperature = _float(d, "temperature", 1.0)
  if temperature < 0:
    raise UserError(f"config.decode.temperature={temperature} must be >= 0 (0 = greedy)")
  top_p = _float(d, "top_p", 1.0)
  if not 0.0 < top_p <= 1.0:
    raise UserError(f"config.decode.top_p={top_p} must be in (0, 1] (1 = off)")
  # Every field is checked, used or not, so a typo'd value fails before training rather than when it is switched on.
  sampling = dict(temperature=temperature, top_k=_int(d, "top_k", 0, 0, "0 = off"), top_p=top_p,
                  num_samples=_int(d, "num_samples", 1, 1, "draws per input"),
                  seed=_int(d, "seed", 0, 0, "a jax.random seed"))
  common = dict(max_len=int(max_len), no_repeat_ngram_size=_int(d, "no_repeat_ngram_size", 0, 0, "0 = off"),
                num_return_sequences=_int(d, "num_return_sequences", 0, 0, "0 = all"))
  out = {}
  for m in methods:
    if m == "greedy":
      out[m] = DecodeSettings("greedy", 1, 0.0, **common)
    elif m == "beam":
      out[m] = DecodeSettings("beam", beam_size, alpha, length_penalty_type=kind, **common)
    else:
      out[m] = DecodeSettings("sample", 1, 0.0, **sampling, **common)
  return out
