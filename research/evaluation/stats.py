"""Evaluation statistics for experiment reports: bootstrap confidence intervals, paired significance
tests between two systems, and mean ± t-interval over training seeds.

Every resampling function works on per-example SUFFICIENT STATISTICS, an array [N, ...] whose rows sum
to what the metric needs: (correct,) for accuracy, (nll, tokens) for perplexity, BLEU's per-sentence
n-gram counts (`bleu_statistics`), chrF's (`research.evaluation.chrf.chrf_statistics`). A resample
then costs a sum of rows and one `metric_fn` call, never a re-tokenization.

- `bootstrap_ci`: percentile bootstrap interval of one system's metric (resampling examples with
  replacement); `accuracy_ci`, `perplexity_ci`, `bleu_ci`, `chrf_ci` build the statistics for you.
- `paired_bootstrap` / `approximate_randomization`: p-values for "system b differs from baseline a"
  on the same test set; `paired_bootstrap_bleu`, `paired_ar_bleu`, `paired_bootstrap_chrf`,
  `paired_ar_chrf` for text; `paired_bleu_metric` / `paired_chrf_metric` are their metric functions, for
  statistics saved earlier (research.evaluation.outputs).
- `seed_summary`: mean, sample std and Student-t half-width of a metric over seeds.

The paired tests reproduce sacrebleu 2.x's `PairedTest` (`--paired-bs`, `--paired-ar`) bit for bit
on the same inputs and seed (tests/evaluation/test_stats.py checks p-values, means and CIs for equality):
- the same random draws: `np.random.default_rng(seed)`, then `rng.choice(N, (samples, N))` for the
  bootstrap, or `rng.integers(2, (trials, N), dtype=bool)` swap masks for randomization;
- the default seed is sacrebleu's, 12345 (what it uses unless $SACREBLEU_SEED is set; pass that value
  as `seed` to reproduce such a run). seed=None draws fresh OS entropy. sacrebleu treats seed 0 as
  None in its paired tests, so a sacrebleu run with SACREBLEU_SEED=0 cannot be reproduced;
- its p-values: (1 + #{trials with statistic > observed}) / (1 + trials). The bootstrap statistic is
  |b - a| of a resample minus its mean over resamples (Koehn 2004's test, centered under H0); the
  randomization statistic is |b' - a'| after swapping each sentence's outputs with probability 1/2.
  Since the count is strict, two identical systems get p = 1 / (1 + samples) from either test, not 1;
- its CI: mean ± half the spread between the order statistics n // 40 and n - n // 40 - 1 of the
  resampled scores (a 95% interval);
- its arithmetic: resampled sums in float32, hence (NumPy 2 promotion) float32 chrF scores and
  float32-rounded BLEU precisions. The BLEU and chrF wrappers ask for it with
  `resample_dtype=np.float32`; float64 would move means by ~1e-6
  and could flip a p-value's count at a near-tie.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import scipy.special

from research.evaluation import bleu, chrf
from research.evaluation.chrf import EvaluationInputError

# sacrebleu's seed for bootstrap resampling and paired tests when $SACREBLEU_SEED is unset.
SACREBLEU_SEED = 12345
# Rows of swap masks multiplied at once in approximate randomization; bounds the int64 temporaries.
_AR_CHUNK = 512

MetricFn = Callable[[np.ndarray], Any]


# ----------------------------------------------------------------------------------------------------
# Result types and formatting.


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate with a confidence interval."""
  estimate: float
  low: float
  high: float

  def fmt(self, digits: int = 3) -> str:
    """'0.712 [0.690, 0.735]'."""
    return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

  def __str__(self) -> str:
    return self.fmt()


def format_p(p: float, digits: int = 3) -> str:
  """'p=0.003', or 'p<0.001' below the smallest value `digits` decimals can show."""
  if not 0.0 <= p <= 1.0:
    raise EvaluationInputError(f"a p-value must be in [0, 1], got {p!r}")
  floor = 10.0 ** -digits
  if p < floor:
    return f"p<{floor:.{digits}f}"
  return f"p={p:.{digits}f}"


