"""The shared zh→en Bible budget of experiments/seq2seq/common.py (used by experiments/seq2seq/bible.py and
experiments/attention/bible.py): one config and workdir per model, equal loop budget for every model, the
plain `lstm` equal to configs/seq2seq.py's Bible model, untruncated test sources, and the section-4
table rendered from run summaries. No training here (tests/experiments/test_attention_config.py trains every model)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from configs import seq2seq
from experiments.attention import bible as attention_bible
from experiments.seq2seq import common
from research.data.base import ArraySource
from research.data.vocab import Vocab
from research.errors import UserError

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


def _scored(steps: int, bleu: float) -> dict:
  """A score_run() result of experiments/seq2seq/longer.py."""
  return {"steps": steps, "batch": 64, "warmup": 60, "lr": 3e-3, "log_every": 50, "train_pairs": 18000, "n_test": 3,
          "bleu": bleu, "bp": 1.0, "len_ratio": 1.1, "precisions": [40.0, 10.0, 3.0, 1.0],
          "by_bucket": {"1–20": {"n": 2, "bleu": bleu + 1}, "21–40": {"n": 1, "bleu": bleu - 1},
                        "41–60": {"n": 0, "bleu": float("nan")}, "≥61": {"n": 0, "bleu": float("nan")}},
          "test_nll": 4.0, "token_accuracy": 0.3, "train_min": steps / 36, "steps_per_s": 0.6,
          "greedy_ms_per_sentence": 10.0, "train_curve": [[50, 6.0, 5.5], [100, 5.0, 4.5]],
          "eval_curve": [[100, "validation", 4.25, 0.3], [100, "test", 4.3, 0.29]],
          "samples": [{"src": "神說", "ref": "and god said", "hyp": f"{steps} said"}],
          "distinct_hypotheses": 2, "workdir": f"/tmp/lstm_{steps}"}


def test_longer_budget_changes_only_the_step_count_and_evaluation():
  from experiments.seq2seq import longer
  from research.config import override
  shared = common.bible_config("lstm")
  long = override(common.bible_config("lstm"), longer.longer_overrides(1440, 180))
  assert long.num_train_steps == 1440 and long.eval_every_steps == 180
  assert tuple(long.dataset.eval_splits) == ("validation", "test")
  assert long.model.to_dict() == shared.model.to_dict() and long.optimizer.to_dict() == shared.optimizer.to_dict()
  assert long.batch_size == shared.batch_size and long.seed == shared.seed
  rows = [{"step": 10, "split": "train", "time": 20.0}, {"step": 30, "split": "train", "time": 30.0},
          {"step": 30, "split": "test", "time": 31.0}]
  assert longer.steps_per_second(rows) == pytest.approx(2.0)


def test_longer_budget_section_is_rendered_from_the_scores():
  from experiments.seq2seq import longer
  text = longer.render(_scored(360, 1.5), _scored(1440, 4.25), "python -m experiments.seq2seq.longer --steps 1440",
                       180)
  assert "| shared budget (360 steps) | 360 | 1.28 | 10.00 | 4.00 | 0.30 | 1.50 |" in text
  assert "| **longer budget (1440 steps)** | 1440 | 5.12 | 40.00 | 4.00 | 0.30 | 4.25 |" in text
  assert "| 100 | 4.50 | 4.25 | 0.30 |" in text  # step, train NLL, validation NLL, validation token acc
  assert "4.0× the" in text and "* 1440 steps: 1440 said" in text


@pytest.mark.parametrize("argv", [["--steps", "360"], ["--measure", "3"]])
def test_bad_longer_arguments_are_user_errors(argv, monkeypatch):
  from experiments.seq2seq import longer
  monkeypatch.setattr("sys.argv", ["longer", *argv])
  with pytest.raises(UserError):
    longer.main()


def test_section_four_states_cis_and_p_values_from_the_saved_decodes(tmp_path, monkeypatch):
  from experiments.attention import common as attention_common
  from research.evaluation import outputs
  monkeypatch.setattr(attention_common, "RUNS", str(tmp_path))
  refs = [f"and god said let there be light {i}" for i in range(12)]
  lengths = [5, 30, 50, 70] * 3
  res = {"lstm": _summary("lstm", 2.5), "transformer": _summary("transformer", 7.25)}
  text = attention_bible.render(res, ("lstm", "transformer"), "python -m experiments.attention.bible")
  assert "No per-verse decodes are saved for lstm, transformer" in text
  for model, hyps in (("lstm", ["and the lord"] * 12), ("transformer", [r[:-3] for r in refs])):
    outputs.write_decodes(attention_bible.decodes_path(f"bible_{model}"), refs, [[h] for h in hyps],
                          np.zeros((12, 1)), header={}, source_lengths=lengths)
  text = attention_bible.render(res, ("lstm", "transformer"), "python -m experiments.attention.bible")
  assert "| p BLEU vs lstm | p chrF vs lstm |" in text
  assert "| lstm | 12 |" in text and "| ≤20 | transformer | 3 |" in text and "| >60 | lstm | 3 |" in text
  assert "Against `lstm`: `transformer` +" in text and "of 4 length buckets" in text
