"""research.evaluation.stats: paired tests equal to sacrebleu's PairedTest (a test-only dependency),
bootstrap intervals that cover at their nominal rate, Student-t seed summaries, input checks."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from research.errors import UserError
from research.evaluation import bleu, chrf, stats

TOL = 1e-6


def _toy_systems(n: int = 40, seed: int = 0) -> tuple[list[str], list[str], list[list[str | None]]]:
  """A baseline, a slightly better system and two reference streams (the second with gaps) made by
  corrupting references: word drops and substitutions, punctuation, case, non-ASCII words. The systems
  are close (p-values ~0.2-0.7), so equal p-values mean equal counts, not two p = 1 / (n + 1)."""
  rng = random.Random(seed)
  vocab = "the a cat dog sat on mat house ran quickly slowly big small red blue , . ! Über naïve 猫 (so)".split()
  refs, hyps_a, hyps_b = [], [], []
  for _ in range(n):
    ref = [rng.choice(vocab) for _ in range(rng.randint(2, 14))]
    refs.append(" ".join(ref))

    def corrupt(p_sub: float, ref=ref) -> str:
      words = [w if rng.random() > p_sub else rng.choice(vocab) for w in ref if rng.random() > 0.1]
      return " ".join(w.upper() if rng.random() < 0.05 else w for w in words)
    hyps_a.append(corrupt(0.30))
    hyps_b.append(corrupt(0.27))
  hyps_a[3] = ""  # an empty output
  second = [r[::-1] if i % 3 else None for i, r in enumerate(refs)]
  return hyps_a, hyps_b, [refs, second]


HYPS_A, HYPS_B, REFS = _toy_systems()


def sacre_paired(test_type: str, metric, hyps_a, hyps_b, refs, n_samples: int, n_ar_confidence: int = -1):
  """(baseline Result, system Result) from sacrebleu's PairedTest."""
  _, scores = PairedTest([("a", hyps_a), ("b", hyps_b)], {"m": metric}, refs, test_type=test_type,
                         n_samples=n_samples, n_ar_confidence=n_ar_confidence)()
  (name,) = [k for k in scores if k != "System"]
  return scores[name]


def assert_paired_equal(ours: stats.PairedTestResult, theirs, with_ci: bool = True) -> None:
  baseline, system = theirs
  assert ours.baseline.score == pytest.approx(baseline.score, abs=1e-9)
  assert ours.system.score == pytest.approx(system.score, abs=1e-9)
  assert ours.p_value == system.p_value  # exactly: same draws, same arithmetic
  if with_ci:
    assert (ours.baseline.mean, ours.baseline.ci) == (float(baseline.mean), float(baseline.ci))
    assert (ours.system.mean, ours.system.ci) == (float(system.mean), float(system.ci))


@pytest.fixture(autouse=True)
def _default_sacrebleu_seed(monkeypatch):
  monkeypatch.delenv("SACREBLEU_SEED", raising=False)


# ----------------------------------------------------------------------------------------------------
# Paired tests == sacrebleu.

BLEU_OPTIONS = [
    {},
    {"smooth_method": "floor", "smooth_value": 0.5},
    {"smooth_method": "add-k"},
    {"smooth_method": "none", "lowercase": True},
    {"tokenize": "zh", "max_ngram_order": 2},
]


def _sacre_bleu_metric(options: dict) -> BLEU:
  return BLEU(tokenize=options.get("tokenize", "13a"), smooth_method=options.get("smooth_method", "exp"),
              smooth_value=options.get("smooth_value"), lowercase=options.get("lowercase", False),
              max_ngram_order=options.get("max_ngram_order", 4))


@pytest.mark.parametrize("options", BLEU_OPTIONS)
def test_paired_bootstrap_bleu_equals_sacrebleu(options):
  theirs = sacre_paired("bs", _sacre_bleu_metric(options), HYPS_A, HYPS_B, REFS, n_samples=200)
  assert_paired_equal(stats.paired_bootstrap_bleu(HYPS_A, HYPS_B, REFS, num_samples=200, **options), theirs)


@pytest.mark.parametrize("options", BLEU_OPTIONS[:3])
def test_paired_ar_bleu_equals_sacrebleu(options):
  theirs = sacre_paired("ar", _sacre_bleu_metric(options), HYPS_A, HYPS_B, REFS, n_samples=400)
  assert_paired_equal(stats.paired_ar_bleu(HYPS_A, HYPS_B, REFS, num_trials=400, **options), theirs, with_ci=False)