@dataclasses.dataclass(frozen=True)
class SystemEstimate:
  """One system's score in a paired test, with sacrebleu's bootstrap mean and 95% half-width (or None)."""
  score: float
  mean: float | None = None
  ci: float | None = None

  def fmt(self, digits: int = 2) -> str:
    """sacrebleu's form: '27.31 (μ = 27.30 ± 1.02)', or just the score without a bootstrap estimate."""
    if self.mean is None or self.ci is None:
      return f"{self.score:.{digits}f}"
    return f"{self.score:.{digits}f} (μ = {self.mean:.{digits}f} ± {self.ci:.{digits}f})"


@dataclasses.dataclass(frozen=True)
class PairedTestResult:
  """Outcome of a paired test of `system` against `baseline` on the same examples.

  Attributes:
    test: 'bs' (paired bootstrap) or 'ar' (approximate randomization).
    baseline, system: scores (and bootstrap mean / CI where computed).
    p_value: probability under "no difference" of a difference at least as extreme as observed.
    num_samples: bootstrap resamples or randomization trials.
    seed: the RNG seed (None: OS entropy).
  """
  test: str
  baseline: SystemEstimate
  system: SystemEstimate
  p_value: float
  num_samples: int
  seed: int | None

  def fmt(self, digits: int = 2) -> str:
    kind = {"bs": "paired bootstrap", "ar": "approximate randomization"}[self.test]
    return (f"baseline {self.baseline.fmt(digits)} | system {self.system.fmt(digits)} | {format_p(self.p_value)} "
            f"({kind}, {self.num_samples} samples, seed {self.seed})")

  def __str__(self) -> str:
    return self.fmt()


class SeedSummary(NamedTuple):
  """Mean, sample standard deviation (ddof=1) and Student-t CI half-width of values over seeds."""
  mean: float
  std: float
  half_width: float

  def interval(self) -> Interval:
    return Interval(self.mean, self.mean - self.half_width, self.mean + self.half_width)

  def fmt(self, digits: int = 3) -> str:
    """'0.712 ± 0.011' (mean ± t half-width)."""
    return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


# ----------------------------------------------------------------------------------------------------
# Input checks.


def _as_stats(values: Any, name: str) -> np.ndarray:
  """A numeric array [N, ...] with N >= 1 and finite entries."""
  array = np.asarray(values)
  if array.dtype == bool:
    array = array.astype(np.int64)
  if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
    raise EvaluationInputError(f"{name} must be numeric, got dtype {array.dtype}")
  if array.ndim == 0:
    raise EvaluationInputError(f"{name} must be an array with one row per example, got a scalar")
  if array.shape[0] == 0:
    raise EvaluationInputError(f"{name} is empty; a confidence interval needs at least one example")
  if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
    raise EvaluationInputError(f"{name} holds NaN or infinite values")
  return array


def _check_count(value: int, name: str) -> int:
  if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
    raise EvaluationInputError(f"{name} must be an int >= 1, got {value!r}")
  return int(value)


def _check_confidence(confidence: float) -> float:
  if not 0.0 < confidence < 1.0:
    raise EvaluationInputError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
  return float(confidence)


def _check_paired(stats_a: Any, stats_b: Any) -> tuple[np.ndarray, np.ndarray]:
  a, b = _as_stats(stats_a, "stats_a"), _as_stats(stats_b, "stats_b")
  if a.shape != b.shape:
    raise EvaluationInputError(f"stats_a has shape {a.shape} but stats_b has {b.shape}; a paired test needs "
                               "both systems' statistics for the same examples, in the same order")
  return a, b


# ----------------------------------------------------------------------------------------------------
# Resampling machinery.


def _draw_indices(rng: np.random.Generator, n: int, num_samples: int) -> np.ndarray:
  # This exact call is sacrebleu's; other ways to draw the same distribution give other indices.
  return rng.choice(n, size=(num_samples, n), replace=True)


