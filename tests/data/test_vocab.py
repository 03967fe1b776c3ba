"""Vocabularies: building rules, encode/decode round trips, JSON persistence and the restore check."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.data.vocab import (
  BOS_ID,
  EOS_ID,
  PAD_ID,
  SPECIALS,
  UNK_ID,
  Vocab,
  join_words,
  save_or_check,
  save_or_check_vocabs,
  split_words,
)
from research.errors import UserError

EN = ["In the beginning God created the heaven and the earth.",
      "And the earth was without form, and void; and darkness was upon the face of the deep.",
      "And God said, Let there be light: and there was light.",
      "And God saw the light, that it was good: and God divided the light from the darkness."]
ZH = ["起初，神創造天地。", "地是空虛混沌，淵面黑暗；神的靈運行在水面上。", "神說：「要有光」，就有了光。"]


def test_split_words_lowercases_and_splits_punctuation():
  assert split_words("And God said, Let there be light: the LORD's.") == [
      "and", "god", "said", ",", "let", "there", "be", "light", ":", "the", "lord's", "."]
  assert join_words(["and", "god", "said", ",", "let", "(", "there", ")", "."]) == "and god said, let (there)."


def test_word_vocab_frequency_order_min_freq_and_max_size():
  v = Vocab.build(EN, kind="word", min_freq=2)
  assert v.tokens[:4] == SPECIALS and (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
  counts = collections.Counter(w for s in EN for w in split_words(s))
  expected = sorted((w for w, n in counts.items() if n >= 2), key=lambda w: (-counts[w], w))
  assert v.tokens[4:] == tuple(expected) and expected[:3] == ["the", "and", "."]
  assert counts["beginning"] == 1 and "beginning" not in v.tokens  # seen once < min_freq
  small = Vocab.build(EN, kind="word", max_size=6)
  assert small.tokens == SPECIALS + ("the", "and")
  with pytest.raises(UserError, match="max_size"):
    Vocab.build(EN, max_size=4)
  with pytest.raises(UserError, match="kind"):
    Vocab.build(EN, kind="bytes")


def test_word_and_char_round_trip_and_unknowns():
  v = Vocab.build(EN, kind="word")
  ids = v.encode(EN[2], add_bos=True, add_eos=True)
  assert ids.dtype == np.int32 and ids[0] == BOS_ID and ids[-1] == EOS_ID
  assert v.decode(ids) == "and god said, let there be light: and there was light."
  assert v.decode(np.append(ids, [7, 8])) == v.decode(ids)  # stops at <eos>
  np.testing.assert_array_equal(v.encode("God zebra"), [v.encode("god")[0], UNK_ID])
  c = Vocab.build(ZH, kind="char")
  assert c.decode(c.encode(ZH[1])) == ZH[1]
  assert c.decode(c.encode("神 愛")) == "神<unk>"  # spaces dropped, unseen char → <unk>


def test_subword_vocab_round_trips_words_it_never_saw_whole():
  v = Vocab.build(EN * 3, kind="subword", max_size=60, min_freq=1)
  assert v.tokens[:4] == SPECIALS and v.size <= 60
  text = "And the earth was without form, and void."
  assert v.decode(v.encode(text)) == join_words(split_words(text))
  pieces = v.split("darkness")
  assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["and", "the", "god", "light", ",", ".", ":", "darkness"]), min_size=1, max_size=12))
def test_word_round_trip_property(words):
  v = Vocab.build(EN, kind="word")
  assert v.decode(v.encode(" ".join(words))) == join_words(words)


def test_save_load_fingerprint(tmp_path):
  v = Vocab.build(EN, kind="word")
  v.save(str(tmp_path / "v.json"))
  w = Vocab.load(str(tmp_path / "v.json"))
  assert w == v and w.fingerprint() == v.fingerprint()
  assert Vocab.build(list(reversed(EN)), kind="word").fingerprint() == v.fingerprint()  # order-independent build
  assert Vocab.build(EN, kind="word", min_freq=2).fingerprint() != v.fingerprint()
  assert Vocab.build(EN, kind="word", lowercase=False).fingerprint() != v.fingerprint()
  s = Vocab.build(EN, kind="subword", max_size=50)
  s.save(str(tmp_path / "s.json"))
  s2 = Vocab.load(str(tmp_path / "s.json"))
  assert s2.fingerprint() == s.fingerprint()
  np.testing.assert_array_equal(s2.encode(EN[1]), s.encode(EN[1]))


def test_save_or_check_on_restore(tmp_path):
  path = str(tmp_path / "workdir" / "vocab_tgt.json")
  v = Vocab.build(EN, kind="word")
  save_or_check(v, path)                                  # fresh run: writes
  assert save_or_check(Vocab.build(EN, kind="word"), path) == v  # restore with the same data: fine
  with pytest.raises(UserError, match="fingerprint.*differs.*fresh --workdir"):
    save_or_check(Vocab.build(EN[:2], kind="word"), path)
  with open(path, "w") as f:
    f.write("{not json")
  with pytest.raises(UserError, match="not valid JSON"):
    save_or_check(v, path)
  with open(path, "w") as f:
    json.dump({"hello": 1}, f)
  with pytest.raises(UserError, match="not a vocabulary"):
    Vocab.load(path)


def test_save_or_check_vocabs_for_a_dataset_info(tmp_path):
  info = {"src_vocab": Vocab.build(ZH, kind="char"), "tgt_vocab": Vocab.build(EN, kind="word")}
  save_or_check_vocabs(info, str(tmp_path))
  assert Vocab.load(str(tmp_path / "vocab_src.json")) == info["src_vocab"]
  save_or_check_vocabs(info, str(tmp_path))
  with pytest.raises(UserError, match="vocab_tgt.json"):
    save_or_check_vocabs({**info, "tgt_vocab": Vocab.build(EN, kind="subword", max_size=40)}, str(tmp_path))
