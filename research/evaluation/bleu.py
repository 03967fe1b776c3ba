"""BLEU (Papineni et al., 2002), numerically identical to sacrebleu 2.x for the 13a, zh and none tokenizers.

BLEU counts, for n = 1..4, how many of the hypothesis' n-grams also appear in a reference — each n-gram
credited at most as often as it appears in the reference that has it most ("clipped" counts) — pools
these counts over the corpus, and reports

    BLEU = BP · exp(mean_n log p_n),  p_n = matched n-grams / hypothesis n-grams,
    BP = exp(1 - r / c) if c < r else 1   (c: hypothesis tokens, r: closest reference lengths).

Strings are tokenized first (`tokenize`): '13a' is the mteval-v13a tokenizer used by WMT, 'zh' splits
every CJK character and then applies 13a's punctuation rules, 'none' only splits on whitespace. Scores
are in 0..100 like sacrebleu's. For token-id sequences from a model (seq2seq, captioning) use
`corpus_bleu_tokens`, which skips tokenization, and `ngram_matches` for the per-order counts.

sacrebleu is only a test dependency (tests/evaluation/test_bleu.py checks equality to 1e-6); this module is our own.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import re
from collections.abc import Hashable, Sequence
from typing import Any

from research.errors import UserError

MAX_NGRAM_ORDER = 4
TOKENIZERS = ("13a", "zh", "none")
# Defaults from Chen & Cherry (2014), "A Systematic Comparison of Smoothing Techniques for Sentence-Level BLEU".
SMOOTH_DEFAULTS: dict[str, float | None] = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}
# log(0) stand-in, so a zero precision drives the geometric mean to 0 without a math domain error.
_LOG_ZERO = -9999999999.0

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BLEUScore:
  """A BLEU result with its sufficient statistics.

  Attributes:
    score: BLEU in 0..100.
    precisions: per order n = 1..N, the (smoothed) n-gram precision in % (0..100).
    counts: per order, clipped matching n-grams summed over the corpus (never smoothed; sacrebleu's
      `counts` include the add-k constant for n > 1 when smooth_method='add-k').
    totals: per order, hypothesis n-grams summed over the corpus.
    bp: brevity penalty in (0, 1].
    sys_len: hypothesis tokens in the corpus.
    ref_len: summed length of the reference closest in length to each hypothesis.
  """
  score: float
  precisions: tuple[float, ...]
  counts: tuple[int, ...]
  totals: tuple[int, ...]
  bp: float
  sys_len: int
  ref_len: int

  def __str__(self) -> str:
    precisions = "/".join(f"{p:.1f}" for p in self.precisions)
    return (f"BLEU = {self.score:.2f} {precisions} (BP = {self.bp:.3f} hyp_len = {self.sys_len} "
            f"ref_len = {self.ref_len})")


# ----------------------------------------------------------------------------------------------------
# Tokenizers.

# mteval-v13a splits off every ASCII punctuation mark except the apostrophe, period, comma and hyphen
# (space is in its class too, which only adds whitespace); those four get context-dependent rules.
_SPLIT_ALWAYS = re.compile("([" + re.escape(" !\"#$%&()*+/:;<=>?@[\\]^_`{|}~") + "])")
# Period and comma split unless between digits (3.14, 1,000); [0-9] on purpose: \d would also match
# non-ASCII digits, which mteval does not treat as numbers.
_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")


def _split_punctuation(line: str) -> str:
  """The language-dependent part shared by 13a and zh. The passes run in this order, each over the
  previous one's output with non-overlapping left-to-right matches, as mteval does."""
  line = _SPLIT_ALWAYS.sub(r" \1 ", line)
  line = _PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
  line = _PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
  line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
  return " ".join(line.split())


def tokenize_13a(line: str) -> str:
  """mteval-v13a: drop <skipped> markers, join hyphenated line breaks, unescape 4 HTML entities, split punctuation."""
  line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
  if "&" in line:
    # This order is part of the behaviour: "&amp;lt;" becomes "&lt;" and then "<".
    for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
      line = line.replace(entity, char)
  return _split_punctuation(f" {line} ")


