"""Per-example decoding outputs of a run, saved so a report can put confidence intervals and paired tests on them.

At each evaluation the seq2seq and captioning tasks write, per decoded split and search, WORKDIR/decodes/<split>.<method>.jsonl
(next to the 1-best .txt; a name ending in .gz is gzip-compressed): a header line, then one JSON object per
test sentence, in test order:

    {"format": "research.decodes/1", "split": "test", "method": "beam", "step": 2000,
     "bleu_tokenize": "13a", "lowercase": false}
    {"id": 0, "reference": "...", "hypotheses": ["best", "2nd", ...], "scores": [-3.1, -3.4, ...],
     "source_length": 12, "bleu_stats": [hyp_len, ref_len, m1..m4, t1..t4], "chrf_stats": [...]}

An example with several references (image captions) has "references": ["...", "..."] instead of "reference",
and its statistics are multi-reference BLEU's and chrF's (sacrebleu's reference streams).

`hypotheses` holds every returned sequence: the n-best list of beam search (`num_return_sequences`) or the
samples of temperature sampling (`num_samples`), best score first for beam. `bleu_stats` / `chrf_stats` are the
1-best hypothesis's sufficient statistics (research/evaluation/stats.py), so corpus scores, bootstrap CIs and
paired tests against another run on the same sentences need no re-tokenization:

    a, b = read_decodes(path_a), read_decodes(path_b)
    a.bleu_ci()                 # Interval(BLEU, low, high), resampling sentences
    paired_bleu(a, b).p_value   # sacrebleu's paired bootstrap, from the saved statistics
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from research.errors import UserError
from research.evaluation import chrf, stats

FORMAT = "research.decodes/1"
# The metric functions sacrebleu's paired tests use (scalar type of the resampled sums kept), as stats' wrappers.
_BLEU_IN_FLOAT32 = stats.paired_bleu_metric()
_CHRF_IN_FLOAT32 = stats.paired_chrf_metric()


@dataclasses.dataclass(frozen=True)
class Decodes:
  """One split decoded by one search: references [N] (a string, or a list of strings where an example has
  several, as image captions do), hypotheses [N][R] (R returned per sentence, best first),
  scores float32[N, R], bleu_stats int64[N, 10], chrf_stats int64[N, 18] (of the 1-best), source_lengths
  int64[N] (source tokens, -1 where unknown), and the header."""

  header: dict
  references: list[str | list[str]]
  hypotheses: list[list[str]]
  scores: np.ndarray
  bleu_stats: np.ndarray
  chrf_stats: np.ndarray
  source_lengths: np.ndarray

  @property
  def best(self) -> list[str]:
    return [h[0] if h else "" for h in self.hypotheses]

  def bleu(self) -> float:
    return stats.bleu_from_statistics(self.bleu_stats.sum(0))

  def chrf(self) -> float:
    return chrf.chrf_from_statistics(self.chrf_stats.sum(0))

  def bleu_ci(self, **kw) -> stats.Interval:
    """Bootstrap CI of corpus BLEU over sentences (kw: num_samples, confidence, seed of stats.bootstrap_ci)."""
    return stats.bootstrap_ci(self.bleu_stats, stats.bleu_from_statistics, **kw)

  def chrf_ci(self, **kw) -> stats.Interval:
    return stats.bootstrap_ci(self.chrf_stats, chrf.chrf_from_statistics, **kw)

  def subset(self, index: Sequence[int] | np.ndarray) -> Decodes:
    """The sentences at `index` (e.g. one source-length bucket), for per-bucket CIs and tests."""
    index = np.asarray(index, np.int64)
    return Decodes(self.header, [self.references[i] for i in index], [self.hypotheses[i] for i in index],
                   self.scores[index], self.bleu_stats[index], self.chrf_stats[index], self.source_lengths[index])


def _open(path: str, mode: str) -> IO[str]:
  """Text file, gzip-compressed when the name ends in .gz (or .gz.tmp)."""
  if path.removesuffix(".tmp").endswith(".gz"):
    return gzip.open(path, mode + "t", encoding="utf-8")
  return open(path, mode, encoding="utf-8")


def reference_streams(references: Sequence[str | Sequence[str]]) -> list[list[str | None]]:
  """Per-example references (one string, or a list of several) as sacrebleu's reference streams: stream j holds
  every example's j-th reference, None where an example has fewer."""
  lists = [[r] if isinstance(r, str) else list(r) for r in references]
  width = max((len(r) for r in lists), default=1)
  return [[r[j] if j < len(r) else None for r in lists] for j in range(width)]


