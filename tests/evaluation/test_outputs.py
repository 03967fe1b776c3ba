"""research/evaluation/outputs.py: the per-sentence decodes file a run writes, and the CIs and paired tests read
from it equal the ones computed from the texts."""

from __future__ import annotations

import numpy as np
import pytest

from research.errors import UserError
from research.evaluation import outputs, stats

REFS = ["the cat sat on the mat", "a dog ran in the park", "it is raining today", "we like green tea",
        "the sun is bright", "birds sing at dawn", "my house is small", "the river runs fast"]
HYPS_A = ["the cat sat on a mat", "a dog ran in a park", "it rains today", "we like tea",
          "the sun is bright", "birds sing at dawn", "my house is little", "a river runs fast"]
HYPS_B = ["cat sat on the mat", "the dog ran in the park", "it is raining", "we like green tea",
          "sun is bright", "birds sing", "my house is small", "the river runs"]


def _write(path, hyps, nbest=1, **kw):
  lists = [[h] + [f"{h} alt{j}" for j in range(1, nbest)] for h in hyps]
  scores = -np.arange(len(hyps) * nbest, dtype=np.float32).reshape(len(hyps), nbest)
  return outputs.write_decodes(str(path), REFS, lists, scores, header={"split": "test", "method": "beam"}, **kw)


def test_round_trip_keeps_nbest_scores_and_statistics(tmp_path):
  written = _write(tmp_path / "d" / "test.beam.jsonl", HYPS_A, nbest=3)
  read = outputs.read_decodes(str(tmp_path / "d" / "test.beam.jsonl"))
  assert read.references == REFS and read.hypotheses == written.hypotheses and read.best == HYPS_A
  np.testing.assert_array_equal(read.scores, written.scores)
  np.testing.assert_array_equal(read.bleu_stats, stats.bleu_statistics(HYPS_A, [REFS]))
  assert read.header["method"] == "beam" and read.header["format"] == outputs.FORMAT
  assert not (tmp_path / "d" / "test.beam.jsonl.tmp").exists()
  _write(tmp_path / "d" / "test.beam.jsonl.gz", HYPS_A, nbest=3)  # gzip by name
  with open(tmp_path / "d" / "test.beam.jsonl.gz", "rb") as f:
    assert f.read(2) == b"\x1f\x8b"
  assert outputs.read_decodes(str(tmp_path / "d" / "test.beam.jsonl.gz")).hypotheses == written.hypotheses


def test_scores_cis_and_paired_tests_equal_the_text_versions(tmp_path):
  a = _write(tmp_path / "a.jsonl", HYPS_A)
  _write(tmp_path / "b.jsonl", HYPS_B)
  b = outputs.read_decodes(str(tmp_path / "b.jsonl"))
  from research.evaluation import bleu, chrf
  assert a.bleu() == pytest.approx(bleu.corpus_bleu(HYPS_A, [REFS]).score, abs=1e-9)
  assert a.chrf() == pytest.approx(chrf.corpus_chrf(HYPS_A, [REFS]).score, abs=1e-9)
  assert a.bleu_ci(num_samples=300, seed=3) == stats.bleu_ci(HYPS_A, [REFS], num_samples=300, seed=3)
  assert a.chrf_ci(num_samples=300, seed=3) == stats.chrf_ci(HYPS_A, [REFS], num_samples=300, seed=3)
  assert outputs.paired_bleu(a, b) == stats.paired_bootstrap_bleu(HYPS_A, HYPS_B, [REFS])
  assert outputs.paired_chrf(a, b) == stats.paired_bootstrap_chrf(HYPS_A, HYPS_B, [REFS])
  part = a.subset([0, 2, 4])
  assert part.references == [REFS[0], REFS[2], REFS[4]]
  assert part.bleu() == pytest.approx(bleu.corpus_bleu([HYPS_A[i] for i in (0, 2, 4)],
                                                       [[REFS[i] for i in (0, 2, 4)]]).score, abs=1e-9)


def test_lowercase_matches_the_task_scoring(tmp_path):
  upper = [h.upper() for h in HYPS_A]
  d = _write(tmp_path / "u.jsonl", upper, lowercase=True)
  assert d.bleu() == pytest.approx(stats.bleu_from_statistics(stats.bleu_statistics(HYPS_A, [REFS]).sum(0)))


def test_bad_files_are_one_clear_error(tmp_path):
  with pytest.raises(UserError, match="no decodes at .*config.decode.splits"):
    outputs.read_decodes(str(tmp_path / "missing.jsonl"))
  path = tmp_path / "torn.jsonl"
  _write(path, HYPS_A)
  text = path.read_text()
  path.write_text(text[: len(text) - 20])
  with pytest.raises(UserError, match="line 9 is not JSON"):
    outputs.read_decodes(str(path))
  (tmp_path / "other.jsonl").write_text('{"step": 1}\n')
  with pytest.raises(UserError, match="not a research.decodes/1 file"):
    outputs.read_decodes(str(tmp_path / "other.jsonl"))
  a = _write(tmp_path / "a.jsonl", HYPS_A)
  with pytest.raises(UserError, match="not of the same test sentences"):
    outputs.paired_bleu(a, a.subset([0, 1]))


