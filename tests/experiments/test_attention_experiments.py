"""experiments/attention: the learning-rate choice on validation, the mean ± std cells, the README's benchmark
table built from the benchmark's JSON report, and bad arguments refused with a UserError (no training here:
tests/experiments/test_attention_config.py trains every model)."""

from __future__ import annotations

import json

import pytest

from experiments.attention import make_readme, reversal
from research.errors import UserError


def test_choose_lr_prefers_exact_match_then_token_accuracy_then_the_smaller_rate():
  assert reversal.choose_lr({1e-3: {"exact_match": 0.2, "token_accuracy": 0.9},
                             3e-3: {"exact_match": 0.5, "token_accuracy": 0.1}}) == 3e-3
  assert reversal.choose_lr({1e-3: {"exact_match": 0.0, "token_accuracy": 0.4},
                             3e-3: {"exact_match": 0.0, "token_accuracy": 0.3}}) == 1e-3
  tie = {"exact_match": 1.0, "token_accuracy": 1.0}
  assert reversal.choose_lr({3e-3: tie, 1e-3: tie}) == 1e-3


def test_mean_std_cells():
  assert reversal.mean_std([0.0, 1.0]) == "0.500 ± 0.707 (2)"  # sample std (ddof=1)
  assert reversal.mean_std([0.25]) == "0.250 (1 seed)"
  assert reversal.mean_std([]) == "–"


def _report(mode: str) -> dict:
  """A report with the keys experiments/benchmarks/transformer.py writes (numbers made up)."""
  row = {"train_compile_s": 3.5, "train_tokens_per_s": 49848.0, "train_tokens_per_s_median": 49008.8,
         "greedy_compile_s": 1.4, "greedy_time_s": 0.0005, "greedy_sentences_per_s": 17060.6,
         "greedy_sentences_per_s_median": 16912.1, "beam_compile_s": 1.9, "beam_time_s": 0.001,
         "beam_sentences_per_s": 7974.7, "beam_sentences_per_s_median": 7872.2}
  sizes = {"transformer": {"small": {"d_model": 32}}, "luong": {"small": {"embed_dim": 32}}}
  return {"benchmark": "transformer", "mode": mode,
          "command": "python -m experiments.benchmarks.transformer --quick --out results/benchmark_transformer_quick.json", "device": "cpu", "backend": "cpu", "cpu_count": 2,
          "machine": "x86_64", "jax_version": "0", "load_average_1min_before": 0.31, "load_average_1min_after": 1.5,
          "wall_s": 91.0, "dtype": "float32", "attention_impl": "reference", "beam_size": 4, "batch": 8, "length": 10,
          "vocab": 256, "steps": 3, "reps": 3, "min_time": 0.2, "sizes": sizes,
          "results": {"transformer": {"small": row}, "luong": {"small": row}},
          "ratios": {"small_transformer_over_luong_train_tokens_per_s": {"transformer": 1.0, "luong": 1.0,
                                                                         "ratio": 1.0}}}


def test_benchmark_section_comes_from_the_json_report(tmp_path, monkeypatch):
  monkeypatch.setattr(make_readme, "RESULTS", str(tmp_path))
  assert make_readme.benchmark_section() == ""  # no report, no section
  with open(tmp_path / "benchmark_transformer_quick.json", "w") as f:
    json.dump(_report("quick"), f)
  text = make_readme.benchmark_section()
  assert "python -m experiments.benchmarks.transformer --quick --out results/" in text
  assert "| transformer | small (d_model=32) | 49,848 | 3.5 | 17,061 | 1.4 | 7,975 | 1.9 |" in text
  assert "load average (1 min) 0.31 before, 1.5 after" in text
  assert "small_transformer_over_luong_train_tokens_per_s: 1.0" in text


@pytest.mark.parametrize("argv", [["--models", "gru"], ["--seeds", "one"]])
def test_bad_reversal_arguments_are_user_errors(argv):
  with pytest.raises(UserError):
    reversal.main(argv)


def test_every_budget_check_gets_its_own_readme_section(tmp_path, monkeypatch):
  monkeypatch.setattr(make_readme, "RESULTS", str(tmp_path))
  monkeypatch.setattr(make_readme, "HERE", str(tmp_path))
  sections = {"reversal": "## 1. grid\n", "reversal_lr": "### 1a. lr\n", "ablation": "## 2. ablation\n",
              reversal.budget_section("transformer", 25): "### check transformer 25\n",
              reversal.budget_section("luong_general", 50): "### check luong_general 50\n"}
  for name, text in sections.items():
    (tmp_path / f"{name}.md").write_text(text)
  make_readme.main()
  readme = (tmp_path / "README.md").read_text()
  order = [readme.index(t) for t in ("## 1. grid", "### 1a. lr", "### check luong_general 50",
                                     "### check transformer 25", "## 2. ablation")]
  assert order == sorted(order)


@pytest.mark.parametrize("spec", ["transformer:25", "gru:25:150", "transformer:L:150"])
def test_bad_budget_checks_are_user_errors(spec):
  with pytest.raises(UserError):
    reversal.main(["--budget_check", spec])
