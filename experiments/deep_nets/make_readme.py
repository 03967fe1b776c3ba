r"""Tables and plots of experiments/deep_nets/README.md, computed from the run folders.

  python -m experiments.deep_nets.make_readme [--root=workdirs/deep_nets] [--out=experiments/deep_nets]

Reads ROOT/{vanishing,remedies,overfitting} (research.main workdirs made by research.tools.sweep) and ROOT/rbm
(experiments/deep_nets/rbm/run.py) and writes OUT/README.md and OUT/plots/*.png. Every number in the README
comes from here; runs that have not finished are counted and left out of the tables. Mean ± sample std over
seeds (a cell of one run shows the value alone; n says how many runs).
"""

from __future__ import annotations

import collections
import glob
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

from absl import app, flags

from experiments.deep_nets.overfitting import sweep as overfit_sweep
from experiments.deep_nets.remedies import sweep as remedies_sweep
from research.evaluation import outputs, stats
from research.tools import compare, hyper
from research.tools.report import RunData, find_runs, mean_std

FLAGS = flags.FLAGS
flags.DEFINE_string("root", "workdirs/deep_nets", "Folder with the experiments' run folders.")
flags.DEFINE_string("out", "experiments/deep_nets", "Where README.md and plots/ go.")

TARGET_ACCURACY = 0.70   # (b): "epochs to reach" this test accuracy
ACTIVATIONS = ("sigmoid", "tanh", "relu")


def cell(values: Sequence[float], fmt: str = "{:.4f}") -> str:
  if not values:
    return "–"
  m, s = mean_std(values)
  return fmt.format(m) if len(values) == 1 else f"{fmt.format(m)} ± {fmt.format(s)}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
  return "\n".join(lines)