# Code-point ranges the zh tokenizer treats as Chinese characters (CJK ideographs, radicals, CJK and
# full-width punctuation, some symbol blocks). Two entries differ from their intent on purpose: the
# reference implementation wrote the supplementary-plane ranges U+20000–U+2A6D6 and U+2F800–U+2FA1D
# as 4-hex-digit escapes plus a trailing character, which in effect selects U+2001–U+2A6D (general
# punctuation, currency, arrows, math, ...) and U+2F81–U+2FA1; we keep that effective behaviour so
# scores match sacrebleu, and so leave ideographs beyond the BMP unsplit.
_ZH_RANGES = (
    (0x3400, 0x4DB5), (0x4E00, 0x9FA5), (0x9FA6, 0x9FBB), (0xF900, 0xFA2D), (0xFA30, 0xFA6A),
    (0xFA70, 0xFAD9), (0x2001, 0x2A6D), (0x2F81, 0x2FA1), (0xFF00, 0xFFEF), (0x2E80, 0x2EFF),
    (0x3000, 0x303F), (0x31C0, 0x31EF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF), (0x3100, 0x312F),
    (0x31A0, 0x31BF), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F), (0x2600, 0x26FF), (0x2700, 0x27BF),
    (0x3200, 0x32FF), (0x3300, 0x33FF),
)


def is_chinese_char(char: str) -> bool:
  """Whether the zh tokenizer splits `char` (one character) off as a token of its own."""
  code = ord(char)
  return any(lo <= code <= hi for lo, hi in _ZH_RANGES)


def tokenize_zh(line: str) -> str:
  """Chinese: every CJK character becomes a token; the rest follows 13a's punctuation rules."""
  spaced = "".join(f" {c} " if is_chinese_char(c) else c for c in line.strip())
  return _split_punctuation(spaced)


_TOKENIZE_FNS = {"13a": tokenize_13a, "zh": tokenize_zh, "none": lambda line: line}


def tokenize_line(line: str, tokenizer: str = "13a", lowercase: bool = False) -> list[str]:
  """The tokens BLEU sees for one segment: optional lowercasing, trailing whitespace stripped, tokenized."""
  if tokenizer not in _TOKENIZE_FNS:
    raise UserError(f"unknown BLEU tokenizer {tokenizer!r}; use one of {', '.join(TOKENIZERS)}")
  if lowercase:
    line = line.lower()
  return _TOKENIZE_FNS[tokenizer](line.rstrip()).split()


# ----------------------------------------------------------------------------------------------------
# n-gram statistics on token sequences (strings or ids).


def ngram_counts(tokens: Sequence[Hashable], n: int) -> collections.Counter:
  """Counter of the n-grams (tuples of n tokens) of a sequence."""
  tokens = tuple(tokens)
  return collections.Counter(tokens[i:i + n] for i in range(len(tokens) - n + 1))


def ngram_matches(hyp_tokens: Sequence[Hashable], ref_tokens: Sequence[Hashable], n: int) -> tuple[int, int]:
  """(clipped matches, hypothesis n-grams) of order n between one hypothesis and one reference.

  Each hypothesis n-gram is credited at most as often as it occurs in the reference, so "the the the"
  against "the cat" has 1 matching unigram, not 3.
  """
  hyp, ref = ngram_counts(hyp_tokens, n), ngram_counts(ref_tokens, n)
  return sum(min(c, ref[g]) for g, c in hyp.items()), sum(hyp.values())


def _closest_ref_len(hyp_len: int, ref_lens: Sequence[int]) -> int:
  # The reference length nearest the hypothesis length; on a tie, the shorter one.
  return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def _segment_stats(hyp: Sequence[Hashable], refs: Sequence[Sequence[Hashable]],
                   max_order: int) -> tuple[int, int, list[int], list[int]]:
  """(hyp_len, closest ref_len, clipped matches per order, hypothesis n-grams per order) for one segment."""
  best: collections.Counter = collections.Counter()
  for ref in refs:
    for n in range(1, max_order + 1):
      best |= ngram_counts(ref, n)
  counts, totals = [0] * max_order, [0] * max_order
  for n in range(1, max_order + 1):
    for gram, c in ngram_counts(hyp, n).items():
      totals[n - 1] += c
      counts[n - 1] += min(c, best[gram])
  return len(hyp), _closest_ref_len(len(hyp), [len(r) for r in refs]), counts, totals


