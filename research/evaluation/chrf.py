"""chrF (Popović 2015) and chrF++ (Popović 2017), numerically identical to sacrebleu 2.x's `CHRF`.

chrF compares character n-grams (n = 1..char_order, whitespace removed unless `whitespace=True`);
chrF++ adds word n-grams (n = 1..word_order; word_order=2 is the usual chrF++). For each order it
counts the hypothesis n-grams, the reference n-grams and the matches (each n-gram credited at most
as often as the reference has it). With P and R the precision and recall averaged over the orders
that occur in both the hypothesis and the reference ("effective order", sacrebleu's default),

    chrF_beta = 100 · (1 + beta²) · P · R / (beta² · P + R)      (beta = 2: recall counts 4× as much).

With `eps_smoothing=True` it is instead the mean over all orders of the per-order F-scores, an absent
order counting as 1e-16 (the chrF++.py / Moses / NLTK convention).

Corpus chrF is NOT the mean of sentence scores: the per-order counts are summed over the corpus and
the formula is applied once to the sums. For a sentence with several references, the counts of the
reference with the best sentence-level chrF are used (the first one on a tie). So the per-sentence
counts (`chrf_statistics`, [N, 3 · orders]) are sufficient statistics: a bootstrap resample's score is
`chrf_from_statistics` of a sum of rows, with no re-tokenization (see research.evaluation.stats).

sacrebleu is only a test dependency (tests/evaluation/test_chrf.py checks equality to 1e-6); this module is our own.
"""

from __future__ import annotations

import collections
import dataclasses
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from research.errors import UserError

CHAR_ORDER = 6
WORD_ORDER = 0  # chrF; chrF++ is word_order=2
BETA = 2
# Stand-in for a precision, recall or F-score that is undefined because an order has no n-grams.
_EPS = 1e-16
# chrF++'s word "tokenizer" splits one ASCII punctuation mark off the end (or else the start) of a word.
_PUNCTUATION = frozenset(string.punctuation)


class EvaluationInputError(UserError, ValueError):
  """Bad input to a metric or statistic in research.evaluation (empty, mismatched lengths, bad option).

  A UserError, so research.main prints it as one line; also a ValueError, as callers of a numeric
  function expect.
  """


@dataclasses.dataclass(frozen=True)
class ChrFScore:
  """A chrF result with its sufficient statistics.

  Attributes:
    score: chrF in 0..100.
    statistics: the per-sentence statistics summed over the corpus, 3 per order — (hypothesis n-grams,
      reference n-grams, matches) for character orders 1..char_order, then word orders 1..word_order;
      the layout of `chrf_statistics` and of sacrebleu's.
    char_order, word_order, beta: the options it was computed with.
  """
  score: float
  statistics: tuple[int, ...]
  char_order: int
  word_order: int
  beta: float

  @property
  def name(self) -> str:
    """sacrebleu's name: 'chrF2' for chrF, 'chrF2++' for word_order=2."""
    return f"chrF{self.beta}" + "+" * self.word_order

  def __str__(self) -> str:
    return f"{self.name} = {self.score:.2f}"


# ----------------------------------------------------------------------------------------------------
# n-gram statistics.


def _char_ngrams(text: str, char_order: int, whitespace: bool) -> list[collections.Counter]:
  if not whitespace:
    text = "".join(text.split())  # str.split: every Unicode whitespace, not only spaces
  return [collections.Counter(text[i:i + n] for i in range(len(text) - n + 1)) for n in range(1, char_order + 1)]


def _words(text: str) -> list[str]:
  """Whitespace tokens with one punctuation mark split off the end, or else off the start, of each.

  Only one mark per word, as the reference chrF++.py does: '(hi)' becomes '(hi' and ')'.
  """
  words = []
  for word in text.split():
    if len(word) > 1 and word[-1] in _PUNCTUATION:
      words += [word[:-1], word[-1]]
    elif len(word) > 1 and word[0] in _PUNCTUATION:
      words += [word[0], word[1:]]
    else:
      words.append(word)
  return words


def _ngrams(text: str, char_order: int, word_order: int, whitespace: bool) -> list[collections.Counter]:
  """Counters of the character n-grams of orders 1..char_order, then the word n-grams of orders 1..word_order."""
  counters = _char_ngrams(text, char_order, whitespace)
  if word_order > 0:
    words = _words(text)
    counters += [collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
                 for n in range(1, word_order + 1)]
  return counters


def _match_statistics(hyp: Sequence[collections.Counter], ref: Sequence[collections.Counter]) -> list[int]:
  """[hypothesis n-grams, reference n-grams, matches] per order, flattened."""
  stats = []
  for hyp_counts, ref_counts in zip(hyp, ref, strict=True):
    matches = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items() if g in ref_counts)
    # Against a reference without n-grams of this order the order carries no information, so its
    # hypothesis n-grams are not counted either (sacrebleu's rule; it keeps the order out of P and R).
    stats += [sum(hyp_counts.values()) if ref_counts else 0, sum(ref_counts.values()), matches]
  return stats


