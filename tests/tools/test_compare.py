"""`python -m research.tools.compare`: the CI / p-value table over decodes files, overall and per length bucket."""

from __future__ import annotations

import numpy as np
import pytest

from research.errors import UserError
from research.evaluation import outputs, stats
from research.tools import compare

REFS = [f"w{i} w{i + 1} w{i + 2} w{i + 3} end" for i in range(40)]
LENGTHS = [5 + (i % 4) * 10 for i in range(40)]  # 5, 15, 25, 35


def _hyps(seed: int, drop: float) -> list[str]:
  rng = np.random.default_rng(seed)
  return [" ".join(w for w in r.split() if rng.random() > drop) for r in REFS]


def _write(path, hyps):
  outputs.write_decodes(str(path), REFS, [[h] for h in hyps], np.zeros((len(hyps), 1)), header={"method": "greedy"},
                        source_lengths=LENGTHS)
  return str(path)


def test_table_has_cis_p_values_and_buckets(tmp_path, capsys):
  a, b = _write(tmp_path / "a.jsonl", _hyps(0, 0.3)), _write(tmp_path / "b.jsonl", _hyps(1, 0.1))
  assert compare.main(["compare", a, b, "--names=base,better", "--buckets=10,20,30", "--num_samples=200"]) == 0
  table = capsys.readouterr().out
  da, db = outputs.read_decodes(a), outputs.read_decodes(b)
  p = stats.format_p(outputs.paired_bleu(da, db, num_samples=200).p_value)
  ci = db.bleu_ci(num_samples=200)
  assert f"| better | 40 | {ci.estimate:.2f} [{ci.low:.2f}, {ci.high:.2f}] |" in table
  assert f"| {p} |" in table
  for label in ("≤10", "11–20", "21–30", ">30"):
    assert f"| {label} | base | 10 |" in table and f"| {label} | better | 10 |" in table
  idx = [i for i, n in enumerate(LENGTHS) if n > 30]
  sub = db.subset(idx).bleu_ci(num_samples=200)
  assert f"| >30 | better | 10 | {sub.estimate:.2f} [{sub.low:.2f}, {sub.high:.2f}] |" in table


def test_bucket_edges():
  got = compare.bucket_index(np.array([1, 10, 11, 20, 21]), [10, 20])
  assert [(label, idx.tolist()) for label, idx in got] == [("≤10", [0, 1]), ("11–20", [2, 3]), (">20", [4])]


