"""Every vocabulary in the framework: `Vocab` (characters for Chinese, words or BPE subwords for English) and
BERT's `WordPieceVocab`, with one save/check path (`save_or_check`) and one loader (`load_vocab`).

Ids 0..3 are always the special tokens `<pad>`, `<bos>`, `<eos>`, `<unk>`, so padding is id 0 in every
model and mask. A vocabulary is built from the training split only (validation/test words the model
never saw map to `<unk>`), saved as JSON next to the run, and compared by `fingerprint()` when a run
is restored: a checkpoint trained with one vocabulary is meaningless under another.

    vocab = Vocab.build(train_texts, kind="word", min_freq=2, max_size=20000)
    ids = vocab.encode("In the beginning God created")   # int32[n], no bos/eos
    vocab.decode(ids)                                    # 'in the beginning god created'
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import heapq
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from research.errors import UserError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
KINDS = ("char", "word", "subword")
_FORMAT = "research.vocab/1"

# A word is letters/digits with inner apostrophes ("lord's" stays one word); every other non-space
# character is its own token, so "earth." → "earth", "." and BLEU's 13a tokenizer sees the same split.
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_SUBWORD_CONT = "##"  # marks a BPE piece that continues the previous piece inside one word
# No space before closing punctuation, none after opening brackets, when turning words back into text.
_NO_SPACE_BEFORE = set(".,;:!?)]}'\"%")
_NO_SPACE_AFTER = set("([{")


def split_words(text: str, lowercase: bool = True) -> list[str]:
  """English-style word tokens: `\\w+` runs (inner apostrophes kept) and single punctuation marks."""
  return _WORD_RE.findall(text.lower() if lowercase else text)


def split_chars(text: str) -> list[str]:
  """Character tokens, whitespace dropped (Chinese text has no word boundaries to keep)."""
  return [c for c in text if not c.isspace()]


def join_words(words: Sequence[str]) -> str:
  """Inverse of `split_words` up to spacing: 'and god said , let' → 'and god said, let'."""
  out = ""
  for w in words:
    if out and not (w in _NO_SPACE_BEFORE or out[-1] in _NO_SPACE_AFTER):
      out += " "
    out += w
  return out


def train_subword_pieces(word_counts: Mapping[str, int], *, vocab_size: int, min_freq: int = 2,
                         prefix: str = "##") -> tuple[tuple[str, ...], list[tuple[str, str]]]:
  """Subword pieces and merges learned from word frequencies by greedy pair merging (byte-pair encoding with
  `prefix` marking a piece that continues a word: what `tokenizers`' BPE and WordPiece trainers do), deterministically.

  `tokenizers`' own trainers give a different result in every process (their tie-breaking follows hash-map
  order), so a resumed run's rebuilt vocabulary would not match the one saved in its workdir.

  Every word starts as its first character plus `prefix`-ed later characters; the alphabet (every such
  symbol, most frequent first, ties by the symbol) comes first, then, while fewer than `vocab_size` pieces
  exist, the adjacent pair with the highest count over all words (at least `min_freq`; ties → the
  lexicographically smallest pair) is merged everywhere and the merged piece added. Returns (pieces in that
  order, merges as (left, right) pairs in the order applied); the alphabet is truncated to `vocab_size` only if
  it alone exceeds it.
  """
  words = sorted(word_counts.items())
  symbols = [[w[0]] + [prefix + c for c in w[1:]] for w, _ in words]
  freqs = [n for _, n in words]
  alphabet: collections.Counter[str] = collections.Counter()
  for syms, n in zip(symbols, freqs, strict=True):
    for sym in syms:
      alphabet[sym] += n
  pieces = [sym for sym, _ in sorted(alphabet.items(), key=lambda kv: (-kv[1], kv[0]))][:vocab_size]
  known = set(pieces)
  merges: list[tuple[str, str]] = []
  pair_count: collections.Counter[tuple[str, str]] = collections.Counter()
  pair_words: collections.defaultdict[tuple[str, str], set[int]] = collections.defaultdict(set)
  for i, syms in enumerate(symbols):
    for pair in itertools.pairwise(syms):
      pair_count[pair] += freqs[i]
      pair_words[pair].add(i)
  # A max-heap by (count, then smallest pair) with lazy deletion: stale entries are skipped when popped.
  heap = [(-n, pair) for pair, n in pair_count.items()]
  heapq.heapify(heap)
  while len(pieces) < vocab_size and heap:
    neg, pair = heapq.heappop(heap)
    if pair_count.get(pair, 0) != -neg:
      continue
    if -neg < min_freq:
      break
    a, b = pair
    merged = a + b[len(prefix):] if b.startswith(prefix) else a + b
    merges.append(pair)
    if merged not in known:
      known.add(merged)
      pieces.append(merged)
    changed: set[tuple[str, str]] = set()
    for i in sorted(pair_words.pop(pair, ())):
      old = symbols[i]
      for p in itertools.pairwise(old):
        pair_count[p] -= freqs[i]
        changed.add(p)
      new, j = [], 0
      while j < len(old):
        if j + 1 < len(old) and old[j] == a and old[j + 1] == b:
          new.append(merged)
          j += 2
        else:
          new.append(old[j])
          j += 1
      symbols[i] = new
      for p in itertools.pairwise(new):
        pair_count[p] += freqs[i]
        pair_words[p].add(i)
        changed.add(p)
    pair_count.pop(pair, None)
    for p in sorted(changed):
      n = pair_count.get(p, 0)
      if n > 0:
        heapq.heappush(heap, (-n, p))
      else:
        pair_count.pop(p, None)
  return tuple(pieces), merges


class _Tokens:
  """What both vocabularies share: `tokens[id]`, and their count as len() and `.size`."""

  tokens: tuple[str, ...]

  def __len__(self) -> int:
    return len(self.tokens)

  @property
  def size(self) -> int:
    return len(self.tokens)


@dataclasses.dataclass(frozen=True)
class Vocab(_Tokens):
  """An id ↔ token table plus the tokenizer that produced the tokens.

  Attributes:
    tokens: id → token; tokens[:4] are `<pad> <bos> <eos> <unk>`.
    kind: 'char' | 'word' | 'subword'.
    lowercase: whether text is lowercased before splitting (word and subword kinds).
    bpe_json: for kind='subword', the `tokenizers` BPE model serialized as JSON.
  """

  tokens: tuple[str, ...]
  kind: str = "word"
  lowercase: bool = True
  bpe_json: str | None = None

  def __post_init__(self):
    if self.kind not in KINDS:
      raise UserError(f"unknown tokenizer kind {self.kind!r}; use one of {', '.join(KINDS)}")
    if tuple(self.tokens[:4]) != SPECIALS:
      raise ValueError(f"a vocabulary must start with {SPECIALS}, got {self.tokens[:4]}")
    if len(set(self.tokens)) != len(self.tokens):
      raise ValueError("duplicate tokens in vocabulary")
    object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})
    object.__setattr__(self, "_bpe", None)

  def __repr__(self) -> str:  # the default would print every token
    return f"Vocab(kind={self.kind!r}, size={self.size}, fingerprint={self.fingerprint()!r})"

  # ----------------------------------------------------------------------------------- building
  @classmethod
  def build(cls, texts: Iterable[str], *, kind: str = "word", min_freq: int = 1, max_size: int | None = None,
            lowercase: bool = True) -> Vocab:
    """Counts tokens in `texts` (the training split) and keeps the frequent ones.

    Args:
      texts: training sentences.
      kind: 'char' (every character), 'word' (lowercased words and punctuation), or 'subword'
        (byte-pair encoding over words, `train_subword_pieces`; `tokenizers` encodes).
      min_freq: tokens seen fewer times map to `<unk>` (for 'subword': minimum pair frequency of a merge).
      max_size: at most this many ids in all, the 4 specials included (for 'subword': the BPE vocabulary size,
        default 8000). Ties in frequency are broken by the token's text, so the result is deterministic.
      lowercase: lowercase before splitting ('word'/'subword'; ignored for 'char').
    """
    if kind not in KINDS:
      raise UserError(f"unknown tokenizer kind {kind!r}; use one of {', '.join(KINDS)}")
    if max_size is not None and max_size <= len(SPECIALS):
      raise UserError(f"vocabulary max_size={max_size} leaves no room beyond the {len(SPECIALS)} special tokens")
    if kind == "subword":
      return cls._build_bpe(texts, min_freq=min_freq, max_size=max_size or 8000, lowercase=lowercase)
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
      counts.update(split_chars(text) if kind == "char" else split_words(text, lowercase))
    for s in SPECIALS:
      counts.pop(s, None)
    ranked = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
    if max_size is not None:
      ranked = ranked[:max_size - len(SPECIALS)]
    return cls(tokens=SPECIALS + tuple(ranked), kind=kind, lowercase=lowercase if kind != "char" else False)

  @classmethod
  def from_tokens(cls, tokens: Sequence[str], *, kind: str = "word", lowercase: bool = False) -> Vocab:
    """A vocabulary with a fixed symbol set (synthetic tasks): ids 4.. are `tokens` in order."""
    return cls(tokens=SPECIALS + tuple(tokens), kind=kind, lowercase=lowercase)

  @classmethod
  def _build_bpe(cls, texts: Iterable[str], *, min_freq: int, max_size: int, lowercase: bool) -> Vocab:
    from tokenizers import Tokenizer, models, pre_tokenizers
    # Words come from our own `split_words`, so BPE only ever sees space-separated words and the
    # subword and word vocabularies agree on what a word is. Pieces and merges from our deterministic trainer;
    # `tokenizers` applies them when encoding.
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
      counts.update(split_words(text, lowercase))
    pieces, merges = train_subword_pieces(counts, vocab_size=max_size - len(SPECIALS), min_freq=max(min_freq, 1),
                                          prefix=_SUBWORD_CONT)
    tokens = SPECIALS + pieces
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, unk_token=UNK,
                               continuing_subword_prefix=_SUBWORD_CONT))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return cls(tokens=tokens, kind="subword", lowercase=lowercase, bpe_json=tok.to_str())

  # ------------------------------------------------------------------------------ encode/decode
  def split(self, text: str) -> list[str]:
    """The token strings of `text` (before id lookup)."""
    if self.kind == "char":
      return split_chars(text)
    words = split_words(text, self.lowercase)
    if self.kind == "word":
      return words
    if not words:
      return []
    return self._tokenizer().encode(words, is_pretokenized=True, add_special_tokens=False).tokens

  def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> np.ndarray:
    """Text → int32[n] ids; unknown tokens become `<unk>` (id 3)."""
    ids = [self._index.get(t, UNK_ID) for t in self.split(text)]
    return np.asarray(([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else []), dtype=np.int32)

  def decode(self, ids: Sequence[int] | np.ndarray, *, strip_special: bool = True) -> str:
    """int ids → text. Stops at the first `<eos>`; drops `<pad>`/`<bos>` (and `<eos>`) when `strip_special`."""
    tokens = []
    for i in np.asarray(ids).reshape(-1).tolist():
      if i == EOS_ID and strip_special:
        break
      if strip_special and i in (PAD_ID, BOS_ID):
        continue
      tokens.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
    if self.kind == "char":
      return "".join(tokens)
    if self.kind == "subword":
      words: list[str] = []
      for t in tokens:
        if t.startswith(_SUBWORD_CONT) and words:
          words[-1] += t[len(_SUBWORD_CONT):]
        else:
          words.append(t)
      tokens = words
    return join_words(tokens)

  def _tokenizer(self) -> Any:
    if self._bpe is None:
      from tokenizers import Tokenizer
      object.__setattr__(self, "_bpe", Tokenizer.from_str(self.bpe_json))
    return self._bpe

  # ----------------------------------------------------------------------------------- persistence
  def to_json(self) -> dict[str, Any]:
    return {"format": _FORMAT, "kind": self.kind, "lowercase": self.lowercase, "tokens": list(self.tokens),
            "bpe_json": self.bpe_json}

  @classmethod
  def from_json(cls, d: dict[str, Any]) -> Vocab:
    if d.get("format") != _FORMAT:
      raise UserError(f"not a vocabulary file (format {d.get('format')!r}, expected {_FORMAT!r})")
    return cls(tokens=tuple(d["tokens"]), kind=d["kind"], lowercase=d["lowercase"], bpe_json=d.get("bpe_json"))

  def fingerprint(self) -> str:
    """A short hash of everything that decides token ids: equal fingerprints ⇔ interchangeable vocabularies."""
    blob = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]

  def save(self, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(self.to_json(), f, ensure_ascii=False)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated vocabulary behind

  @classmethod
  def load(cls, path: str) -> Vocab:
    try:
      with open(path, encoding="utf-8") as f:
        d = json.load(f)
    except FileNotFoundError:
      raise UserError(f"vocabulary file {path} not found") from None
    except json.JSONDecodeError as e:
      raise UserError(f"vocabulary file {path} is not valid JSON ({e.msg}); delete it or use a fresh workdir") from None
    return cls.from_json(d)


def save_or_check(vocab: AnyVocab, path: str, *, check_only: bool = False) -> AnyVocab:
  """Writes `vocab` to `path` on a fresh run; on a restored run checks it equals the saved one (by fingerprint)
  and returns the saved one. With check_only nothing is written (the read-only check before a run takes a workdir).

  Raises:
    UserError: the saved vocabulary differs (the data or the tokenizer settings changed since the
      checkpoint was written, so its token ids would mean different words).
  """
  if not os.path.exists(path):
    if not check_only:
      vocab.save(path)
    return vocab
  saved = load_vocab(path)
  if saved.fingerprint() != vocab.fingerprint():
    raise UserError(
        f"vocabulary {path} (fingerprint {saved.fingerprint()}, {saved.size} tokens) differs from the one built from "
        f"the data now ({vocab.fingerprint()}, {vocab.size} tokens): the data or tokenizer settings changed since the "
        "checkpoint; restore the original settings or start a fresh --workdir (or set config.dataset.vocab_path to "
        "the saved file)")
  return saved


def save_or_check_vocab(vocab: AnyVocab, directory: str, *, check_only: bool = False) -> AnyVocab:
  """`save_or_check` as DIR/vocab.json (word) or DIR/vocab.txt (WordPiece)."""
  return save_or_check(vocab, os.path.join(directory, vocab_filename(vocab)), check_only=check_only)


def save_or_check_vocabs(info: dict[str, Any], directory: str, *, check_only: bool = False) -> None:
  """`save_or_check` for a dataset's `info['src_vocab']` and `info['tgt_vocab']` as DIR/vocab_{src,tgt}.json."""
  for side in ("src", "tgt"):
    vocab = info.get(f"{side}_vocab")
    if vocab is not None:
      save_or_check(vocab, os.path.join(directory, f"vocab_{side}.json"), check_only=check_only)