def _f_score(stats: Sequence[Any], beta: float, eps_smoothing: bool) -> Any:
  """chrF of summed statistics, in the scalar type of `stats` (python/numpy ints, numpy float32, ...).

  The operations and their order are sacrebleu's, one for one, and no value is converted to a Python
  float: sacrebleu's bootstrap sums statistics in float32, and under NumPy 2's promotion rules its
  scores are then float32 too; doing the same arithmetic makes the paired tests' scores bit-identical.
  """
  factor = beta ** 2
  order = len(stats) // 3
  f_sum = 0.0
  prec_sum, rec_sum, effective_order = 0.0, 0.0, 0
  for i in range(order):
    n_hyp, n_ref, n_match = stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]
    prec = n_match / n_hyp if n_hyp > 0 else _EPS
    rec = n_match / n_ref if n_ref > 0 else _EPS
    if eps_smoothing:
      denom = factor * prec + rec
      f_sum += (1 + factor) * prec * rec / denom if denom > 0 else _EPS
    elif n_hyp > 0 and n_ref > 0:
      prec_sum += prec
      rec_sum += rec
      effective_order += 1
  if eps_smoothing:
    return 100 * f_sum / order
  if effective_order == 0:
    return 0.0
  prec_avg, rec_avg = prec_sum / effective_order, rec_sum / effective_order
  if prec_avg + rec_avg == 0:
    return 0.0
  return 100 * ((1 + factor) * prec_avg * rec_avg / (factor * prec_avg + rec_avg))


def chrf_from_statistics(stats_sum: Sequence[float] | np.ndarray, *, beta: float = BETA,
                         eps_smoothing: bool = False) -> float:
  """chrF in 0..100 from statistics summed over sentences (a row layout of `chrf_statistics`).

  Args:
    stats_sum: [3 · orders] — (hypothesis n-grams, reference n-grams, matches) per order; the number
      of orders is len(stats_sum) / 3.
    beta, eps_smoothing: as in `corpus_chrf`.
  """
  stats_sum = np.asarray(stats_sum)
  if stats_sum.ndim != 1 or not len(stats_sum) or len(stats_sum) % 3:
    raise EvaluationInputError(f"chrF statistics must be a 1-D array of 3 values per n-gram order, got shape "
                               f"{stats_sum.shape}; sum the rows of chrf_statistics(...) first")
  return float(_f_score(stats_sum.tolist(), beta, eps_smoothing))


# ----------------------------------------------------------------------------------------------------
# Input checks.


def _check_options(char_order: int, word_order: int, beta: float) -> None:
  for name, value in (("char_order", char_order), ("word_order", word_order)):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
      raise EvaluationInputError(f"{name} must be an int >= 0, got {value!r}")
  if char_order + word_order == 0:
    raise EvaluationInputError("char_order + word_order must be >= 1; chrF needs at least one n-gram order")
  if isinstance(beta, bool) or not isinstance(beta, int | float | np.number) or not beta >= 0:
    raise EvaluationInputError(f"beta must be a number >= 0 (recall's weight relative to precision), got {beta!r}")


def _segment_references(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]],
                        metric: str) -> list[list[str]]:
  """Validates sacrebleu's layout (reference streams parallel to the hypotheses, None = no reference)
  and returns each hypothesis' references, item-major. Shared with research.evaluation.stats."""
  if isinstance(hypotheses, str) or not isinstance(hypotheses, Sequence | np.ndarray):
    raise EvaluationInputError(f"hypotheses must be a list of strings, got {type(hypotheses).__name__}")
  if not len(hypotheses):
    raise EvaluationInputError(f"hypotheses is empty; {metric} needs at least one segment")
  for i, line in enumerate(hypotheses):
    if not isinstance(line, str):
      raise EvaluationInputError(f"hypotheses[{i}] is {type(line).__name__}, not a string")
  if (isinstance(references, str) or not isinstance(references, Sequence) or not references
      or isinstance(references[0], str)):
    raise EvaluationInputError("references must be a list of reference streams (lists of strings parallel to "
                               "the hypotheses), e.g. [refs] for one reference per hypothesis")
  for j, stream in enumerate(references):
    if isinstance(stream, str) or not isinstance(stream, Sequence | np.ndarray):
      raise EvaluationInputError(f"reference stream {j} is {type(stream).__name__}, not a list of strings")
    if len(stream) != len(hypotheses):
      raise EvaluationInputError(f"reference stream {j} has {len(stream)} segments but there are "
                                 f"{len(hypotheses)} hypotheses; every stream must have one entry per hypothesis")
    for i, line in enumerate(stream):
      if line is not None and not isinstance(line, str):
        raise EvaluationInputError(f"references[{j}][{i}] is {type(line).__name__}, not a string or None")
  per_segment = []
  for i, refs in enumerate(zip(*references, strict=True)):
    present = [r for r in refs if r is not None]
    if not present:
      raise EvaluationInputError(f"hypothesis {i} has no reference (all streams hold None); give it at least one")
    per_segment.append(present)
  return per_segment