def _resampled_scores(stats: np.ndarray, idxs: np.ndarray, metric_fn: MetricFn) -> np.ndarray:
  """metric_fn of the sum of each resample's rows: [num_samples]. One resample at a time, both to keep
  memory at [N, ...] (sacrebleu materializes [num_samples, N, D]) and to sum in sacrebleu's order."""
  return np.array([metric_fn(stats[row].sum(0)) for row in idxs])


def _sacrebleu_mean_ci(scores: np.ndarray) -> tuple[float, float]:
  """sacrebleu's estimate_ci: mean and half the spread of the [n//40, n - n//40 - 1] order statistics.
  The mean is taken over the sorted scores because sacrebleu's is, and float sums depend on order."""
  scores = np.sort(scores)
  lower = len(scores) // 40
  upper = len(scores) - lower - 1
  return float(scores.mean()), float(0.5 * (scores[upper] - scores[lower]))


def _p_value(sample_stats: np.ndarray, observed: float) -> float:
  # Strictly greater, and +1 on both sides so the test never rejects more often than its level.
  return (int(np.sum(sample_stats > observed)) + 1) / (len(sample_stats) + 1)


def bootstrap_ci(per_example_stats: Any, metric_fn: MetricFn, *, num_samples: int = 1000,
                 confidence: float = 0.95, seed: int | None = 0) -> Interval:
  """Percentile bootstrap confidence interval of a metric computed from per-example statistics.

  Args:
    per_example_stats: [N, ...] sufficient statistics, one row per example.
    metric_fn: maps the SUM of rows ([...]) to the score; e.g. `lambda s: s[0] / s[1]`.
    num_samples: bootstrap resamples (N examples drawn with replacement each).
    confidence: coverage of the interval (0.95: the 2.5th to 97.5th percentile of resampled scores).
    seed: RNG seed (None: OS entropy).

  Returns:
    Interval(metric_fn of all rows, low, high).
  """
  stats = _as_stats(per_example_stats, "per_example_stats")
  num_samples = _check_count(num_samples, "num_samples")
  confidence = _check_confidence(confidence)
  estimate = float(metric_fn(stats.sum(0)))
  idxs = _draw_indices(np.random.default_rng(seed), len(stats), num_samples)
  scores = _resampled_scores(stats, idxs, metric_fn).astype(np.float64)
  low, high = np.quantile(scores, [(1 - confidence) / 2, (1 + confidence) / 2])
  return Interval(estimate, float(low), float(high))


def accuracy_ci(correct: Any, *, num_samples: int = 1000, confidence: float = 0.95,
                seed: int | None = 0) -> Interval:
  """Bootstrap CI of accuracy; correct: bool (or 0/1) [N], one entry per example."""
  values = _as_stats(correct, "correct")
  if values.ndim != 1:
    raise EvaluationInputError(f"correct must be 1-D (one entry per example), got shape {values.shape}")
  if not np.isin(values, (0, 1)).all():
    raise EvaluationInputError("correct must hold booleans or 0/1 values")
  n = len(values)
  return bootstrap_ci(values, lambda s: s / n, num_samples=num_samples, confidence=confidence, seed=seed)


def perplexity_ci(nll_sum: Any, token_count: Any, *, num_samples: int = 1000, confidence: float = 0.95,
                  seed: int | None = 0) -> Interval:
  """Bootstrap CI of perplexity = exp(Σ nll / Σ tokens), resampling examples (sentences, documents).

  Args:
    nll_sum: [N] summed negative log-likelihood (nats) of each example's tokens.
    token_count: [N] tokens per example (> 0 in total).
  """
  nll, tokens = _as_stats(nll_sum, "nll_sum"), _as_stats(token_count, "token_count")
  if nll.ndim != 1 or tokens.ndim != 1:
    raise EvaluationInputError(f"nll_sum and token_count must be 1-D, got shapes {nll.shape} and {tokens.shape}")
  if len(nll) != len(tokens):
    raise EvaluationInputError(f"nll_sum has {len(nll)} examples but token_count has {len(tokens)}")
  if (tokens < 0).any() or tokens.sum() <= 0:
    raise EvaluationInputError("token_count must be >= 0 per example and > 0 in total")
  stats = np.stack([nll.astype(np.float64), tokens.astype(np.float64)], axis=1)
  # A resample of only empty examples has no tokens; its perplexity is undefined (NaN), not an error.
  return bootstrap_ci(stats, _perplexity, num_samples=num_samples, confidence=confidence, seed=seed)