# ------------------------------------------------------------------------------------------ WordPiece
TOKENIZERS = ("word", "wordpiece")  # config.dataset.tokenizer
WP_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclasses.dataclass(frozen=True)
class WordPieceVocab(_Tokens):
  """BERT's WordPiece vocabulary: `tokens[id]`, ids 0..4 = [PAD] [UNK] [CLS] [SEP] [MASK].

  Text is lowercased, accents stripped and split on whitespace and punctuation (BERT's "uncased"
  normalizer and pre-tokenizer); words are then split greedily into the longest pieces in the vocabulary,
  continuation pieces prefixed with '##'. Saved as `vocab.txt`, one token per line (the Hugging Face format).
  """

  tokens: tuple[str, ...]
  lowercase: bool = True

  def __post_init__(self):
    if len(set(self.tokens)) != len(self.tokens):
      raise ValueError("duplicate tokens in vocabulary")
    object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})
    object.__setattr__(self, "_tok", None)

  kind = "wordpiece"
  pad_id, unk_id, cls_id, sep_id, mask_id = 0, 1, 2, 3, 4

  @classmethod
  def build(cls, texts: Iterable[str], *, vocab_size: int = 4000, min_freq: int = 2,
            lowercase: bool = True) -> WordPieceVocab:
    """Trains a WordPiece vocabulary of at most `vocab_size` tokens (specials included) on `texts`.

    The text is normalized and split into words by the same BERT pipeline that encodes it later; the pieces
    come from `research.data.vocab.train_subword_pieces` (deterministic), not from `tokenizers`' trainer, whose
    result changes from process to process (its tie-breaking follows hash-map order), which made a resumed
    run's rebuilt vocabulary differ from the one saved in its workdir.
    """
    from tokenizers import Tokenizer, models
    if vocab_size <= len(WP_SPECIALS) + 26:
      raise UserError(f"wordpiece vocab_size={vocab_size} is too small; use at least 100")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    _set_bert_pipeline(tok, lowercase)
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
      counts.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text)))
    pieces, _ = train_subword_pieces(counts, vocab_size=vocab_size - len(WP_SPECIALS), min_freq=max(min_freq, 1))
    return cls(tokens=WP_SPECIALS + pieces, lowercase=lowercase)

  def _tokenizer(self) -> Any:
    if self._tok is None:
      from tokenizers import Tokenizer, models
      tok = Tokenizer(models.WordPiece(vocab=dict(self._index), unk_token="[UNK]", max_input_chars_per_word=100))
      _set_bert_pipeline(tok, self.lowercase)
      object.__setattr__(self, "_tok", tok)
    return self._tok

  def split(self, text: str) -> list[str]:
    return self._tokenizer().encode(text, add_special_tokens=False).tokens

  def encode(self, text: str) -> np.ndarray:
    """Text → int32[n] piece ids, no [CLS]/[SEP]."""
    return np.asarray(self._tokenizer().encode(text, add_special_tokens=False).ids, np.int32)

  def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
    return [np.asarray(e.ids, np.int32) for e in self._tokenizer().encode_batch(list(texts), add_special_tokens=False)]

  def decode(self, ids: Sequence[int] | np.ndarray, *, strip_special: bool = True) -> str:
    words: list[str] = []
    for i in np.asarray(ids).reshape(-1).tolist():
      t = self.tokens[i] if 0 <= i < len(self.tokens) else "[UNK]"
      if strip_special and t in ("[PAD]", "[CLS]", "[SEP]"):
        continue
      if t.startswith("##") and words:
        words[-1] += t[2:]
      else:
        words.append(t)
    return " ".join(words)

  def fingerprint(self) -> str:
    blob = json.dumps({"kind": "wordpiece", "lowercase": self.lowercase, "tokens": self.tokens}).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]

  def save(self, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      f.write("\n".join(self.tokens) + "\n")
    os.replace(path + ".tmp", path)

  @classmethod
  def load(cls, path: str, lowercase: bool = True) -> WordPieceVocab:
    try:
      with open(path, encoding="utf-8") as f:
        tokens = tuple(line.rstrip("\n") for line in f if line.rstrip("\n"))
    except FileNotFoundError:
      raise UserError(f"vocabulary file {path} not found") from None
    return cls(tokens=tokens, lowercase=lowercase)


def _set_bert_pipeline(tok: Any, lowercase: bool) -> None:
  from tokenizers import normalizers, pre_tokenizers
  tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=lowercase,
                                              lowercase=lowercase)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()