# ----------------------------------------------------------------------------------------------------
# Public entry points.


def chrf_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *,
                    char_order: int = CHAR_ORDER, word_order: int = WORD_ORDER, beta: float = BETA,
                    lowercase: bool = False, whitespace: bool = False, eps_smoothing: bool = False) -> np.ndarray:
  """Per-sentence chrF sufficient statistics.

  Args: as `corpus_chrf` (beta and eps_smoothing matter here because they decide which reference is best).

  Returns:
    int64[N, 3 · (char_order + word_order)]: row i holds, per order (character orders first), the
    hypothesis n-grams, reference n-grams and matches of hypothesis i against its best reference.
    Summing rows and applying `chrf_from_statistics` gives the corpus chrF of those sentences.
  """
  _check_options(char_order, word_order, beta)
  refs_per_hyp = _segment_references(hypotheses, references, "chrF")

  def ngrams(line: str) -> list[collections.Counter]:
    return _ngrams(line.lower() if lowercase else line, char_order, word_order, whitespace)

  rows = []
  for hyp, refs in zip(hypotheses, refs_per_hyp, strict=True):
    hyp_ngrams = ngrams(hyp)
    best, best_f = None, -1.0
    for ref in refs:
      stats = _match_statistics(hyp_ngrams, ngrams(ref))
      f = _f_score(stats, beta, eps_smoothing)
      if f > best_f:  # strict: the first of equally good references wins
        best, best_f = stats, f
    rows.append(best)
  return np.asarray(rows, dtype=np.int64).reshape(len(rows), 3 * (char_order + word_order))


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *,
                char_order: int = CHAR_ORDER, word_order: int = WORD_ORDER, beta: float = BETA,
                lowercase: bool = False, whitespace: bool = False, eps_smoothing: bool = False) -> ChrFScore:
  """Corpus chrF (word_order=0) or chrF++ (word_order=2) of detokenized strings.

  Args:
    hypotheses: N system outputs.
    references: sacrebleu's layout — a list of reference STREAMS, each a list of N strings parallel to
      `hypotheses` (`references[j][i]` is the j-th reference of hypothesis i); a `None` entry means no
      j-th reference for that hypothesis, allowing a varying number of references.
    char_order: largest character n-gram order (6).
    word_order: largest word n-gram order (0 = chrF, 2 = chrF++).
    beta: recall's weight relative to precision (2).
    lowercase: lowercase hypotheses and references first.
    whitespace: keep whitespace inside character n-grams (by default it is removed first).
    eps_smoothing: average per-order F-scores with 1e-16 for absent orders (chrF++.py, Moses, NLTK)
      instead of sacrebleu's default effective-order averaging of precision and recall.

  Returns:
    ChrFScore with score in 0..100 and the summed statistics.
  """
  stats = chrf_statistics(hypotheses, references, char_order=char_order, word_order=word_order, beta=beta,
                          lowercase=lowercase, whitespace=whitespace, eps_smoothing=eps_smoothing)
  total = [int(v) for v in stats.sum(axis=0)]
  return ChrFScore(float(_f_score(total, beta, eps_smoothing)), tuple(total), char_order, word_order, beta)


def sentence_chrf(hypothesis: str, references: Sequence[str], *, char_order: int = CHAR_ORDER,
                  word_order: int = WORD_ORDER, beta: float = BETA, lowercase: bool = False,
                  whitespace: bool = False, eps_smoothing: bool = False) -> ChrFScore:
  """chrF of one hypothesis against its references (a list of strings), as sacrebleu's `sentence_chrf`.

  The corpus chrF is not the mean of these; use `corpus_chrf` for a test set.
  """
  if not isinstance(hypothesis, str):
    raise EvaluationInputError(f"sentence_chrf takes one hypothesis string, got {type(hypothesis).__name__}")
  if isinstance(references, str) or not isinstance(references, Sequence):
    raise EvaluationInputError("sentence_chrf takes a list of reference strings; wrap a single reference as [ref]")
  return corpus_chrf([hypothesis], [[r] for r in references], char_order=char_order, word_order=word_order,
                     beta=beta, lowercase=lowercase, whitespace=whitespace, eps_smoothing=eps_smoothing)