def write_decodes(path: str, references: Sequence[str | Sequence[str]], hypotheses: Sequence[Sequence[str]],
                  scores: np.ndarray, *, header: dict, source_lengths: Sequence[int] | None = None,
                  bleu_tokenize: str = "13a", lowercase: bool = False) -> Decodes:
  """Computes the 1-best statistics and writes `path` atomically (a crash never leaves half a file).

  `references[i]` is example i's reference, or a list of its references (multi-reference BLEU and chrF, written
  as "references" in the file)."""
  if len(references) != len(hypotheses) or len(scores) != len(hypotheses):
    raise ValueError(f"{len(references)} references, {len(hypotheses)} hypothesis lists, {len(scores)} score rows")
  best = [h[0] if h else "" for h in hypotheses]
  references = [r if isinstance(r, str) else list(r) for r in references]
  streams, hyps = reference_streams(references), best
  if lowercase:  # as the task's corpus BLEU and chrF: a lowercasing vocabulary cannot produce capitals
    streams = [[r.lower() if r is not None else None for r in stream] for stream in streams]
    hyps = [h.lower() for h in hyps]
  bleu_stats = stats.bleu_statistics(hyps, streams, tokenize=bleu_tokenize)
  chrf_stats = chrf.chrf_statistics(hyps, streams)
  head = {"format": FORMAT, **header, "bleu_tokenize": bleu_tokenize, "lowercase": bool(lowercase)}
  scores = np.asarray(scores, np.float32).reshape(len(hypotheses), -1)
  lengths = np.full(len(hypotheses), -1, np.int64) if source_lengths is None else np.asarray(source_lengths, np.int64)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with _open(path + ".tmp", "w") as f:
    f.write(json.dumps(head) + "\n")
    for i, (ref, hyp_list) in enumerate(zip(references, hypotheses, strict=True)):
      f.write(json.dumps({"id": i, "reference" if isinstance(ref, str) else "references": ref,
                          "hypotheses": list(hyp_list),
                          "scores": [float(s) for s in scores[i]], "source_length": int(lengths[i]),
                          "bleu_stats": bleu_stats[i].tolist(),
                          "chrf_stats": chrf_stats[i].tolist()}, ensure_ascii=False) + "\n")
  os.replace(path + ".tmp", path)
  return Decodes(head, references, [list(h) for h in hypotheses], scores, bleu_stats, chrf_stats, lengths)


def read_decodes(path: str) -> Decodes:
  """Reads a file `write_decodes` wrote; a missing, torn or foreign file is one UserError naming it."""
  try:
    with _open(path, "r") as f:
      raw = f.read().splitlines()
  except FileNotFoundError:
    raise UserError(f"no decodes at {path}: evaluate the run with config.decode.splits including that split "
                    "(the seq2seq and captioning tasks write decodes/<split>.<method>.jsonl)") from None
  lines = []
  for number, line in enumerate(raw, 1):
    if line.strip():
      try:
        lines.append(json.loads(line))
      except json.JSONDecodeError:
        raise UserError(f"{path} line {number} is not JSON (torn write?); re-run the evaluation "
                        "(python -m research.main ... --config.mode=evaluate)") from None
  if not lines or lines[0].get("format") != FORMAT:
    raise UserError(f"{path} is not a {FORMAT} file")
  rows = lines[1:]
  width = max((len(r["scores"]) for r in rows), default=1)
  scores = np.full((len(rows), width), np.nan, np.float32)
  for i, r in enumerate(rows):
    scores[i, :len(r["scores"])] = r["scores"]
  return Decodes(lines[0], [r["reference"] if "reference" in r else r["references"] for r in rows], [r["hypotheses"] for r in rows], scores,
                 np.asarray([r["bleu_stats"] for r in rows], np.int64).reshape(len(rows), -1),
                 np.asarray([r["chrf_stats"] for r in rows], np.int64).reshape(len(rows), -1),
                 np.asarray([r.get("source_length", -1) for r in rows], np.int64))


def _check_same_sentences(a: Decodes, b: Decodes) -> None:
  if a.references != b.references:
    raise UserError(f"the two decodes are not of the same test sentences ({len(a.references)} vs "
                    f"{len(b.references)} references, or in another order); a paired test needs the same set")


def paired_bleu(a: Decodes, b: Decodes, **kw) -> stats.PairedTestResult:
  """sacrebleu's paired bootstrap on BLEU of system b against baseline a, from the saved statistics (kw:
  num_samples, seed). Equal to stats.paired_bootstrap_bleu on the texts."""
  _check_same_sentences(a, b)
  return stats.paired_bootstrap(a.bleu_stats, b.bleu_stats, _BLEU_IN_FLOAT32, resample_dtype=np.float32, **kw)


def paired_chrf(a: Decodes, b: Decodes, **kw) -> stats.PairedTestResult:
  """sacrebleu's paired bootstrap on chrF of b against a, from the saved statistics."""
  _check_same_sentences(a, b)
  return stats.paired_bootstrap(a.chrf_stats, b.chrf_stats, _CHRF_IN_FLOAT32, resample_dtype=np.float32, **kw)



# ----------------------------------------------------------------------------------------------------
# Per-example outputs of classifiers and language models.

EXAMPLES_FORMAT = "research.examples/1"


