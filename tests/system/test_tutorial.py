"""The tutorial notebook runs top to bottom (at toy sizes) and is in sync with its generator."""

from __future__ import annotations

import os

import nbformat
import pytest
from conftest import ROOT

nbclient = pytest.importorskip("nbclient")


def test_notebook_matches_its_generator():
  from experiments.tutorial.make_notebook import build
  on_disk = nbformat.read(os.path.join(ROOT, "experiments", "tutorial.ipynb"), as_version=4)
  assert [c.source for c in on_disk.cells] == [c.source for c in build().cells], \
      "run `python -m experiments.tutorial.make_notebook`"


def test_notebook_runs_top_to_bottom(tmp_path, data_dir, monkeypatch):
  nb = nbformat.read(os.path.join(ROOT, "experiments", "tutorial.ipynb"), as_version=4)
  monkeypatch.setenv("TUTORIAL_QUICK", "1")
  monkeypatch.setenv("TUTORIAL_DATA_DIR", data_dir)
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("PYTHONPATH", ROOT)
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}})
  client.execute()
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  assert not [o for o in outputs if o.output_type == "error"]
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert len(images) >= 3  # quickstart curve, seq2seq loss, LDA topics
  text = "".join(o.get("text", "") for o in outputs)
  assert "beam k=3" in text