def last_rows(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """split → its last row *in file order*: the final evaluation, also when early stopping restored an
  earlier (best) step and wrote its evaluation with that smaller step number."""
  out: dict[str, dict[str, Any]] = {}
  for r in rows:
    out[r["split"]] = r
  return out


def curve(rows: Sequence[dict[str, Any]], split: str, metric: str) -> list[tuple[int, float]]:
  """(step, value) of the in-training evaluations: increasing steps only (drops a restored-best re-evaluation)."""
  out: list[tuple[int, float]] = []
  for r in rows:
    if r["split"] == split and metric in r and (not out or r["step"] > out[-1][0]):
      out.append((r["step"], float(r[metric])))
  return out


def load(root: str) -> tuple[list[RunData], int]:
  """Finished runs under root (results.md written) and the number of unfinished ones."""
  if not os.path.isdir(root):
    return [], 0
  runs = find_runs(root)
  done = [r for r in runs if os.path.exists(os.path.join(root, r.name, "results.md"))]
  return done, len(runs) - len(done)


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


# ---------------------------------------------------------------------------------------------- (a)


def vanishing(root: str, plots: str) -> str:
  runs, unfinished = load(os.path.join(root, "vanishing"))
  if not runs:
    return "_No finished runs yet._"
  cells: dict[tuple[int, str], dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
  for run in runs:
    depth = len(run.config["model.hidden_sizes"])
    act = run.config["model.activation"]
    diag = [r for r in run.rows if r["split"] == "diagnostics"]
    first, last = diag[0], diag[-1]
    assert first["step"] == 0 and last["step"] > 0, run.name
    c = cells[(depth, act)]
    for when, row in (("init", first), ("epoch", last)):
      c[f"head_{when}"].append(row["grad_norm/hidden_0"] / row["grad_norm/head"])
      c[f"hidden_{when}"].append(row["grad_norm/hidden_0"] / row[f"grad_norm/hidden_{depth - 1}"])
      c[f"sat_{when}"].append(row[f"saturation/{depth - 1}"])
    c["acc"].append(last_rows(run.rows)["test"]["accuracy"])
  depths = sorted({d for d, _ in cells})
  sci = "{:.2e}"
  rows = []
  for act in ACTIVATIONS:
    for d in depths:
      c = cells.get((d, act))
      if c is None:
        continue
      rows.append([act, d, len(c["acc"]), cell(c["head_init"], sci), cell(c["head_epoch"], sci),
                   cell(c["hidden_init"], sci), cell(c["hidden_epoch"], sci), cell(c["acc"])])
  text = table(["activation", "hidden layers", "n", "‖∇W₁‖/‖∇W_out‖ at init", "… after 1 epoch",
                "‖∇W₁‖/‖∇W_L‖ at init", "… after 1 epoch", "test accuracy after 1 epoch"], rows)
  if unfinished:
    text += f"\n\n{unfinished} run(s) had not finished and are left out."

  plt = _plt()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for ax, when, title in ((axes[0], "head_init", "at initialization"), (axes[1], "head_epoch", "after one epoch")):
    for act in ACTIVATIONS:
      ds = [d for d in depths if (d, act) in cells]
      if not ds:
        continue
      stats = [mean_std(cells[(d, act)][when]) for d in ds]
      ax.errorbar(ds, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=act)
    ax.set_yscale("log")
    ax.set_xlabel("hidden layers")
    ax.set_title(title)
    ax.set_xticks(depths)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("‖∇ first layer‖ / ‖∇ output layer‖")
  axes[0].legend()
  fig.suptitle("Fashion-MNIST, width 128, Glorot init, SGD 0.1 (mean ± std over seeds)")
  fig.tight_layout()
  fig.savefig(os.path.join(plots, "vanishing_ratio_vs_depth.png"), dpi=100)
  plt.close(fig)
  # The per-layer picture of one deep sigmoid run, as the trainer drew it.
  deep = [r for r in runs if len(r.config["model.hidden_sizes"]) == depths[-1]
          and r.config["model.activation"] == "sigmoid" and r.config["seed"] == 0]
  if deep:
    src = os.path.join(root, "vanishing", deep[0].name, "plots", "gradient_norms.png")
    if os.path.exists(src):
      shutil.copy(src, os.path.join(plots, f"vanishing_sigmoid_depth{depths[-1]}_gradient_norms.png"))
  return text


def variant_groups(folder: str, sweep: Any) -> tuple[dict[str, list[RunData]], int]:
  """The finished runs of a `hyper.variants` sweep grouped by variant name, in the sweep's VARIANTS order,
  and the number of unfinished runs."""
  runs, unfinished = load(folder)
  groups: dict[str, list[RunData]] = collections.defaultdict(list)
  for run in runs:
    values = tuple(run.config[k.removeprefix("config.")] for k in sweep.KEYS)
    groups[hyper.variant_name(sweep.VARIANTS, values)].append(run)
  return {name: groups[name] for name in sweep.VARIANTS if name in groups}, unfinished


def interval_table(folder: str, groups: dict[str, list[RunData]], references: Sequence[str]) -> str:
  """Test accuracy of every variant over its seeds with intervals, and paired tests against each reference.

  From each run's per-example test outputs (WORKDIR/examples/test.jsonl, the final model's): the seed
  t-interval, the bootstrap CI of the seed-averaged accuracy over the 10,000 test images and the paired bootstrap
  difference and p-value (research.tools.compare.seeds_accuracy, 1,000 resamples). '' when a run lacks the file.
  """
  examples: dict[str, list[outputs.Examples]] = {}
  for name, runs in groups.items():
    paths = [os.path.join(folder, r.name, "examples", "test.jsonl") for r in runs]
    if not all(os.path.exists(p) for p in paths):
      return ""
    examples[name] = [outputs.read_examples(p) for p in paths]
  refs = [r for r in references if r in examples]
  names = list(examples)
  against = {}
  for ref in refs:  # seeds_accuracy tests every group against its first
    order = [ref] + [n for n in names if n != ref]
    against[ref] = dict(zip(order, compare.seeds_accuracy([examples[n] for n in order], order), strict=True))
  rows = []
  for name in names:
    own = against[refs[0]][name] if refs else compare.seeds_accuracy([examples[name]], [name])[0]
    row = [name, len(examples[name]), own.seeds.fmt(4) if own.seeds else "—", own.interval.fmt(4)]
    for ref in refs:
      t = against[ref][name].test
      d = 0.0 if t is None else t.system.score - t.baseline.score
      d = d if abs(d) >= 5e-5 else 0.0  # no "-0.0000"
      row.append("—" if t is None else f"{d:+.4f}, {stats.format_p(t.p_value)}")
    rows.append(row)
  return table(["variant", "n", "test accuracy, mean ± t half-width (95%)", "seed-averaged test accuracy [95% CI]",
                *[f"Δ, paired p vs {r}" for r in refs]], rows)


def save_line_plot(fig: Any, ax: Any, path: str, *, xlabel: str, ylabel: str, title: str) -> None:
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  _plt().close(fig)


# ---------------------------------------------------------------------------------------------- (b)


def remedies(root: str, plots: str) -> str:
  groups, unfinished = variant_groups(os.path.join(root, "remedies"), remedies_sweep)
  if not groups:
    return "_No finished runs yet._"
  rows = []
  fig, ax = _plt().subplots(figsize=(7, 4.5))
  for name, runs in groups.items():
    acc, best, reach, reached = [], [], [], 0
    per_epoch_curves = []
    for run in runs:
      per_epoch = run.config["eval_every_steps"]
      points = [(s / per_epoch, v) for s, v in curve(run.rows, "test", "accuracy")]
      points.append((run.config["num_epochs"], last_rows(run.rows)["test"]["accuracy"]))
      per_epoch_curves.append(points)
      acc.append(points[-1][1])
      best.append(max(v for _, v in points))
      hit = [e for e, v in points if v >= TARGET_ACCURACY]
      if hit:
        reach.append(hit[0])
        reached += 1
    n = len(runs)
    rows.append([name, n, cell(acc), cell(best), f"{reached}/{n}", cell(reach, "{:.1f}") if reach else "never"])
    epochs = [e for e, _ in per_epoch_curves[0]]
    means = [mean_std([c[i][1] for c in per_epoch_curves if len(c) > i])[0] for i in range(len(epochs))]
    ax.plot(epochs, means, marker=".", label=name)
  ax.axhline(TARGET_ACCURACY, color="gray", ls="--", lw=0.8)
  save_line_plot(fig, ax, os.path.join(plots, "remedies_test_accuracy.png"), xlabel="epoch",
                 ylabel="test accuracy (mean over seeds)", title="6×128 sigmoid MLP: the remedies (Fashion-MNIST)")
  text = table(["variant", "n", "final test accuracy", "best test accuracy", f"runs reaching {TARGET_ACCURACY}",
                f"epochs to reach {TARGET_ACCURACY} (runs that did)"], rows)
  intervals = interval_table(os.path.join(root, "remedies"), groups, ("random", "relu"))
  if intervals:
    text += "\n\nFinal test accuracy with intervals and paired tests on the same 10,000 test images:\n\n" + intervals
  if unfinished:
    text += f"\n\n{unfinished} run(s) had not finished and are left out."
  return text


# ---------------------------------------------------------------------------------------------- (c)


def overfitting(root: str, plots: str) -> str:
  groups, unfinished = variant_groups(os.path.join(root, "overfitting"), overfit_sweep)
  if not groups:
    return "_No finished runs yet._"
  rows = []
  fig, ax = _plt().subplots(figsize=(7, 4.5))
  for name, runs in groups.items():
    tr, te, gap, steps = [], [], [], []
    gap_curves = []
    for run in runs:
      final = last_rows(run.rows)
      tr.append(final["train_subset"]["accuracy"])
      te.append(final["test"]["accuracy"])
      gap.append(tr[-1] - te[-1])
      steps.append(final["test"]["step"])
      a, b = dict(curve(run.rows, "train_subset", "accuracy")), dict(curve(run.rows, "test", "accuracy"))
      gap_curves.append({s: a[s] - b[s] for s in a if s in b})
    rows.append([name, len(runs), cell(tr), cell(te), cell(gap), cell(steps, "{:.0f}")])
    xs = sorted(set.intersection(*[set(g) for g in gap_curves]))
    ax.plot(xs, [mean_std([g[s] for g in gap_curves])[0] for s in xs], marker=".", label=name)
  save_line_plot(fig, ax, os.path.join(plots, "overfitting_gap_curve.png"),
                 xlabel="step (100 images each; 10 steps = 1 epoch)", ylabel="train − test accuracy (mean over seeds)",
                 title="1,000 Fashion-MNIST images, 2×512 relu MLP, Adam")
  text = table(["regularizer", "n", "train accuracy (eval mode, the 1,000 images)", "test accuracy",
                "gap", "step of the final model"], rows)
  intervals = interval_table(os.path.join(root, "overfitting"), groups, ("none",))
  if intervals:
    text += "\n\nTest accuracy with intervals and paired tests on the same 10,000 test images:\n\n" + intervals
  if unfinished:
    text += f"\n\n{unfinished} run(s) had not finished and are left out."
  return text


# ---------------------------------------------------------------------------------------------- (d)


def rbm_table(root: str, plots: str) -> str:
  results = []
  for path in sorted(glob.glob(os.path.join(root, "rbm", "*", "results.json"))):
    with open(path) as f:
      results.append(json.load(f))
  if not results:
    return "_No finished runs yet._"
  groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
  for r in results:
    groups[r["method"]].append(r)
  rows = []
  for method, rs in groups.items():
    col = lambda k: [r[k] for r in rs]  # noqa: E731
    rows.append([method, len(rs), cell(col("pseudo_likelihood"), "{:.2f}"), cell(col("ais_log_likelihood"), "{:.2f}"),
                 cell(col("log_z"), "{:.2f}"), cell(col("log_z_rel_se"), "{:.3f}"), cell(col("recon_error"), "{:.2f}"),
                 cell(col("free_energy_gap"), "{:.2f}"), cell(col("train_seconds"), "{:.0f}")])
  r0 = results[0]
  text = (f"784→{r0['hidden']} Bernoulli RBM, {r0['epochs']} epochs on {r0['train_examples']:,} binarized training "
          f"images; metrics on {r0['eval_examples']:,} test images; AIS with {r0['ais_steps']:,} intermediate "
          f"distributions × {r0['ais_chains']} chains. Nats per image.\n\n")
  text += table(["method", "n", "pseudo-likelihood", "AIS log-likelihood", "AIS log Z", "rel. s.e. of AIS weights",
                 "reconstruction error", "free-energy gap (test − train)", "train seconds"], rows)
  for name in ("filters.png", "samples.png"):
    src = os.path.join(root, "rbm", name)
    if os.path.exists(src):
      shutil.copy(src, os.path.join(plots, f"rbm_{name}"))
  return text


def status(root: str) -> str:
  """'Finished runs: (a) 36 of 36, …' from each sweep's plan (ROOT/<exp>/sweep.json) and the finished runs."""
  parts = []
  for label, exp in (("(a)", "vanishing"), ("(b)", "remedies"), ("(c)", "overfitting")):
    plan = os.path.join(root, exp, "sweep.json")
    planned = 0
    if os.path.exists(plan):
      with open(plan) as f:
        planned = len(json.load(f)["runs"])
    done, _ = load(os.path.join(root, exp))
    parts.append(f"{label} {len(done)} of {planned}")
  rbm_runs = len(glob.glob(os.path.join(root, "rbm", "*", "results.json")))
  return f"Finished runs when this README was generated: {', '.join(parts)}; (d) {rbm_runs} RBM runs."


def main(argv: Sequence[str]) -> None:
  del argv
  plots = os.path.join(FLAGS.out, "plots")
  os.makedirs(plots, exist_ok=True)
  sections = {
      "vanishing": vanishing(FLAGS.root, plots),
      "remedies": remedies(FLAGS.root, plots),
      "overfitting": overfitting(FLAGS.root, plots),
      "rbm": rbm_table(FLAGS.root, plots),
  }
  sections["target"] = f"{TARGET_ACCURACY:.2f}"
  notes_path = os.path.join(os.path.dirname(__file__), "notes.json")
  notes = {}
  if os.path.exists(notes_path):  # the written observations, one paragraph per experiment
    with open(notes_path) as f:
      notes = json.load(f)
  sections["status"] = status(FLAGS.root) + " " + notes.get("status", "")
  for key in ("vanishing_notes", "remedies_notes", "overfitting_notes", "rbm_notes"):
    sections[key] = notes.get(key, "")
  with open(os.path.join(os.path.dirname(__file__), "README.template.md")) as f:
    template = f.read()
  text = template
  for key, value in sections.items():
    text = text.replace("{{" + key + "}}", value)
  with open(os.path.join(FLAGS.out, "README.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  app.run(main)