def test_several_references_per_example_score_as_reference_streams(tmp_path):
  """Captions have several references: saved as "references", scored as sacrebleu's multi-reference streams."""
  from research.evaluation import bleu, chrf
  refs = [[r, s] if i % 2 == 0 else [r] for i, (r, s) in enumerate(zip(REFS, HYPS_B, strict=True))]
  streams = [REFS, [s if i % 2 == 0 else None for i, s in enumerate(HYPS_B)]]
  assert outputs.reference_streams(refs) == streams
  written = outputs.write_decodes(str(tmp_path / "c.jsonl"), refs, [[h] for h in HYPS_A], np.zeros((8, 1)),
                                  header={"split": "test", "method": "greedy"})
  read = outputs.read_decodes(str(tmp_path / "c.jsonl"))
  assert read.references == refs == written.references
  assert read.bleu() == pytest.approx(bleu.corpus_bleu(HYPS_A, streams).score, abs=1e-9)
  assert read.chrf() == pytest.approx(chrf.corpus_chrf(HYPS_A, streams).score, abs=1e-9)
  assert read.bleu() != pytest.approx(bleu.corpus_bleu(HYPS_A, [REFS]).score)  # the second references count


def test_per_example_outputs_round_trip_intervals_and_paired_tests(tmp_path):
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 300)
  pred_a = np.where(rng.random(300) < 0.6, labels, (labels + 1) % 3)
  pred_b = np.where(rng.random(300) < 0.75, labels, (labels + 1) % 3)
  cols = lambda p: {"label": labels, "prediction": p, "correct": (p == labels).astype(np.int32),  # noqa: E731
                    "nll": rng.random(300).astype(np.float32)}
  outputs.write_examples(str(tmp_path / "a.jsonl"), cols(pred_a), header={"split": "test"})
  outputs.write_examples(str(tmp_path / "b.jsonl.gz"), cols(pred_b), header={"split": "test"})
  a, b = outputs.read_examples(str(tmp_path / "a.jsonl")), outputs.read_examples(str(tmp_path / "b.jsonl.gz"))
  assert len(a) == 300 and a.header["format"] == outputs.EXAMPLES_FORMAT
  np.testing.assert_array_equal(a.columns["prediction"], pred_a)
  assert a.accuracy() == pytest.approx(np.mean(pred_a == labels))
  assert a.accuracy_ci(num_samples=200) == stats.accuracy_ci(pred_a == labels, num_samples=200)
  test = outputs.paired_accuracy(a, b, num_samples=500)
  assert test == stats.paired_bootstrap((pred_a == labels)[:, None].astype(float),
                                        (pred_b == labels)[:, None].astype(float), lambda s: s[0] / 300,
                                        num_samples=500)
  assert test.p_value < 0.01 and test.system.score > test.baseline.score  # 0.75 vs 0.60 on 300 examples
  assert outputs.paired_accuracy(a, b, test="randomization", num_trials=500).p_value < 0.01
  same = outputs.paired_accuracy(a, a.subset(range(300)), num_samples=100)
  assert same.system.score == same.baseline.score
  with pytest.raises(UserError, match="same test examples"):
    outputs.paired_accuracy(a, b.subset(range(299)))
  with pytest.raises(UserError, match="no 'tokens' column"):
    a.perplexity_ci()
  (tmp_path / "torn.jsonl").write_text((tmp_path / "a.jsonl").read_text()[:-30])
  with pytest.raises(UserError, match="torn"):
    outputs.read_examples(str(tmp_path / "torn.jsonl"))
  with pytest.raises(UserError, match="no per-example outputs"):
    outputs.read_examples(str(tmp_path / "missing.jsonl"))


def test_identical_classifiers_are_no_evidence_of_a_difference(tmp_path):
  """Two systems with the same per-example outcomes: p = 1 (the strict-inequality count would say 1/(n+1)); one
  differing example brings the usual p back."""
  from research.tools import compare
  rng = np.random.default_rng(0)
  labels, correct = rng.integers(0, 3, 300), rng.random(300) < 0.7
  a = outputs.write_examples(str(tmp_path / "a.jsonl"), {"label": labels, "correct": correct}, header={})
  b = outputs.write_examples(str(tmp_path / "b.jsonl"), {"label": labels, "correct": correct}, header={})
  for test in ("bootstrap", "randomization"):
    assert outputs.paired_accuracy(a, b, test=test).p_value == 1.0
  assert compare.seeds_accuracy([[a], [b]], ["a", "b"])[1].test.p_value == 1.0
  flipped = correct.copy()
  flipped[0] = not flipped[0]
  c = outputs.write_examples(str(tmp_path / "c.jsonl"), {"label": labels, "correct": flipped}, header={})
  assert outputs.paired_accuracy(a, c).p_value < 1.0