def bleu_from_stats(counts: Sequence[int], totals: Sequence[int], sys_len: int, ref_len: int, *,
                    smooth_method: str = "exp", smooth_value: float | None = None, use_effective_order: bool = False,
                    max_ngram_order: int = MAX_NGRAM_ORDER) -> BLEUScore:
  """BLEU from pooled statistics, with sacrebleu's smoothing (Chen & Cherry 2014 methods 1-3).

  smooth_method: 'none'; 'floor' (a zero count becomes `smooth_value`, default 0.1); 'add-k' (add
  `smooth_value`, default 1, to counts and totals of orders n > 1); 'exp' (the NIST/mteval rule: the
  i-th zero-count order gets precision 1 / (2^i · total)). use_effective_order averages only over the
  orders that have any hypothesis n-gram — meant for sentence-level BLEU of short segments.
  """
  if smooth_method not in SMOOTH_DEFAULTS:
    raise UserError(f"unknown BLEU smooth_method {smooth_method!r}; use one of {', '.join(SMOOTH_DEFAULTS)}")
  if max_ngram_order < 1:
    raise UserError(f"max_ngram_order must be >= 1, got {max_ngram_order}")
  if smooth_value is None:
    smooth_value = SMOOTH_DEFAULTS[smooth_method]
  bp = 1.0
  if sys_len < ref_len:
    bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
  raw_counts, raw_totals = tuple(int(c) for c in counts), tuple(int(t) for t in totals)
  precisions = [0.0] * max_ngram_order
  if not any(raw_counts):
    return BLEUScore(0.0, tuple(precisions), raw_counts, raw_totals, bp, sys_len, ref_len)

  score, precisions = bleu_value(raw_counts, raw_totals, bp, smooth_method=smooth_method, smooth_value=smooth_value,
                                 use_effective_order=use_effective_order)
  return BLEUScore(score, tuple(precisions), raw_counts, raw_totals, bp, sys_len, ref_len)


def bleu_value(counts: Sequence[Any], totals: Sequence[Any], bp: float, *, smooth_method: str, smooth_value: float,
               use_effective_order: bool) -> tuple[float, list[Any]]:
  """(score, precisions) of matched n-gram counts and totals (any numeric type, kept: a bootstrap that sums
  float32 statistics as sacrebleu does gets sacrebleu's float32 precisions), after the brevity penalty `bp`.
  Counts must not all be zero (bleu_from_stats returns 0 for that first)."""
  max_ngram_order = len(counts)
  precisions = [0.0] * max_ngram_order
  matched, total = list(counts), list(totals)
  halvings = 1.0  # 'exp': doubles at each order with no match
  eff_order = max_ngram_order
  for n in range(1, max_ngram_order + 1):
    if smooth_method == "add-k" and n > 1:
      matched[n - 1] += smooth_value
      total[n - 1] += smooth_value
    if total[n - 1] == 0:
      break  # no longer n-grams exist either
    if use_effective_order:
      eff_order = n
    if matched[n - 1] == 0:
      if smooth_method == "exp":
        halvings *= 2
        precisions[n - 1] = 100.0 / (halvings * total[n - 1])
      elif smooth_method == "floor":
        precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
    else:
      precisions[n - 1] = 100.0 * matched[n - 1] / total[n - 1]
  log_sum = sum(math.log(p) if p != 0.0 else _LOG_ZERO for p in precisions[:eff_order])
  return bp * math.exp(log_sum / eff_order), precisions


def _pooled_bleu(hyps: Sequence[Sequence[Hashable]], refs_per_hyp: Sequence[Sequence[Sequence[Hashable]]],
                 **kwargs) -> BLEUScore:
  max_order = kwargs.get("max_ngram_order", MAX_NGRAM_ORDER)
  sys_len = ref_len = 0
  counts, totals = [0] * max_order, [0] * max_order
  for hyp, refs in zip(hyps, refs_per_hyp, strict=True):
    h, r, c, t = _segment_stats(hyp, refs, max_order)
    sys_len, ref_len = sys_len + h, ref_len + r
    counts = [a + b for a, b in zip(counts, c, strict=True)]
    totals = [a + b for a, b in zip(totals, t, strict=True)]
  return bleu_from_stats(counts, totals, sys_len, ref_len, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Public entry points.


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *, tokenize: str = "13a",
                smooth_method: str = "exp", smooth_value: float | None = None, lowercase: bool = False,
                max_ngram_order: int = MAX_NGRAM_ORDER, force: bool = False,
                use_effective_order: bool = False) -> BLEUScore:
  """Corpus BLEU of detokenized strings.

  Args:
    hypotheses: N system outputs.
    references: sacrebleu's layout — a list of reference STREAMS, each a list of N strings parallel to
      `hypotheses` (`references[j][i]` is the j-th reference of hypothesis i). A `None` entry means
      "no j-th reference for this hypothesis", allowing a varying number of references.
    tokenize: '13a' (default, WMT's), 'zh' (Chinese), or 'none' (split on whitespace only).
    smooth_method, smooth_value, use_effective_order, max_ngram_order: see `bleu_from_stats`.
    lowercase: lowercase hypotheses and references first.
    force: silence the warning about outputs that look already tokenized (many lines ending in " .").

  Returns:
    BLEUScore with score in 0..100.
  """
  hypotheses = _check_strings(hypotheses, "hypotheses")
  if isinstance(references, str) or not references or isinstance(references[0], str):
    raise UserError("references must be a list of reference streams (lists of strings parallel to the "
                    "hypotheses), e.g. [refs] for one reference per hypothesis")
  for j, stream in enumerate(references):
    if len(stream) != len(hypotheses):
      raise UserError(f"reference stream {j} has {len(stream)} segments but there are {len(hypotheses)} "
                      "hypotheses; every stream must have one entry per hypothesis")
  if not force and sum(h.endswith(" .") for h in hypotheses) >= 100:
    logger.warning("100+ hypotheses end in ' .': they look tokenized already, which lowers BLEU; detokenize "
                   "them, or pass force=True if they are not")

  def prep(line: str) -> list[str]:
    return tokenize_line(line, tokenize, lowercase)

  hyps = [prep(h) for h in hypotheses]
  refs_per_hyp = []
  for i, refs in enumerate(zip(*references, strict=True)):
    present = [prep(r) for r in refs if r is not None]
    if not present:
      raise UserError(f"hypothesis {i} has no reference (all streams hold None); give it at least one")
    refs_per_hyp.append(present)
  return _pooled_bleu(hyps, refs_per_hyp, smooth_method=smooth_method, smooth_value=smooth_value,
                      use_effective_order=use_effective_order, max_ngram_order=max_ngram_order)