CHRF_OPTIONS = [{}, {"word_order": 2}, {"word_order": 2, "lowercase": True, "eps_smoothing": True},
                {"whitespace": True, "beta": 1, "char_order": 4}]


@pytest.mark.parametrize("options", CHRF_OPTIONS)
def test_paired_bootstrap_chrf_equals_sacrebleu(options):
  theirs = sacre_paired("bs", CHRF(**options), HYPS_A, HYPS_B, REFS, n_samples=200)
  assert_paired_equal(stats.paired_bootstrap_chrf(HYPS_A, HYPS_B, REFS, num_samples=200, **options), theirs)


@pytest.mark.parametrize("options", CHRF_OPTIONS[:2])
def test_paired_ar_chrf_equals_sacrebleu(options):
  theirs = sacre_paired("ar", CHRF(**options), HYPS_A, HYPS_B, REFS, n_samples=400)
  assert_paired_equal(stats.paired_ar_chrf(HYPS_A, HYPS_B, REFS, num_trials=400, **options), theirs, with_ci=False)


def test_paired_ar_confidence_equals_sacrebleu():
  # --paired-ar-confidence-n: bootstrap CIs drawn from the AR test's RNG (system) and a fresh one (baseline).
  theirs = sacre_paired("ar", CHRF(word_order=2), HYPS_A, HYPS_B, REFS, n_samples=300, n_ar_confidence=100)
  ours = stats.paired_ar_chrf(HYPS_A, HYPS_B, REFS, word_order=2, num_trials=300, confidence_samples=100)
  assert_paired_equal(ours, theirs)
  theirs = sacre_paired("ar", BLEU(), HYPS_A, HYPS_B, REFS, n_samples=300, n_ar_confidence=100)
  assert_paired_equal(stats.paired_ar_bleu(HYPS_A, HYPS_B, REFS, num_trials=300, confidence_samples=100), theirs)


def test_paired_tests_follow_sacrebleu_seed(monkeypatch):
  monkeypatch.setenv("SACREBLEU_SEED", "7")
  theirs = sacre_paired("bs", BLEU(), HYPS_A, HYPS_B, REFS, n_samples=200)
  ours = stats.paired_bootstrap_bleu(HYPS_A, HYPS_B, REFS, num_samples=200, seed=7)
  assert_paired_equal(ours, theirs)
  assert ours.system.mean != stats.paired_bootstrap_bleu(HYPS_A, HYPS_B, REFS, num_samples=200).system.mean
  theirs = sacre_paired("ar", CHRF(), HYPS_A, HYPS_B, REFS, n_samples=300)
  assert_paired_equal(stats.paired_ar_chrf(HYPS_A, HYPS_B, REFS, num_trials=300, seed=7), theirs, with_ci=False)


def test_paired_tests_on_identical_systems_equal_sacrebleu():
  # Zero observed difference: sacrebleu's strict ">" count gives p = 1 / (trials + 1) here.
  for test_type, fn in (("bs", stats.paired_bootstrap_chrf), ("ar", stats.paired_ar_chrf)):
    theirs = sacre_paired(test_type, CHRF(), HYPS_A, HYPS_A, REFS, n_samples=100)
    ours = fn(HYPS_A, HYPS_A, REFS, **({"num_samples": 100} if test_type == "bs" else {"num_trials": 100}))
    assert ours.p_value == theirs[1].p_value


def test_generic_paired_tests_detect_a_real_difference():
  rng = np.random.default_rng(0)
  weak, strong = (rng.random(300) < 0.6).astype(float), (rng.random(300) < 0.8).astype(float)
  same = (rng.random(300) < 0.6).astype(float)

  def acc(s):
    return s / 300
  assert stats.paired_bootstrap(weak, strong, acc, num_samples=300).p_value < 0.01
  assert stats.approximate_randomization(weak, strong, acc, num_trials=300).p_value < 0.01
  assert stats.approximate_randomization(weak, same, acc, num_trials=300).p_value > 0.05
  result = stats.paired_bootstrap(weak, strong, acc, num_samples=300)
  assert result.baseline.score == pytest.approx(weak.mean()) and result.system.score == pytest.approx(strong.mean())
  assert "paired bootstrap" in str(result) and "μ =" in str(result)