def _perplexity(s: np.ndarray) -> float:
  with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
    return float(np.exp(s[0] / s[1]))


# ----------------------------------------------------------------------------------------------------
# BLEU and chrF sufficient statistics.


def bleu_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *,
                    tokenize: str = "13a", lowercase: bool = False,
                    max_ngram_order: int = bleu.MAX_NGRAM_ORDER) -> np.ndarray:
  """Per-sentence BLEU sufficient statistics, in sacrebleu's layout.

  Args: as `research.evaluation.bleu.corpus_bleu` (references are sacrebleu's reference streams).

  Returns:
    int64[N, 2 + 2 · max_ngram_order]: hypothesis length, closest reference length, clipped matches
    for n = 1..max_ngram_order, hypothesis n-grams for n = 1..max_ngram_order. Summing rows and
    applying `bleu_from_statistics` gives research.evaluation.bleu.corpus_bleu of those sentences.
  """
  if tokenize not in bleu.TOKENIZERS:
    raise EvaluationInputError(f"unknown BLEU tokenizer {tokenize!r}; use one of {', '.join(bleu.TOKENIZERS)}")
  max_ngram_order = _check_count(max_ngram_order, "max_ngram_order")
  refs_per_hyp = chrf._segment_references(hypotheses, references, "BLEU")
  rows = []
  for hyp, refs in zip(hypotheses, refs_per_hyp, strict=True):
    hyp_tokens = bleu.tokenize_line(hyp, tokenize, lowercase)
    ref_tokens = [bleu.tokenize_line(r, tokenize, lowercase) for r in refs]
    hyp_len, ref_len, counts, totals = bleu._segment_stats(hyp_tokens, ref_tokens, max_ngram_order)
    rows.append([hyp_len, ref_len, *counts, *totals])
  return np.asarray(rows, dtype=np.int64)


def _bleu_order(stats_sum: np.ndarray) -> int:
  if stats_sum.ndim != 1 or len(stats_sum) < 4 or len(stats_sum) % 2:
    raise EvaluationInputError(f"BLEU statistics must be a 1-D array [2 + 2 · max_ngram_order], got shape "
                               f"{stats_sum.shape}; sum the rows of bleu_statistics(...) first")
  return (len(stats_sum) - 2) // 2


def bleu_from_statistics(stats_sum: Sequence[float] | np.ndarray, *, smooth_method: str = "exp",
                         smooth_value: float | None = None, use_effective_order: bool = False) -> float:
  """Corpus BLEU in 0..100 from `bleu_statistics` rows summed over sentences (max order from the length)."""
  stats_sum = np.asarray(stats_sum)
  order = _bleu_order(stats_sum)
  if smooth_method not in bleu.SMOOTH_DEFAULTS:
    raise EvaluationInputError(f"unknown BLEU smooth_method {smooth_method!r}; use one of "
                               f"{', '.join(bleu.SMOOTH_DEFAULTS)}")
  return bleu.bleu_from_stats(stats_sum[2:2 + order], stats_sum[2 + order:], int(stats_sum[0]), int(stats_sum[1]),
                              smooth_method=smooth_method, smooth_value=smooth_value,
                              use_effective_order=use_effective_order, max_ngram_order=order).score