def sentence_bleu(hypothesis: str, references: Sequence[str], *, tokenize: str = "13a", smooth_method: str = "exp",
                  smooth_value: float | None = None, lowercase: bool = False,
                  max_ngram_order: int = MAX_NGRAM_ORDER, use_effective_order: bool = True) -> BLEUScore:
  """BLEU of one hypothesis against its references (a list of strings). Defaults as sacrebleu's
  `sentence_bleu` (exp smoothing, effective order on); corpus BLEU is not the mean of these."""
  if not isinstance(hypothesis, str):
    raise UserError(f"sentence_bleu takes one hypothesis string, got {type(hypothesis).__name__}")
  if isinstance(references, str):
    raise UserError("sentence_bleu takes a list of reference strings; wrap a single reference as [ref]")
  return corpus_bleu([hypothesis], [[r] for r in references], tokenize=tokenize, smooth_method=smooth_method,
                     smooth_value=smooth_value, lowercase=lowercase, max_ngram_order=max_ngram_order,
                     force=True, use_effective_order=use_effective_order)


def corpus_bleu_tokens(hypotheses: Sequence[Sequence[Hashable]],
                       references: Sequence[Sequence[Sequence[Hashable]]], *, smooth_method: str = "exp",
                       smooth_value: float | None = None, max_ngram_order: int = MAX_NGRAM_ORDER,
                       use_effective_order: bool = False) -> BLEUScore:
  """Corpus BLEU of already-tokenized sequences (token ids or strings) — for model outputs.

  Args:
    hypotheses: N token sequences (e.g. decoded ids cut at eos with `strip_special`).
    references: item-major, unlike `corpus_bleu`: `references[i]` is the list of reference token
      sequences of hypothesis i (any number ≥ 1 per item, e.g. 5 captions per image).
  """
  if len(hypotheses) != len(references):
    raise UserError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists; give one list per "
                    "hypothesis")
  hyps = [list(h) for h in hypotheses]
  refs_per_hyp = []
  for i, refs in enumerate(references):
    if not len(refs):
      raise UserError(f"hypothesis {i} has an empty reference list; give it at least one reference")
    refs_per_hyp.append([list(r) for r in refs])
  return _pooled_bleu(hyps, refs_per_hyp, smooth_method=smooth_method, smooth_value=smooth_value,
                      use_effective_order=use_effective_order, max_ngram_order=max_ngram_order)


def strip_special(token_ids: Sequence[int], *, eos_id: int | None = None,
                  drop_ids: Sequence[int] = ()) -> list[int]:
  """Token ids up to (excluding) the first eos, without any id in drop_ids (bos, pad): what BLEU should see."""
  out = []
  for t in token_ids:
    t = int(t)
    if eos_id is not None and t == eos_id:
      break
    if t not in drop_ids:
      out.append(t)
  return out


def _check_strings(lines: Sequence[str], name: str) -> list[str]:
  if isinstance(lines, str) or not isinstance(lines, Sequence):
    raise UserError(f"{name} must be a list of strings, got {type(lines).__name__}")
  if not lines:
    raise UserError(f"{name} is empty; BLEU needs at least one segment")
  for i, line in enumerate(lines):
    if not isinstance(line, str):
      raise UserError(f"{name}[{i}] is {type(line).__name__}, not a string")
  return list(lines)