# ----------------------------------------------------------------------------------------------------
# Sufficient statistics.


def test_bleu_statistics_equal_sacrebleu_and_give_corpus_bleu():
  for options in BLEU_OPTIONS:
    metric = _sacre_bleu_metric(options)
    rows = stats.bleu_statistics(HYPS_A, REFS, tokenize=options.get("tokenize", "13a"),
                                 lowercase=options.get("lowercase", False),
                                 max_ngram_order=options.get("max_ngram_order", 4))
    assert rows.tolist() == metric._extract_corpus_statistics(HYPS_A, REFS)
    smoothing = {k: options[k] for k in ("smooth_method", "smooth_value") if k in options}
    expected = bleu.corpus_bleu(HYPS_A, REFS, **options).score
    assert abs(stats.bleu_from_statistics(rows.sum(0), **smoothing) - expected) <= TOL
    # The float32-faithful copy used by the paired tests agrees on integer sums.
    assert abs(stats._bleu_in_dtype(rows.sum(0), smooth_method=smoothing.get("smooth_method", "exp"),
                                    smooth_value=smoothing.get("smooth_value"), use_effective_order=False)
               - expected) <= TOL


def test_bleu_and_chrf_ci_are_around_the_corpus_score():
  interval = stats.bleu_ci(HYPS_B, REFS, num_samples=200)
  assert interval.estimate == pytest.approx(bleu.corpus_bleu(HYPS_B, REFS).score, abs=TOL)
  assert interval.low < interval.estimate < interval.high
  interval = stats.chrf_ci(HYPS_B, REFS, word_order=2, num_samples=200)
  assert interval.estimate == pytest.approx(chrf.corpus_chrf(HYPS_B, REFS, word_order=2).score, abs=TOL)
  assert interval.low < interval.estimate < interval.high
  assert stats.chrf_ci(HYPS_B, REFS, num_samples=200, seed=3) == stats.chrf_ci(HYPS_B, REFS, num_samples=200, seed=3)


# ----------------------------------------------------------------------------------------------------
# Bootstrap intervals.


def test_accuracy_ci_covers_the_true_value_at_about_the_nominal_rate():
  # 200 simulated test sets of 100 examples with true accuracy 0.7; a 95% interval should miss about
  # 10 of them. The bounds allow for the percentile bootstrap's small-sample undercoverage and chance.
  rng = np.random.default_rng(1234)
  covered = 0
  for i in range(200):
    correct = rng.random(100) < 0.7
    interval = stats.accuracy_ci(correct, num_samples=300, seed=i)
    assert interval.low <= interval.estimate <= interval.high
    covered += interval.low <= 0.7 <= interval.high
  assert 0.90 <= covered / 200 <= 0.99


def test_bootstrap_ci_matches_percentiles_of_resampled_means():
  values = np.arange(10.0)
  interval = stats.bootstrap_ci(values, lambda s: s / 10, num_samples=500, confidence=0.9, seed=5)
  idxs = np.random.default_rng(5).choice(10, size=(500, 10), replace=True)
  means = values[idxs].mean(1)
  assert interval.estimate == pytest.approx(4.5)
  assert (interval.low, interval.high) == pytest.approx(tuple(np.quantile(means, [0.05, 0.95])))


def test_perplexity_ci_contains_the_point_estimate():
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, 30, size=80)
  tokens[0] = 0  # an empty example is allowed
  nll = tokens * rng.uniform(2.0, 4.0, size=80)
  interval = stats.perplexity_ci(nll, tokens, num_samples=300)
  assert interval.estimate == pytest.approx(math.exp(nll.sum() / tokens.sum()))
  assert interval.low < interval.estimate < interval.high


# ----------------------------------------------------------------------------------------------------
# Seeds and formatting.

# Two-sided critical values t_{q, df} from standard tables.
T_TABLE = [
    (0.975, 1, 12.706204736), (0.975, 2, 4.302652730), (0.975, 4, 2.776445105), (0.975, 9, 2.262157163),
    (0.975, 29, 2.045229642), (0.975, 1000, 1.962339081), (0.95, 9, 1.833112933), (0.995, 4, 4.604094871),
    (0.995, 19, 2.860934606), (0.9, 3, 1.637744354), (0.5, 7, 0.0), (0.025, 9, -2.262157163),
]