def _bleu_in_dtype(stats_sum: np.ndarray, *, smooth_method: str, smooth_value: float | None,
                   use_effective_order: bool) -> float:
  """sacrebleu's BLEU.compute_bleu on summed statistics, keeping the statistics' scalar type.

  research.evaluation.bleu.bleu_from_stats turns counts into ints first, which is right for a score; but the
  paired tests resample float32 sums like sacrebleu, whose precisions 100 · c / t are then rounded to
  float32 (NumPy 2 promotion), so matching its p-values bit for bit needs the sums' own type:
  research.evaluation.bleu.bleu_value computes the same formula on whatever type it is given.
  """
  order = (len(stats_sum) - 2) // 2
  if smooth_value is None:
    smooth_value = bleu.SMOOTH_DEFAULTS[smooth_method]
  sys_len, ref_len = int(stats_sum[0]), int(stats_sum[1])
  correct, total = list(stats_sum[2:2 + order]), list(stats_sum[2 + order:2 + 2 * order])
  bp = 1.0
  if sys_len < ref_len:
    bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
  if not any(correct):
    return 0.0
  return bleu.bleu_value(correct, total, bp, smooth_method=smooth_method, smooth_value=smooth_value,
                         use_effective_order=use_effective_order)[0]


def _bleu_setup(hyp_sets: Sequence[Sequence[str]], references: Sequence[Sequence[str | None]], tokenize: str,
                lowercase: bool, smooth_method: str, smooth_value: float | None, max_ngram_order: int,
                use_effective_order: bool) -> tuple[list[np.ndarray], MetricFn]:
  if smooth_method not in bleu.SMOOTH_DEFAULTS:
    raise EvaluationInputError(f"unknown BLEU smooth_method {smooth_method!r}; use one of "
                               f"{', '.join(bleu.SMOOTH_DEFAULTS)}")
  stats = [bleu_statistics(h, references, tokenize=tokenize, lowercase=lowercase, max_ngram_order=max_ngram_order)
           for h in hyp_sets]
  return stats, paired_bleu_metric(smooth_method=smooth_method, smooth_value=smooth_value,
                                   use_effective_order=use_effective_order)


def paired_bleu_metric(*, smooth_method: str = "exp", smooth_value: float | None = None,
                       use_effective_order: bool = False) -> MetricFn:
  """The corpus-BLEU function of summed `bleu_statistics` rows that the paired tests resample with (the
  sums' scalar type kept, as sacrebleu): pass it to `paired_bootstrap` / `paired_randomization`."""
  return functools.partial(_bleu_in_dtype, smooth_method=smooth_method, smooth_value=smooth_value,
                           use_effective_order=use_effective_order)


def paired_chrf_metric(*, beta: float = chrf.BETA, eps_smoothing: bool = False) -> MetricFn:
  """The corpus-chrF function of summed `chrf.chrf_statistics` rows the paired tests resample with (the
  sums' scalar type kept, float32 in the paired tests, like sacrebleu)."""
  return functools.partial(chrf._f_score, beta=beta, eps_smoothing=eps_smoothing)


def _chrf_setup(hyp_sets: Sequence[Sequence[str]], references: Sequence[Sequence[str | None]],
                **options: Any) -> tuple[list[np.ndarray], MetricFn]:
  stats = [chrf.chrf_statistics(h, references, **options) for h in hyp_sets]
  return stats, paired_chrf_metric(beta=options["beta"], eps_smoothing=options["eps_smoothing"])


def bleu_ci(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *, tokenize: str = "13a",
            lowercase: bool = False, smooth_method: str = "exp", smooth_value: float | None = None,
            max_ngram_order: int = bleu.MAX_NGRAM_ORDER, num_samples: int = 1000, confidence: float = 0.95,
            seed: int | None = 0) -> Interval:
  """Bootstrap CI of corpus BLEU (research.evaluation.bleu.corpus_bleu's score), resampling sentences."""
  stats = bleu_statistics(hypotheses, references, tokenize=tokenize, lowercase=lowercase,
                          max_ngram_order=max_ngram_order)
  metric_fn = functools.partial(bleu_from_statistics, smooth_method=smooth_method, smooth_value=smooth_value)
  return bootstrap_ci(stats, metric_fn, num_samples=num_samples, confidence=confidence, seed=seed)