@pytest.mark.parametrize("args, message", [
    ([], "give one or more decodes files"),
    (["missing.jsonl"], "no decodes at"),
    (["--buckets=a"], "must be integers"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
  a = _write(tmp_path / "a.jsonl", _hyps(0, 0.3))
  argv = ["compare", *[str(tmp_path / x) if x.endswith(".jsonl") else x for x in args]]
  if args and args[0].startswith("--"):
    argv.append(a)
  assert compare.main(argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and message in err[0]


def test_different_test_sets_are_refused(tmp_path, capsys):
  a = _write(tmp_path / "a.jsonl", _hyps(0, 0.3))
  outputs.write_decodes(str(tmp_path / "b.jsonl"), REFS[:5], [[h] for h in _hyps(1, 0.1)[:5]], np.zeros((5, 1)),
                        header={})
  assert compare.main(["compare", a, str(tmp_path / "b.jsonl")]) == 2
  assert "not of the same test sentences" in capsys.readouterr().err


def test_classifier_outputs_give_an_accuracy_table(tmp_path, capsys):
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 200)
  paths = []
  for name, rate in (("a", 0.6), ("b", 0.8)):
    pred = np.where(rng.random(200) < rate, labels, 1 - labels)
    paths.append(str(tmp_path / name / "examples" / "test.jsonl"))
    outputs.write_examples(paths[-1], {"label": labels, "prediction": pred, "correct": pred == labels},
                           header={"split": "test"})
  assert compare.main(["compare", *paths, "--num_samples=200"]) == 0
  table = capsys.readouterr().out
  a, b = (outputs.read_examples(p) for p in paths)
  ci = b.accuracy_ci(num_samples=200)
  p = stats.format_p(outputs.paired_accuracy(a, b, num_samples=200).p_value)
  assert f"| b test | 200 | {ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}] | {p} |" in table
  assert "| a test | 200 |" in table and "| — |" in table
  assert compare.main(["compare", *paths, "--buckets=10"]) != 0
  assert "--buckets needs decodes files" in capsys.readouterr().err


def test_seed_averaged_accuracy_rows(tmp_path):
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 2, 150)

  def run(rate):
    pred = np.where(rng.random(150) < rate, labels, 1 - labels)
    return outputs.Examples({}, {"label": labels, "prediction": pred, "correct": (pred == labels).astype(int)})

  base, other = [run(0.6) for _ in range(3)], [run(0.8) for _ in range(3)]
  rows = compare.seeds_accuracy_rows([base, other], ["base", "other"], num_samples=300)
  assert [r[:2] for r in rows] == [["base", "3"], ["other", "3"]] and rows[0][4] == "—"
  assert rows[1][2] == stats.seed_summary([e.accuracy() for e in other]).fmt(4)
  avg = [np.mean([e.columns["correct"] for e in g], axis=0)[:, None].astype(float) for g in (base, other)]
  expected = stats.paired_bootstrap(avg[0], avg[1], lambda s: s[0] / 150, num_samples=300)
  assert rows[1][4] == stats.format_p(expected.p_value) and expected.p_value < 0.01
  assert rows[1][3].startswith(f"{np.mean([e.accuracy() for e in other]):.4f} [")
  # One seed each: the interval is the plain accuracy bootstrap (`accuracy_table`'s).
  single = compare.seeds_accuracy_rows([base[:1]], ["base"], num_samples=300)[0]
  ci = base[0].accuracy_ci(num_samples=300)
  assert single[2] == "—" and single[3] == f"{ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}]"
  other[0].columns["label"] = 1 - labels
  with pytest.raises(UserError, match="same test examples"):
    compare.seeds_accuracy_rows([base, other], ["base", "other"])


def test_seeds_corpus_pools_seeds_as_one_corpus(tmp_path):
  """One seed per system: the Decodes intervals and sacrebleu-equal paired tests. Several: the pooled score is the
  corpus score of every seed's hypotheses together (texts re-scored from scratch), per-seed scores are each seed's."""
  base = [outputs.read_decodes(_write(tmp_path / f"a{s}.jsonl", _hyps(s, 0.3))) for s in range(3)]
  better = [outputs.read_decodes(_write(tmp_path / f"b{s}.jsonl", _hyps(10 + s, 0.1))) for s in range(3)]
  one = compare.seeds_corpus([base[:1], better[:1]], ["base", "better"], num_samples=200)
  assert one[1].bleu == better[0].bleu_ci(num_samples=200) and one[1].chrf == better[0].chrf_ci(num_samples=200)
  assert one[1].bleu_test == outputs.paired_bleu(base[0], better[0], num_samples=200)
  assert one[1].chrf_test == outputs.paired_chrf(base[0], better[0], num_samples=200)
  assert one[0].row()[2] == "—" and one[0].row()[4] == "—"

  many = compare.seeds_corpus([base, better], ["base", "better"], num_samples=200)
  hyps = [h for d in better for h in d.best]
  refs = [[r for _ in better for r in REFS]]
  assert many[1].bleu.estimate == pytest.approx(stats.bleu_from_statistics(
      stats.bleu_statistics(hyps, refs, tokenize="13a").sum(0)))
  assert many[1].bleu_per_seed == [d.bleu() for d in better]
  assert many[1].bleu_test.p_value < 0.05 and many[1].bleu.low > many[0].bleu.high  # 10% vs 30% words dropped
  assert len(many[1].row()) == len(compare.SEEDS_CORPUS_HEADER)


def test_seeds_corpus_refuses_different_sentences(tmp_path):
  a = outputs.read_decodes(_write(tmp_path / "a.jsonl", _hyps(0, 0.3)))
  short = outputs.write_decodes(str(tmp_path / "s.jsonl"), REFS[:5], [[h] for h in _hyps(0, 0.3)[:5]],
                                np.zeros((5, 1)), header={})
  with pytest.raises(UserError, match="same test sentences"):
    compare.seeds_corpus([[a], [short]], ["a", "short"])