@pytest.mark.parametrize("q, df, expected", T_TABLE)
def test_student_t_quantile_against_table(q, df, expected):
  assert stats.student_t_quantile(q, df) == pytest.approx(expected, abs=1e-8)


def test_student_t_quantile_against_scipy():
  scipy_stats = pytest.importorskip("scipy.stats")
  for df in (1, 2, 3, 5, 10, 50, 2.5):
    for q in (0.6, 0.9, 0.975, 0.999, 0.01):
      assert stats.student_t_quantile(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-10)


def test_seed_summary():
  summary = stats.seed_summary([1.0, 2.0, 3.0, 4.0, 5.0])
  assert summary.mean == 3.0 and summary.std == pytest.approx(math.sqrt(2.5))
  assert summary.half_width == pytest.approx(2.776445105 * math.sqrt(2.5) / math.sqrt(5))
  mean, std, half_width = stats.seed_summary([0.70, 0.72], confidence=0.9)
  assert half_width == pytest.approx(6.313751515 * std / math.sqrt(2))
  assert summary.interval().low == pytest.approx(3.0 - summary.half_width)
  assert summary.fmt(2) == "3.00 ± 1.96"


def test_formatting():
  assert stats.Interval(0.7123, 0.69, 0.7349).fmt(3) == "0.712 [0.690, 0.735]"
  assert str(stats.Interval(1, 0, 2)) == "1.000 [0.000, 2.000]"
  assert stats.format_p(0.0031) == "p=0.003"
  assert stats.format_p(0.0004) == "p<0.001"
  assert stats.format_p(0.5, digits=2) == "p=0.50"
  assert stats.SystemEstimate(27.314, 27.3, 1.02).fmt() == "27.31 (μ = 27.30 ± 1.02)"


# ----------------------------------------------------------------------------------------------------
# Bad input.


def test_bad_input_raises_value_error():
  def acc(s):
    return s
  cases = [
      (lambda: stats.bootstrap_ci(np.array([]), acc), "per_example_stats is empty"),
      (lambda: stats.bootstrap_ci(np.array(1.0), acc), "got a scalar"),
      (lambda: stats.bootstrap_ci([1.0, np.nan], acc), "NaN"),
      (lambda: stats.bootstrap_ci([1.0], acc, num_samples=0), "num_samples must be an int >= 1"),
      (lambda: stats.bootstrap_ci([1.0], acc, confidence=95), "confidence must be in"),
      (lambda: stats.accuracy_ci([]), "correct is empty"),
      (lambda: stats.accuracy_ci([0, 2]), "booleans or 0/1"),
      (lambda: stats.perplexity_ci([1.0, 2.0], [3]), "nll_sum has 2 examples but token_count has 1"),
      (lambda: stats.perplexity_ci([1.0], [0]), "> 0 in total"),
      (lambda: stats.paired_bootstrap([1.0, 0.0], [1.0], acc), "same examples"),
      (lambda: stats.approximate_randomization([], [], acc), "stats_a is empty"),
      (lambda: stats.paired_bootstrap_bleu(["a", "b"], ["a"], [["a", "b"]]), "hyps_a has 2 segments but hyps_b has 1"),
      (lambda: stats.paired_ar_chrf(["a"], ["a"], [["a", "b"]]), "stream 0 has 2 segments"),
      (lambda: stats.bleu_ci([], [[]]), "hypotheses is empty"),
      (lambda: stats.bleu_ci(["a"], [["a"]], tokenize="intl"), "unknown BLEU tokenizer"),
      (lambda: stats.paired_bootstrap_bleu(["a"], ["a"], [["a"]], smooth_method="add-one"), "smooth_method"),
      (lambda: stats.bleu_from_statistics([1, 2, 3]), "2 \\+ 2 · max_ngram_order"),
      (lambda: stats.seed_summary([0.5]), ">= 2 values"),
      (lambda: stats.seed_summary([]), ">= 2 values"),
      (lambda: stats.student_t_quantile(1.0, 3), "in \\(0, 1\\)"),
      (lambda: stats.student_t_quantile(0.5, 0), "degrees of freedom"),
      (lambda: stats.format_p(1.5), "p-value must be in"),
  ]
  for call, message in cases:
    with pytest.raises(ValueError, match=message):
      call()
  with pytest.raises(UserError):  # also a UserError: research.main prints it as one line
    stats.accuracy_ci([])
