"""The shared zh→en Bible budget of experiments/seq2seq/common.py (used by experiments/seq2seq/bible.py and
experiments/attention/bible.py): one config and workdir per model, equal loop budget for every model, the
plain `lstm` equal to configs/seq2seq.py's Bible model, untruncated test sources, and the section-4
table rendered from run summaries. No training here (tests/test_attention_config.py trains every model)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from configs import seq2seq
from experiments.attention import bible as attention_bible
from experiments.seq2seq import common
from research.data.base import ArraySource
from research.errors import UserError
from research.tokenizer import Vocab

LOOP_KEYS = ("num_train_steps", "batch_size", "seed")


def test_every_model_gets_the_same_loop_data_and_schedule_shape():
  configs = {m: common.bible_config(m) for m in common.BIBLE_MODELS}
  for key in LOOP_KEYS:
    assert len({configs[m][key] for m in configs}) == 1, key
  for m, c in configs.items():
    assert c.dataset.to_dict() == configs["lstm"].dataset.to_dict(), m
    assert (c.optimizer.schedule, c.optimizer.warmup_steps) == ("warmup_cosine", configs["lstm"].optimizer.warmup_steps)
    assert c.decode.num_sentences == 0 and tuple(c.dataset.eval_splits) == ("test",)
  assert configs["transformer"].model.d_model // configs["transformer"].model.num_heads == 64  # d_k = 64
  # The seq2seq issue's model is configs/seq2seq.py's, unchanged: the sweep decodes the compared run.
  assert configs["lstm"].model.to_dict() == seq2seq.get_config().model.to_dict()
  assert configs["lstm"].model_name == "lstm_seq2seq"
  assert common.bible_workdir("lstm") != common.bible_workdir("lstm", quick=True)
  assert common.bible_config("lstm", quick=True).num_train_steps < configs["lstm"].num_train_steps


def test_unknown_model_is_a_user_error():
  with pytest.raises(UserError):
    common.bible_overrides("gru")


def test_test_set_reencodes_untruncated_sources():
  texts = ["天地", "神說要有光就有了光"]
  vocab = Vocab.build(texts, kind="char")
  truncated = np.empty(2, dtype=object)
  truncated[:] = [vocab.encode(t)[:3] for t in texts]  # what the run's test split holds at max_len=3
  split = ArraySource({"src": truncated, "src_text": np.array(texts, dtype=object),
                       "tgt_text": np.array(["heaven and earth", "let there be light"], dtype=object)})
  trainer = SimpleNamespace(eval_sources={"test": split}, dataset=SimpleNamespace(info={"src_vocab": vocab}))
  out = common.bible_test_set(trainer)
  assert [len(s) for s in out["src"]] == [2, 9]
  assert out["ref"] == ["heaven and earth", "let there be light"]
  assert len(common.bible_test_set(trainer, limit=1)["src"]) == 1


def _summary(model: str, bleu: float) -> dict:
  return {"model": model, "overrides": common.bible_overrides(model), "steps": 360, "batch_size": 64, "max_len": 39,
          "tgt_vocab_size": 4000, "src_vocab_size": 3000, "bleu": bleu, "bp": 1.0, "test_nll": 3.0,
          "token_accuracy": 0.4, "train_tokens_per_s": 900.0, "train_s": 600.0, "greedy_ms_per_sentence": 5.0,
          "num_params": 1234567, "train_pairs": 18000, "n_test": 3,
          "by_bucket": {"1–20": {"bleu": bleu + 1, "n": 2}, "≥61": {"bleu": bleu - 1, "n": 1}},
          "samples": [{"src": "神說", "ref": "and god said", "hyp": f"{model} said"}]}


def test_section_four_is_rendered_from_the_summaries():
  res = {"lstm": _summary("lstm", 2.5), "transformer": _summary("transformer", 7.25)}
  text = attention_bible.render(res, ("lstm", "transformer"), "python -m experiments.attention.bible")
  assert "| lstm | 1,234,567 | 2.500 |" in text
  assert "| transformer | 1,234,567 | 7.250 |" in text
  assert "| transformer | 8.250 | – | – | 6.250 | 7.250 |" in text  # buckets; a missing bucket is a dash
  assert "model.d_model=256" in text and "* `transformer`: transformer said" in text
