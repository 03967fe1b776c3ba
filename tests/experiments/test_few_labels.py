"""experiments/few_labels: the runs run_all plans (names, nested label sizes, budgets, variants) and a --quick pass
through the real trainer on the Fashion-MNIST idx.gz fixture that stays under WORKROOT/quick/."""

from __future__ import annotations

import json
import os

from experiments import common
from experiments.few_labels import run_all


def test_runs_are_every_size_variant_and_seed_at_one_budget(monkeypatch):
  calls = []
  monkeypatch.setattr(common, "run", lambda name, file, arg, **kw: calls.append((name, file, arg, kw["overrides"])))
  a = type("A", (), dict(workroot="/w", results="/r", seeds=2, quick=False, sizes=run_all.SIZES))()
  run_all.pretrain_runs(a)
  assert [c[0] for c in calls] == [run_all.pretrain_name(v, n, s) for s in range(2) for n in run_all.SIZES
                                   for v in run_all.PRETRAIN_VARIANTS]
  for name, file, arg, o in calls:
    assert (file, arg) == ("deep_nets.py", "experiment=remedies")
    assert o["dataset.train_examples"] == int(name.split("_n")[1].split("_")[0])  # the size is the labelled prefix
    assert o["num_train_steps"] == run_all.PRETRAIN_STEPS and o["pretrain.data"] == "train_split"
    assert o["seed"] == int(name.rsplit("_s", 1)[1])
  kinds = {c[0].split("_")[1]: (c[3]["pretrain.kind"], c[3].get("model.activation")) for c in calls}
  assert kinds == {"random": ("none", None), "rbm": ("rbm", None), "autoencoder": ("autoencoder", None),
                   "relu": ("none", "relu")}
  calls.clear()
  run_all.regularize_runs(a)
  assert len(calls) == 2 * len(run_all.SIZES) * len(run_all.REGULARIZERS)
  dropout = [c for c in calls if c[0].startswith("reg_dropout_")]
  assert all(c[3]["model.dropout_rate"] == 0.5 and c[3]["l2_penalty"] == 0.0 for c in dropout)
  assert all(c[3]["num_train_steps"] == run_all.REGULARIZE_STEPS and c[2] == "experiment=overfitting" for c in calls)


def test_quick_trains_through_the_real_trainer_under_the_workroot(tmp_path, monkeypatch, fashion_dir, data_dir):
  load = common.load_config

  def fixture_config(file, arg):
    config = load(file, arg)
    config.dataset.local_dir, config.data_dir = fashion_dir, data_dir
    return config

  monkeypatch.setattr(common, "load_config", fixture_config)
  monkeypatch.setattr(run_all, "RESULTS", str(tmp_path / "results"))  # stands in for experiments/few_labels/results
  run_all.main(["--quick", "--only=regularize", "--seeds=1", f"--workroot={tmp_path / 'work'}"])
  quick = tmp_path / "work" / "quick"
  names = [run_all.regularize_name(v, n, 0) for n in run_all.QUICK_SIZES for v in run_all.REGULARIZERS]
  for name in names:
    with open(quick / "results" / f"{name}.json") as f:
      record = json.load(f)
    assert record["final"]["test"]["accuracy"] >= 0 and "train_subset" in record["final"]
    assert record["examples"]  # the per-example test outputs the report's intervals read
  assert not (tmp_path / "results").exists() and not os.path.exists(tmp_path / "work" / names[0])
