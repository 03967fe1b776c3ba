"""Smoke test of experiments/benchmarks/vs_pytorch.py: both sides build, train a step and report (tiny shapes)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_both_sides_train_and_report():
  from experiments.benchmarks import vs_pytorch as bench
  base = dict(batch=2, length=4, vocab=32)
  for name, s in (("lstm_seq2seq", dict(base, embed=8, hidden=8, layers=2)),
                  ("transformer", dict(base, d_model=8, heads=2, layers=1, d_ff=16))):
    out = bench.measure(name, s, rounds=1, steps=1)
    assert out["jax_tokens_per_s"] > 0 and out["torch_tokens_per_s"] > 0 and out["jax_over_torch"] > 0
    # Same architecture on both sides: parameter counts within PyTorch's extra LSTM bias vector per layer.
    assert abs(out["jax_params"] - out["torch_params"]) <= 2 * 4 * s.get("hidden", 0) * s["layers"]