AnyVocab = Vocab | WordPieceVocab


def vocab_filename(vocab: AnyVocab) -> str:
  return "vocab.txt" if isinstance(vocab, WordPieceVocab) else "vocab.json"


def load_vocab(path: str) -> AnyVocab:
  """A vocabulary saved by `save_or_check` (vocab.txt → WordPiece, *.json → word Vocab)."""
  return WordPieceVocab.load(path) if path.endswith(".txt") else Vocab.load(path)


def special_info(vocab: AnyVocab) -> dict[str, int]:
  if isinstance(vocab, WordPieceVocab):
    return {"pad_id": vocab.pad_id, "unk_id": vocab.unk_id, "cls_id": vocab.cls_id, "sep_id": vocab.sep_id,
            "mask_id": vocab.mask_id, "num_special": len(WP_SPECIALS)}
  return {"pad_id": PAD_ID, "unk_id": UNK_ID, "num_special": 4}


def build_vocab(cfg: ConfigDict, texts: Sequence[str]) -> AnyVocab:
  """The vocabulary named by config.dataset (tokenizer, vocab_size, min_freq) from training `texts`."""
  path = cfg.get("vocab_path")
  if path:
    return load_vocab(os.path.expanduser(path))
  kind = cfg.get("tokenizer", "word")
  if kind not in TOKENIZERS:
    raise UserError(f"config.dataset.tokenizer={kind!r} is unknown; use one of {', '.join(TOKENIZERS)}")
  min_freq = int(cfg.get("min_freq", 2))
  if kind == "wordpiece":
    return WordPieceVocab.build(texts, vocab_size=int(cfg.get("vocab_size", 4000)), min_freq=min_freq)
  return Vocab.build(texts, kind="word", min_freq=min_freq, max_size=int(cfg.get("vocab_size", 8000)))


def encode_texts(vocab: AnyVocab, texts: Sequence[str]) -> list[np.ndarray]:
  if isinstance(vocab, WordPieceVocab):
    return vocab.encode_batch(texts)
  return [vocab.encode(t) for t in texts]