@dataclasses.dataclass(frozen=True)
class Examples:
  """One evaluated split, one row per example in evaluation order: `columns[name]` is an array [N].

  Classifiers write label, prediction, correct (0/1) and nll (nats); language models nll (summed over the
  example's tokens) and tokens. WORKDIR/examples/<split>.jsonl holds them (research/train/loop.py).
  """

  header: dict
  columns: dict[str, np.ndarray]

  def __len__(self) -> int:
    return len(next(iter(self.columns.values()))) if self.columns else 0

  def _column(self, name: str) -> np.ndarray:
    if name not in self.columns:
      raise UserError(f"these per-example outputs have no {name!r} column (columns: {', '.join(self.columns)}); "
                      "they come from a task that does not produce it")
    return self.columns[name]

  def accuracy(self) -> float:
    return float(self._column("correct").mean())

  def accuracy_ci(self, **kw) -> stats.Interval:
    """Bootstrap CI of accuracy over examples (kw: num_samples, confidence, seed)."""
    return stats.accuracy_ci(self._column("correct"), **kw)

  def perplexity_ci(self, **kw) -> stats.Interval:
    """Bootstrap CI of exp(Σ nll / Σ tokens), resampling examples."""
    return stats.perplexity_ci(self._column("nll"), self._column("tokens"), **kw)

  def subset(self, index: Sequence[int] | np.ndarray) -> Examples:
    index = np.asarray(index, np.int64)
    return Examples(self.header, {k: v[index] for k, v in self.columns.items()})


def write_examples(path: str, columns: dict[str, Any], *, header: dict) -> Examples:
  """Writes per-example columns (equal-length 1-D arrays) atomically as JSONL: a header, then one object per row."""
  cols = {k: np.asarray(v).reshape(-1) for k, v in columns.items()}
  lengths = {len(v) for v in cols.values()}
  if len(lengths) > 1:
    raise ValueError(f"columns of different lengths: { {k: len(v) for k, v in cols.items()} }")
  head = {"format": EXAMPLES_FORMAT, **header}
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  names = list(cols)
  with _open(path + ".tmp", "w") as f:
    f.write(json.dumps(head) + "\n")
    for i, row in enumerate(zip(*(cols[k].tolist() for k in names), strict=True)):
      f.write(json.dumps({"id": i, **dict(zip(names, row, strict=True))}) + "\n")
  os.replace(path + ".tmp", path)
  return Examples(head, cols)


def read_examples(path: str) -> Examples:
  """Reads a file `write_examples` wrote; a missing, torn or foreign file is one UserError naming it."""
  try:
    with _open(path, "r") as f:
      raw = [line for line in f.read().splitlines() if line.strip()]
  except FileNotFoundError:
    raise UserError(f"no per-example outputs at {path}: evaluate the run (classification and language-model "
                    "tasks write examples/<split>.jsonl at every evaluation)") from None
  try:
    lines = [json.loads(line) for line in raw]
  except json.JSONDecodeError:
    raise UserError(f"{path} has a line that is not JSON (torn write?); re-run the evaluation "
                    "(python -m research.main ... --config.mode=evaluate)") from None
  if not lines or lines[0].get("format") != EXAMPLES_FORMAT:
    raise UserError(f"{path} is not a {EXAMPLES_FORMAT} file")
  rows = lines[1:]
  names = [k for k in (rows[0] if rows else {}) if k != "id"]
  return Examples(lines[0], {k: np.asarray([r[k] for r in rows]) for k in names})


def _check_same_examples(a: Examples, b: Examples) -> None:
  same = len(a) == len(b) and ("label" not in a.columns or "label" not in b.columns
                                or np.array_equal(a.columns["label"], b.columns["label"]))
  if not same:
    raise UserError(f"the two per-example outputs are not of the same test examples ({len(a)} vs {len(b)} rows, "
                    "or other labels in another order); a paired test needs the same set")


def paired_accuracy(a: Examples, b: Examples, *, test: str = "bootstrap", **kw) -> stats.PairedTestResult:
  """Paired test on accuracy of system b against baseline a on the same examples: 'bootstrap' (Koehn 2004, as
  sacrebleu's --paired-bs; kw num_samples, seed) or 'randomization' (approximate randomization; kw num_trials)."""
  _check_same_examples(a, b)
  ca = a._column("correct").astype(np.float64)[:, None]
  cb = b._column("correct").astype(np.float64)[:, None]
  n = len(a)

  def accuracy_of(s: np.ndarray) -> float:
    return float(s[0]) / n

  if test == "bootstrap":
    return same_outcomes_p(ca, cb, stats.paired_bootstrap(ca, cb, accuracy_of, **kw))
  if test == "randomization":
    return same_outcomes_p(ca, cb, stats.approximate_randomization(ca, cb, accuracy_of, **kw))
  raise UserError(f"paired test {test!r}: use 'bootstrap' or 'randomization'")


def same_outcomes_p(stats_a: np.ndarray, stats_b: np.ndarray, result: stats.PairedTestResult) -> stats.PairedTestResult:
  """p = 1 when the two systems' per-example outcomes are identical. The tests count resamples whose difference
  strictly exceeds the observed one (sacrebleu's convention, kept for BLEU/chrF equality with it), which for two
  identical classifiers gives the smallest p, 1/(n+1), instead of "no evidence of a difference"."""
  return dataclasses.replace(result, p_value=1.0) if np.array_equal(stats_a, stats_b) else result