def chrf_ci(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *,
            char_order: int = chrf.CHAR_ORDER, word_order: int = chrf.WORD_ORDER, beta: float = chrf.BETA,
            lowercase: bool = False, whitespace: bool = False, eps_smoothing: bool = False, num_samples: int = 1000,
            confidence: float = 0.95, seed: int | None = 0) -> Interval:
  """Bootstrap CI of corpus chrF (word_order=2: chrF++), resampling sentences."""
  stats = chrf.chrf_statistics(hypotheses, references, char_order=char_order, word_order=word_order, beta=beta,
                               lowercase=lowercase, whitespace=whitespace, eps_smoothing=eps_smoothing)
  metric_fn = functools.partial(chrf.chrf_from_statistics, beta=beta, eps_smoothing=eps_smoothing)
  return bootstrap_ci(stats, metric_fn, num_samples=num_samples, confidence=confidence, seed=seed)


# ----------------------------------------------------------------------------------------------------
# Paired tests.


def paired_bootstrap(stats_a: Any, stats_b: Any, metric_fn: MetricFn, *, num_samples: int = 1000,
                     seed: int | None = SACREBLEU_SEED, resample_dtype: Any = None) -> PairedTestResult:
  """Paired bootstrap resampling test (Koehn 2004) of system b against baseline a, as sacrebleu's.

  Both systems are scored on the same resamples of the examples; the p-value is the share of
  resamples whose |score_b - score_a|, centered on its mean over resamples, exceeds the observed one.

  Args:
    stats_a, stats_b: [N, ...] per-example sufficient statistics of the baseline and the system.
    metric_fn: maps a sum of rows to a score (see `bootstrap_ci`).
    num_samples: bootstrap resamples (sacrebleu: 1000).
    seed: RNG seed; sacrebleu's default 12345 reproduces its results; None: OS entropy.
    resample_dtype: dtype the resampled sums are computed in (None: the stats' own); the BLEU / chrF
      wrappers pass float32, as sacrebleu does. Observed scores always use the statistics as given.

  Returns:
    PairedTestResult with each system's score and bootstrap mean / 95% half-width.
  """
  a, b = _check_paired(stats_a, stats_b)
  num_samples = _check_count(num_samples, "num_samples")
  score_a, score_b = float(metric_fn(a.sum(0))), float(metric_fn(b.sum(0)))
  idxs = _draw_indices(np.random.default_rng(seed), len(a), num_samples)
  if resample_dtype is not None:
    a, b = a.astype(resample_dtype), b.astype(resample_dtype)
  scores_a, scores_b = _resampled_scores(a, idxs, metric_fn), _resampled_scores(b, idxs, metric_fn)
  sample_diffs = np.abs(scores_b - scores_a)
  p = _p_value(sample_diffs - sample_diffs.mean(), abs(score_a - score_b))
  return PairedTestResult("bs", SystemEstimate(score_a, *_sacrebleu_mean_ci(scores_a)),
                          SystemEstimate(score_b, *_sacrebleu_mean_ci(scores_b)), p, num_samples, seed)


