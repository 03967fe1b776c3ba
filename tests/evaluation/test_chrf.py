"""research.evaluation.chrf against sacrebleu's CHRF (a test-only dependency): same statistics, same score."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import CHRF

from research.errors import UserError
from research.evaluation import chrf

TOL = 1e-6

# Pieces that exercise every rule: a small vocabulary (so n-grams match), punctuation at word edges
# (chrF++ splits one mark off the end, else the start), lone marks, mixed case for `lowercase`,
# non-ASCII letters, CJK, combining marks, emoji, and non-space Unicode whitespace (removed by
# str.split unless whitespace=True).
WORDS = ["the", "The", "THE", "cat", "sat", "on", "mat", "a", "dog", "isn't", "U.S.", "e-mail"]
PIECES = WORDS + [
    ".", ",", "!", "?", "...", "(hi)", "(", ")", "\"quoted\"", "'", "-", "--", ":", ";", "end.", ",start", "x,y",
    "猫", "在", "垫子", "上", "你好", "，", "。", "é", "e\u0301", "Ünï", "ÜNÏ", "straße", "İ", "😀", "👍🏽",
    "\u3000", "\u00a0", "\t", "\n", "3.14", "1,000",
]
SEPARATORS = ["", " ", " ", " ", "  "]


@st.composite
def sentences(draw, max_pieces: int = 10) -> str:
  out = ""
  for piece in draw(st.lists(st.sampled_from(PIECES), max_size=max_pieces)):
    out += draw(st.sampled_from(SEPARATORS)) + piece
  return out + draw(st.sampled_from(["", " ", "\n", " ."]))


@st.composite
def corpora(draw):
  n = draw(st.integers(1, 5))
  refs = [[draw(sentences()) for _ in range(n)]]  # stream 0 is complete: every hypothesis has a reference
  for _ in range(draw(st.integers(0, 2))):
    refs.append([draw(st.one_of(st.none(), st.just(""), sentences())) for _ in range(n)])
  hyps = [draw(st.one_of(st.just(""), sentences())) for _ in range(n)]
  # Half the time, make hypotheses near-copies of a reference so that long n-grams match too.
  if draw(st.booleans()):
    hyps = [r + draw(st.sampled_from(["", " the cat", "!"])) if draw(st.booleans()) else h
            for h, r in zip(hyps, refs[0], strict=True)]
  return hyps, refs


OPTIONS = st.fixed_dictionaries({
    "char_order": st.sampled_from([6, 6, 1, 3]),
    "word_order": st.sampled_from([0, 2, 0, 2, 1, 3]),
    "beta": st.sampled_from([2, 2, 1, 3]),
    "lowercase": st.booleans(),
    "whitespace": st.booleans(),
    "eps_smoothing": st.booleans(),
})


def sacre_stats(hyps, refs, options) -> list[list[int]]:
  return CHRF(**options)._extract_corpus_statistics(hyps, refs)


@settings(max_examples=200, deadline=None)
@given(corpus=corpora(), options=OPTIONS)
def test_corpus_chrf_equals_sacrebleu(corpus, options):
  hyps, refs = corpus
  theirs = CHRF(**options).corpus_score(hyps, refs)
  ours = chrf.corpus_chrf(hyps, refs, **options)
  assert abs(ours.score - theirs.score) <= TOL, (ours, theirs)
  assert ours.name == theirs.name
  rows = chrf.chrf_statistics(hyps, refs, **options)
  assert rows.tolist() == sacre_stats(hyps, refs, options)  # per sentence, including the chosen reference
  assert list(ours.statistics) == rows.sum(0).tolist()


@settings(max_examples=150, deadline=None)
@given(hyp=sentences(), refs=st.lists(sentences(), min_size=1, max_size=3), word_order=st.sampled_from([0, 2]),
       eps_smoothing=st.booleans())
def test_sentence_chrf_equals_sacrebleu(hyp, refs, word_order, eps_smoothing):
  theirs = sacrebleu.sentence_chrf(hyp, refs, word_order=word_order, eps_smoothing=eps_smoothing)
  ours = chrf.sentence_chrf(hyp, refs, word_order=word_order, eps_smoothing=eps_smoothing)
  assert abs(ours.score - theirs.score) <= TOL


# A fixed corpus: unicode, punctuation, an empty hypothesis, an empty and a missing reference, case
# differences, and whitespace inside words.
HYPS = [
    "The cat sat on the mat.",
    "",
    "Ünïcode (test) — ok!",
    "猫在垫子上。",
    "THE DOG RAN, quickly!",
    "e-mail: x@y.z",
    "  spaced   out\ttext ",
    "a",
]
REFS = [
    ["The cat is on the mat.", "Nothing here.", "Unicode test, ok", "猫坐在垫子上。", "The dog ran quickly.",
     "email: x@y.z", "spaced out text", "a"],
    ["A cat sat on a mat!", None, "", "猫在垫子上", "the dog ran, quickly!", None, "spa ced out te xt", "b"],
]


@pytest.mark.parametrize("word_order", [0, 1, 2])
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("whitespace", [False, True])
@pytest.mark.parametrize("eps_smoothing", [False, True])
def test_fixed_corpus_equals_sacrebleu(word_order, lowercase, whitespace, eps_smoothing):
  options = dict(word_order=word_order, lowercase=lowercase, whitespace=whitespace, eps_smoothing=eps_smoothing)
  # Two references with gaps, the first alone, the second alone (its gaps filled).
  for refs in (REFS, REFS[:1], [[r if r is not None else "x" for r in REFS[1]]]):
    theirs = CHRF(**options).corpus_score(HYPS, refs)
    ours = chrf.corpus_chrf(HYPS, refs, **options)
    assert abs(ours.score - theirs.score) <= TOL
  # sacrebleu's convenience function (no lowercase option; remove_whitespace = not whitespace) agrees too.
  theirs = sacrebleu.corpus_chrf(HYPS, REFS, word_order=word_order, remove_whitespace=not whitespace,
                                 eps_smoothing=eps_smoothing)
  ours = chrf.corpus_chrf(HYPS, REFS, word_order=word_order, whitespace=whitespace, eps_smoothing=eps_smoothing)
  assert abs(ours.score - theirs.score) <= TOL


def test_statistics_of_any_subset_give_that_subsets_corpus_chrf():
  # What a bootstrap relies on: summing a multiset of rows is scoring that multiset of sentences.
  rows = chrf.chrf_statistics(HYPS, REFS, word_order=2)
  for subset in ([0, 0, 3], [1], [2, 4, 4, 4, 7], list(range(len(HYPS)))):
    sub_refs = [[stream[i] for i in subset] for stream in REFS]
    if any(all(stream[k] is None for stream in sub_refs) for k in range(len(subset))):
      continue
    theirs = CHRF(word_order=2).corpus_score([HYPS[i] for i in subset], sub_refs).score
    assert abs(chrf.chrf_from_statistics(rows[subset].sum(0)) - theirs) <= TOL


def test_known_values():
  assert chrf.corpus_chrf(["the cat"], [["the cat"]]).score == pytest.approx(100.0)
  assert chrf.corpus_chrf([""], [["the cat"]]).score == 0.0
  assert chrf.corpus_chrf(["abc"], [["xyz"]]).score == 0.0
  # Hand-computed, char_order=1: hypothesis "ab" vs reference "abc" → P = 1, R = 2/3,
  # F2 = 5 · P · R / (4 · P + R) = (10/3) / (14/3) = 5/7.
  score = chrf.corpus_chrf(["ab"], [["abc"]], char_order=1)
  assert score.score == pytest.approx(100 * 5 / 7)
  assert score.statistics == (2, 3, 2) and str(score) == "chrF2 = 71.43"
  # chrF++'s word split takes one mark off the end, else off the start.
  assert chrf._words("(hi) ,x y. z") == ["(hi", ")", ",", "x", "y", ".", "z"]


def test_best_reference_is_picked_per_sentence():
  # The second reference matches better; the first of two equal ones is kept.
  rows = chrf.chrf_statistics(["the cat"], [["dogs"], ["the cat"]])
  assert rows[0].tolist() == chrf.chrf_statistics(["the cat"], [["the cat"]])[0].tolist()
  assert chrf.chrf_statistics(["ab"], [["abx"], ["aby"]])[0].tolist() == \
      chrf.chrf_statistics(["ab"], [["abx"]])[0].tolist()


def test_bad_input_raises_value_error():
  with pytest.raises(ValueError, match="stream 0 has 1 segments but there are 2"):
    chrf.corpus_chrf(["a", "b"], [["a"]])
  with pytest.raises(ValueError, match="hypotheses is empty"):
    chrf.corpus_chrf([], [[]])
  with pytest.raises(ValueError, match="reference streams"):
    chrf.corpus_chrf(["a"], ["a"])
  with pytest.raises(ValueError, match="no reference"):
    chrf.corpus_chrf(["a"], [[None]])
  with pytest.raises(ValueError, match="hypotheses\\[1\\] is NoneType"):
    chrf.corpus_chrf(["a", None], [["a", "b"]])
  with pytest.raises(ValueError, match="char_order \\+ word_order"):
    chrf.corpus_chrf(["a"], [["a"]], char_order=0)
  with pytest.raises(ValueError, match="word_order must be an int"):
    chrf.corpus_chrf(["a"], [["a"]], word_order=-1)
  with pytest.raises(ValueError, match="3 values per n-gram order"):
    chrf.chrf_from_statistics(np.zeros(4))
  with pytest.raises(ValueError, match="list of reference strings"):
    chrf.sentence_chrf("a", "a")
  # Also a UserError, so research.main reports it as one line.
  with pytest.raises(UserError):
    chrf.corpus_chrf([], [[]])
