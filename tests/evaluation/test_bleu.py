"""research.evaluation.bleu against sacrebleu (a test-only dependency): same tokens, same statistics, same score."""

from __future__ import annotations

import math

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

from research.errors import UserError
from research.evaluation import bleu

TOL = 1e-6

# Sentence pieces chosen to exercise every tokenizer rule: a small vocabulary (so n-grams match),
# punctuation next to letters and digits, numbers with . , -, HTML entities, <skipped>, CJK text and
# full-width punctuation, and symbols in the zh tokenizer's effective U+2001–U+2A6D range.
WORDS = ["the", "The", "cat", "sat", "on", "mat", "a", "dog", "isn't", "U.S.", "e-mail", "ok"]
PIECES = WORDS + [
    ".", ",", "!", "?", "...", "(", ")", "\"", "'", "-", "--", ":", ";", "/", "$", "%", "&", "@", "#", "~", "{x}",
    "3.14", "1,000", "2-3", "10.", ",5", "a.b", "x,y", "&quot;", "&amp;", "&lt;", "&gt;", "&amp;lt;", "<skipped>",
    "猫", "在", "垫子", "上", "你好", "世界", "，", "。", "！", "（", "）", "\u3000", "–", "—", "…", "€", "→", "★",
    "ｆｕｌｌ", "ー", "¿", "é", "Ünï", "\t", "-\n", "\n",
]
SEPARATORS = ["", " ", " ", " ", "  "]


@st.composite
def sentences(draw, max_pieces: int = 12) -> str:
  pieces = draw(st.lists(st.sampled_from(PIECES), max_size=max_pieces))
  out = ""
  for piece in pieces:
    out += draw(st.sampled_from(SEPARATORS)) + piece
  return out + draw(st.sampled_from(["", " ", "\n", " ."]))


@st.composite
def corpora(draw):
  n = draw(st.integers(1, 5))
  hyps = [draw(st.one_of(st.just(""), sentences())) for _ in range(n)]
  num_refs = draw(st.integers(1, 3))
  refs = [[draw(sentences()) for _ in range(n)]]  # stream 0 is complete: every hypothesis has a reference
  for _ in range(num_refs - 1):
    refs.append([draw(st.one_of(st.none(), st.just(""), sentences())) for _ in range(n)])
  # Half the time, make hypotheses near-copies of a reference so higher-order n-grams match too.
  if draw(st.booleans()):
    hyps = [r + draw(st.sampled_from(["", " the cat", "!"])) if draw(st.booleans()) else h
            for h, r in zip(hyps, refs[0], strict=True)]
  return hyps, refs


OPTIONS = st.fixed_dictionaries({
    "tokenize": st.sampled_from(bleu.TOKENIZERS),
    "smooth_method": st.sampled_from(["exp", "floor", "add-k", "none"]),
    "lowercase": st.booleans(),
    "use_effective_order": st.booleans(),
    "max_ngram_order": st.sampled_from([4, 4, 2, 3, 5]),
    "custom_smooth": st.booleans(),
})


def sacre_score(hyps, refs, options) -> tuple[sacrebleu.BLEUScore, sacrebleu.BLEUScore]:
  """sacrebleu's result and, for the unsmoothed counts, the same with smooth_method='none'."""
  kw = dict(tokenize=options["tokenize"], lowercase=options["lowercase"], max_ngram_order=options["max_ngram_order"],
            effective_order=options["use_effective_order"], force=True)
  metric = BLEU(smooth_method=options["smooth_method"], smooth_value=options.get("smooth_value"), **kw)
  raw = BLEU(smooth_method="none", **kw)
  return metric.corpus_score(hyps, refs), raw.corpus_score(hyps, refs)


def assert_same(ours: bleu.BLEUScore, theirs, raw) -> None:
  assert abs(ours.score - theirs.score) <= TOL, (ours, theirs)
  assert len(ours.precisions) == len(theirs.precisions)
  for a, b in zip(ours.precisions, theirs.precisions, strict=True):
    assert abs(a - b) <= TOL, (ours.precisions, theirs.precisions)
  assert abs(ours.bp - theirs.bp) <= TOL
  assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
  assert list(ours.counts) == list(raw.counts) and list(ours.totals) == list(raw.totals)


@settings(max_examples=300, deadline=None)
@given(corpus=corpora(), options=OPTIONS, smooth_value=st.sampled_from([0.01, 0.5, 2.0]))
def test_corpus_bleu_equals_sacrebleu(corpus, options, smooth_value):
  hyps, refs = corpus
  options = dict(options)
  if options.pop("custom_smooth") and options["smooth_method"] in ("floor", "add-k"):
    options["smooth_value"] = smooth_value
  theirs, raw = sacre_score(hyps, refs, options)
  ours = bleu.corpus_bleu(hyps, refs, **options)
  assert_same(ours, theirs, raw)


@settings(max_examples=200, deadline=None)
@given(hyp=sentences(), refs=st.lists(sentences(), min_size=1, max_size=3), tokenize=st.sampled_from(bleu.TOKENIZERS),
       smooth_method=st.sampled_from(["exp", "floor", "add-k", "none"]))