def approximate_randomization(stats_a: Any, stats_b: Any, metric_fn: MetricFn, *, num_trials: int = 10000,
                              seed: int | None = SACREBLEU_SEED, confidence_samples: int = 0,
                              resample_dtype: Any = None) -> PairedTestResult:
  """Paired approximate randomization test (Riezler & Maxwell 2005) of system b against baseline a,
  as sacrebleu's.

  Each trial swaps the two systems' outputs on a random half of the examples (each independently
  with probability 1/2); the p-value is the share of trials whose |score difference| exceeds the
  observed one.

  Args:
    stats_a, stats_b, metric_fn, seed: as `paired_bootstrap`.
    num_trials: randomization trials (sacrebleu: 10000).
    confidence_samples: if > 0, also a bootstrap mean / 95% half-width per system from this many
      resamples (sacrebleu's --paired-ar-confidence-n); drawn as sacrebleu does: the baseline's from
      a fresh RNG(seed), the system's from the test's RNG after the swap masks.
    resample_dtype: dtype of the confidence resamples' sums (trials sum in the stats' own dtype).
  """
  a, b = _check_paired(stats_a, stats_b)
  num_trials = _check_count(num_trials, "num_trials")
  if isinstance(confidence_samples, bool) or not isinstance(confidence_samples, int | np.integer):
    raise EvaluationInputError(f"confidence_samples must be an int (0 = no bootstrap CI), got {confidence_samples!r}")
  score_a, score_b = float(metric_fn(a.sum(0))), float(metric_fn(b.sum(0)))
  rng = np.random.default_rng(seed)
  take_a = rng.integers(2, size=(num_trials, len(a)), dtype=bool)
  idxs = _draw_indices(rng, len(a), confidence_samples) if confidence_samples > 0 else None

  flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
  scores_a, scores_b = [], []
  for start in range(0, num_trials, _AR_CHUNK):
    keep = take_a[start:start + _AR_CHUNK]
    swap = ~keep
    shuffled_a = (keep @ flat_a + swap @ flat_b).reshape(-1, *a.shape[1:])
    shuffled_b = (swap @ flat_a + keep @ flat_b).reshape(-1, *a.shape[1:])
    scores_a += [metric_fn(s) for s in shuffled_a]
    scores_b += [metric_fn(s) for s in shuffled_b]
  p = _p_value(np.abs(np.array(scores_a) - np.array(scores_b)), abs(score_a - score_b))

  baseline, system = SystemEstimate(score_a), SystemEstimate(score_b)
  if idxs is not None:
    ra, rb = (a, b) if resample_dtype is None else (a.astype(resample_dtype), b.astype(resample_dtype))
    baseline_idxs = _draw_indices(np.random.default_rng(seed), len(a), confidence_samples)
    baseline = SystemEstimate(score_a, *_sacrebleu_mean_ci(_resampled_scores(ra, baseline_idxs, metric_fn)))
    system = SystemEstimate(score_b, *_sacrebleu_mean_ci(_resampled_scores(rb, idxs, metric_fn)))
  return PairedTestResult("ar", baseline, system, p, num_trials, seed)


def _check_systems(hyps_a: Sequence[str], hyps_b: Sequence[str]) -> None:
  if isinstance(hyps_a, str) or isinstance(hyps_b, str):
    raise EvaluationInputError("hyps_a and hyps_b must be lists of strings, one per test segment")
  if len(hyps_a) != len(hyps_b):
    raise EvaluationInputError(f"hyps_a has {len(hyps_a)} segments but hyps_b has {len(hyps_b)}; a paired test "
                               "needs both systems' outputs for the same segments")


def paired_bootstrap_bleu(hyps_a: Sequence[str], hyps_b: Sequence[str], references: Sequence[Sequence[str | None]],
                          *, tokenize: str = "13a", lowercase: bool = False, smooth_method: str = "exp",
                          smooth_value: float | None = None, max_ngram_order: int = bleu.MAX_NGRAM_ORDER,
                          use_effective_order: bool = False, num_samples: int = 1000,
                          seed: int | None = SACREBLEU_SEED) -> PairedTestResult:
  """Paired bootstrap test on corpus BLEU of system b against baseline a: sacrebleu's --paired-bs."""
  _check_systems(hyps_a, hyps_b)
  (sa, sb), metric_fn = _bleu_setup((hyps_a, hyps_b), references, tokenize, lowercase, smooth_method, smooth_value,
                                    max_ngram_order, use_effective_order)
  return paired_bootstrap(sa, sb, metric_fn, num_samples=num_samples, seed=seed, resample_dtype=np.float32)


def paired_ar_bleu(hyps_a: Sequence[str], hyps_b: Sequence[str], references: Sequence[Sequence[str | None]], *,
                   tokenize: str = "13a", lowercase: bool = False, smooth_method: str = "exp",
                   smooth_value: float | None = None, max_ngram_order: int = bleu.MAX_NGRAM_ORDER,
                   use_effective_order: bool = False, num_trials: int = 10000, seed: int | None = SACREBLEU_SEED,
                   confidence_samples: int = 0) -> PairedTestResult:
  """Approximate randomization test on corpus BLEU of system b against baseline a: sacrebleu's --paired-ar."""
  _check_systems(hyps_a, hyps_b)
  (sa, sb), metric_fn = _bleu_setup((hyps_a, hyps_b), references, tokenize, lowercase, smooth_method, smooth_value,
                                    max_ngram_order, use_effective_order)
  return approximate_randomization(sa, sb, metric_fn, num_trials=num_trials, seed=seed,
                                   confidence_samples=confidence_samples, resample_dtype=np.float32)


