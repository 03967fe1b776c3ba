"""The config-driven LDA trainer: workdir layout, results, and a resumed chain equal to an uninterrupted one."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from research import registry
from research.errors import UserError
from research.lda import trainer  # noqa: F401  (registers 'lda')
from research.train.checkpoint import load_state

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(num_iterations: int):
  import importlib.util
  spec = importlib.util.spec_from_file_location("lda_config", os.path.join(_ROOT, "configs", "lda.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("runlocal")
  c.dataset.num_docs = 120
  c.dataset.doc_length = 50
  c.num_iterations = num_iterations
  c.checkpoint_every = 10
  c.log_every = 10
  c.model.transform_iterations = 10
  return c


def test_trainer_writes_workdir_and_resumes_exactly(tmp_path):
  run = registry.trainers.get("lda")
  # Uninterrupted: 30 sweeps.
  full = str(tmp_path / "full")
  scalars = run(_config(30), full)
  for name in ("config.json", "metrics.jsonl", "results.md", "topic_word.npy", "doc_topic.npy", "plots"):
    assert os.path.exists(os.path.join(full, name)), name
  assert np.isfinite(scalars["heldout_perplexity"]) and scalars["heldout_perplexity"] < 25.5
  results = open(os.path.join(full, "results.md")).read()
  assert "| topic | share | label | top words |" in results
  rows = [json.loads(line) for line in open(os.path.join(full, "metrics.jsonl"))]
  assert [r["step"] for r in rows if r["split"] == "train"] == [10, 20, 30]

  # Interrupted: 20 sweeps, then the same workdir continued to 30 sweeps.
  part = str(tmp_path / "part")
  run(_config(20), part)
  with pytest.raises(UserError, match="different config"):
    run(_config(30), part)
  run(_config(30), part, allow_config_change=True)
  step_a, state_a, _ = load_state(full)
  step_b, state_b, _ = load_state(part)
  assert step_a == step_b == 30
  for key in ("z", "n_dk", "n_kw", "n_k"):
    np.testing.assert_array_equal(np.asarray(state_a[key]), np.asarray(state_b[key]), err_msg=key)


def test_trainer_rejects_bad_config(tmp_path):
  c = _config(10)
  c.model.sampler = "gibbs"
  with pytest.raises(UserError, match="sampler"):
    registry.trainers.get("lda")(c, str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")   # nothing written for a bad config