def test_sentence_bleu_equals_sacrebleu(hyp, refs, tokenize, smooth_method):
  theirs = sacrebleu.sentence_bleu(hyp, refs, tokenize=tokenize, smooth_method=smooth_method)
  ours = bleu.sentence_bleu(hyp, refs, tokenize=tokenize, smooth_method=smooth_method)
  assert abs(ours.score - theirs.score) <= TOL
  assert all(abs(a - b) <= TOL for a, b in zip(ours.precisions, theirs.precisions, strict=True))


@settings(max_examples=300, deadline=None)
@given(line=st.one_of(st.text(max_size=40), sentences()))
def test_tokenizers_match_sacrebleu_on_any_text(line):
  assert bleu.tokenize_line(line, "13a") == Tokenizer13a()(line.rstrip()).split()
  assert bleu.tokenize_line(line, "zh") == TokenizerZh()(line.rstrip()).split()


def test_zh_character_ranges_match_sacrebleu_on_every_bmp_character():
  # Compares the per-character decision over all of the BMP (and a few supplementary characters),
  # including the ranges whose effective bounds differ from what their comments intend.
  theirs = TokenizerZh._is_chinese_char
  chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + ["\U00020000", "\U0002A6D6", "\U0002F800"]
  mismatches = [c for c in chars if bleu.is_chinese_char(c) != theirs(c)]
  assert not mismatches, [hex(ord(c)) for c in mismatches[:10]]


# ----------------------------------------------------------------------------------------------------
# Fixed cases.


def test_known_values():
  assert bleu.corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]).score == pytest.approx(100.0)
  empty = bleu.corpus_bleu([""], [["the cat"]])
  assert empty.score == 0.0 and empty.bp == 0.0 and empty.sys_len == 0
  # Hand-computed: hypothesis 4 tokens, reference 6; p1 = 4/4, p2 = 3/3, p3 = 2/2, p4 = 1/1.
  short = bleu.corpus_bleu(["the cat sat on"], [["the cat sat on the mat"]])
  assert short.counts == (4, 3, 2, 1) and short.totals == (4, 3, 2, 1)
  assert short.bp == pytest.approx(math.exp(1 - 6 / 4))
  assert short.score == pytest.approx(100 * math.exp(1 - 6 / 4))


def test_worked_example_counts():
  # The course notes' example: 3 matching unigrams, 2 bigrams, 1 trigram.
  hyp = "the weather is cold tonight".split()
  ref = "the weather is nice today".split()
  assert [bleu.ngram_matches(hyp, ref, n) for n in (1, 2, 3, 4)] == [(3, 5), (2, 4), (1, 3), (0, 2)]
  score = bleu.sentence_bleu(" ".join(hyp), [" ".join(ref)], smooth_method="none", use_effective_order=False)
  assert score.counts == (3, 2, 1, 0) and score.score == 0.0


def test_clipping_and_closest_reference():
  assert bleu.ngram_matches("the the the".split(), "the cat".split(), 1) == (1, 3)
  # Closest reference length: |3 - 2| = |3 - 4|, ties go to the shorter one (2).
  score = bleu.corpus_bleu(["a b c"], [["a b"], ["a b c d"]])
  assert score.ref_len == 2
  theirs = sacrebleu.corpus_bleu(["a b c"], [["a b"], ["a b c d"]])
  assert theirs.ref_len == 2


def test_token_id_bleu_equals_string_bleu():
  hyps = [[5, 6, 7, 8, 9], [1, 2, 3], []]
  refs = [[[5, 6, 7, 9], [5, 6, 7, 8, 0, 0]], [[1, 2, 3, 4]], [[4, 4]]]
  ours = bleu.corpus_bleu_tokens(hyps, refs)
  as_text = bleu.corpus_bleu([" ".join(map(str, h)) for h in hyps],
                             [[" ".join(map(str, r[0])) for r in refs],
                              [" ".join(map(str, r[1])) if len(r) > 1 else None for r in refs]], tokenize="none")
  assert ours == as_text
  assert bleu.strip_special([1, 5, 6, 0, 2, 7, 7], eos_id=2, drop_ids=(0, 1)) == [5, 6]


def test_user_errors():
  with pytest.raises(UserError, match="stream 0 has 1 segments"):
    bleu.corpus_bleu(["a", "b"], [["a"]])
  with pytest.raises(UserError, match="reference streams"):
    bleu.corpus_bleu(["a"], ["a"])
  with pytest.raises(UserError, match="tokenizer"):
    bleu.corpus_bleu(["a"], [["a"]], tokenize="intl")
  with pytest.raises(UserError, match="smooth_method"):
    bleu.corpus_bleu(["a"], [["a"]], smooth_method="add-one")
  with pytest.raises(UserError, match="no reference"):
    bleu.corpus_bleu(["a"], [[None]])
  with pytest.raises(UserError, match="list of reference strings"):
    bleu.sentence_bleu("a", "a")


def test_score_is_frozen():
  score = bleu.corpus_bleu(["a b c d"], [["a b c d"]])
  with pytest.raises(AttributeError):
    score.score = 1.0  # type: ignore[misc]
  assert "BLEU = 100.00" in str(score)