def paired_bootstrap_chrf(hyps_a: Sequence[str], hyps_b: Sequence[str], references: Sequence[Sequence[str | None]],
                          *, char_order: int = chrf.CHAR_ORDER, word_order: int = chrf.WORD_ORDER,
                          beta: float = chrf.BETA, lowercase: bool = False, whitespace: bool = False,
                          eps_smoothing: bool = False, num_samples: int = 1000,
                          seed: int | None = SACREBLEU_SEED) -> PairedTestResult:
  """Paired bootstrap test on corpus chrF (word_order=2: chrF++) of system b against baseline a."""
  _check_systems(hyps_a, hyps_b)
  (sa, sb), metric_fn = _chrf_setup((hyps_a, hyps_b), references, char_order=char_order, word_order=word_order,
                                    beta=beta, lowercase=lowercase, whitespace=whitespace, eps_smoothing=eps_smoothing)
  return paired_bootstrap(sa, sb, metric_fn, num_samples=num_samples, seed=seed, resample_dtype=np.float32)


def paired_ar_chrf(hyps_a: Sequence[str], hyps_b: Sequence[str], references: Sequence[Sequence[str | None]], *,
                   char_order: int = chrf.CHAR_ORDER, word_order: int = chrf.WORD_ORDER, beta: float = chrf.BETA,
                   lowercase: bool = False, whitespace: bool = False, eps_smoothing: bool = False,
                   num_trials: int = 10000, seed: int | None = SACREBLEU_SEED,
                   confidence_samples: int = 0) -> PairedTestResult:
  """Approximate randomization test on corpus chrF (word_order=2: chrF++) of system b against baseline a."""
  _check_systems(hyps_a, hyps_b)
  (sa, sb), metric_fn = _chrf_setup((hyps_a, hyps_b), references, char_order=char_order, word_order=word_order,
                                    beta=beta, lowercase=lowercase, whitespace=whitespace, eps_smoothing=eps_smoothing)
  return approximate_randomization(sa, sb, metric_fn, num_trials=num_trials, seed=seed,
                                   confidence_samples=confidence_samples, resample_dtype=np.float32)


# ----------------------------------------------------------------------------------------------------
# Seeds.


def student_t_quantile(q: float, df: float) -> float:
  """The q-quantile of Student's t distribution with df degrees of freedom (scipy's stdtrit)."""
  if not 0.0 < q < 1.0:
    raise EvaluationInputError(f"quantile level q must be in (0, 1), got {q!r}")
  if not df > 0:
    raise EvaluationInputError(f"degrees of freedom must be > 0, got {df!r}")
  return float(scipy.special.stdtrit(df, q))


def seed_summary(values: Sequence[float], confidence: float = 0.95) -> SeedSummary:
  """Mean, sample std (ddof=1) and Student-t CI half-width of a metric over n >= 2 seeds.

  The half-width is t_{(1+confidence)/2, n-1} · std / sqrt(n): mean ± half-width covers the expected
  value over seeds with probability `confidence` if runs are independent and roughly normal.
  """
  confidence = _check_confidence(confidence)
  array = np.asarray(values, dtype=np.float64)
  if array.ndim != 1 or len(array) < 2:
    raise EvaluationInputError(f"seed_summary needs a 1-D list of >= 2 values (one per seed), got shape "
                               f"{array.shape}; the std of one run is undefined")
  if not np.isfinite(array).all():
    raise EvaluationInputError("seed_summary values hold NaN or infinite values")
  n = len(array)
  std = float(array.std(ddof=1))
  half_width = student_t_quantile((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
  return SeedSummary(float(array.mean()), std, half_width)
