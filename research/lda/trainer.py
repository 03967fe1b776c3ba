"""Config-driven LDA runs: `python -m research.main --config=configs/lda.py --workdir=DIR`.

Order of a run (same contract as research/train/loop.py):
  1. load the corpus and build the vocabulary and token layout — nothing is written yet;
  2. check WORKDIR/config.json, take WORKDIR/.lock;
  3. restore the newest readable checkpoint of the chain (z, counts, priors, estimate sums, sweeps done),
     else initialize from config.seed; write config.json;
  4. sweep to config.num_iterations, logging the joint log-likelihood to metrics.jsonl/TensorBoard every
     config.log_every sweeps and checkpointing every config.checkpoint_every sweeps and at the end;
  5. write topics.md-style tables, held-out perplexity and coherence into results.md, and learning-curve plots.
A resumed chain draws exactly the numbers an uninterrupted one would (sweep keys are fold_in(key, sweep)).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from ml_collections import ConfigDict

from research import registry
from research.errors import UserError
from research.lda import metrics as lda_metrics
from research.lda import sampler as lda_sampler
from research.lda import synthetic, text
from research.lda.estimator import GibbsRun, _check_prior, validate_counts
from research.train.checkpoint import Checkpointer, abstract
from research.train.metric_writers import MetricWriter, markdown_table, plot_learning_curves, write_results
from research.train.workdir import Workdir


def load_corpus(config: ConfigDict) -> tuple[object, list[str], np.ndarray | None]:
  """(counts int[D, V] csr, vocabulary words, labels int[D] or None) for config.dataset."""
  ds = config.dataset
  if ds.name in ("bbc_news", "tfds_text"):
    if ds.name == "bbc_news":
      texts, labels, _ = text.load_bbc_news()
    else:
      texts, labels, _ = load_tfds_text(ds, os.path.expanduser(config.get("data_dir") or "~/tensorflow_datasets"))
    if ds.get("max_docs"):
      order = np.random.default_rng(0).permutation(len(texts))[:ds.max_docs]
      texts, labels = [texts[i] for i in order], labels[order]
    vocab = text.Vocabulary(min_df=ds.min_df, max_df=ds.max_df, max_features=ds.get("max_features") or None)
    return vocab.fit_transform(texts), vocab.words, labels
  if ds.name == "bars":
    X, _ = synthetic.bars_corpus(num_docs=ds.num_docs, doc_length=ds.doc_length, alpha=1.0, seed=ds.seed)
    side = int(np.sqrt(X.shape[1]))
    return validate_counts(X), [f"p{i // side}{i % side}" for i in range(X.shape[1])], None
  raise UserError(f"unknown config.dataset.name {ds.name!r}; use 'bbc_news', 'tfds_text' or 'bars'")


def load_tfds_text(ds: ConfigDict, data_dir: str) -> tuple[list[str], np.ndarray, list[str]]:
  """An official TFDS text-classification dataset's `train` split: (texts, labels int64[D], class names).

  ds.tfds_name (default 'ag_news_subset'); ds.text_key: one text feature, or several (a tuple, or one string
  'title,description' so that it can be set from the command line) joined by a space in that order;
  ds.label_key (default 'label'); ds.download. The prepared copy in data_dir is preferred; offline without one
  the run stops with one UserError line. Only `train` is read: the trainer holds out its own documents
  (config.dataset.heldout_fraction) and never scores labels, so the labels come back only as bbc_news' do.
  """
  # Imported here: research.data loads TFDS and every dataset module, which the bbc_news and bars runs never need.
  from research.data.base import load_columns
  from research.data.translation import official_builder
  name = ds.get("tfds_name", "ag_news_subset")
  keys = ds.get("text_key", "description")
  keys = [k.strip() for k in keys.split(",")] if isinstance(keys, str) else [str(k) for k in keys]
  label_key = ds.get("label_key", "label")
  builder = official_builder(name, data_dir, bool(ds.get("download", True)))
  if "train" not in builder.info.splits:
    raise UserError(f"{name} has no 'train' split (it has {', '.join(builder.info.splits)}); choose another dataset")
  cols = load_columns(builder.as_data_source(split="train")).columns
  missing = [k for k in [*keys, label_key] if k not in cols]
  if missing:
    raise UserError(f"{name} has features {sorted(cols)}, not {missing}; set config.dataset.text_key/label_key "
                    "to its text and label features")
  texts = [" ".join(_decode(cols[k][i]) for k in keys) for i in range(len(cols[label_key]))]
  classes = list(getattr(builder.info.features[label_key], "names", None) or [])
  return texts, np.asarray(cols[label_key]).astype(np.int64), classes


def _decode(value: object) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def split_heldout(X, fraction: float, seed: int):
  """(train rows, held-out rows) of X; the held-out documents are scored by document completion."""
  n = X.shape[0]
  order = np.random.default_rng(seed).permutation(n)
  k = int(round(n * fraction))
  return X[np.sort(order[k:])], X[np.sort(order[:k])]


@registry.trainers.register("lda")
def train_lda(config: ConfigDict, workdir: str, *, allow_config_change: bool = False) -> dict[str, float]:
  m = config.model
  X, words, _ = load_corpus(config)
  X = validate_counts(X)
  train_X, heldout_X = split_heldout(X, config.dataset.heldout_fraction, config.seed)
  if train_X.sum() == 0:
    raise UserError("the training split has no tokens; lower config.dataset.heldout_fraction or min_df")
  if m.sampler not in ("exact", "parallel"):
    raise UserError(f"config.model.sampler must be 'exact' or 'parallel', got {m.sampler!r}")
  alpha = _check_prior("config.model.alpha", m.alpha, m.num_topics)
  beta = _check_prior("config.model.beta", m.beta, X.shape[1])
  blocks = 1 if m.sampler == "exact" else (m.get("num_devices") or jax.device_count())
  doc_of, word_of = lda_sampler.tokens_from_counts(train_X)
  layout = lda_sampler.make_layout(doc_of, word_of, train_X.shape[0], X.shape[1], blocks,
                                   num_chunks=m.num_chunks if m.sampler == "parallel" else 1)
  run = GibbsRun(layout, m.num_topics, alpha, beta, m.sampler, jax.random.PRNGKey(config.seed))
  burn_in = config.num_iterations // 2 if m.burn_in is None or m.burn_in < 0 else m.burn_in

  wd = Workdir(workdir)
  wd.check_config(config, allow_change=allow_config_change)
  wd.acquire()
  try:
    checkpointer = Checkpointer(wd.file("checkpoints"), keep=config.keep_checkpoints,
                                every_steps=config.checkpoint_every, async_save=False)
    restored = checkpointer.restore_latest(abstract(run.checkpoint_state()))
    if restored is not None:
      step, saved, _ = restored
      run.restore({k: np.asarray(v) for k, v in saved.items()})
      print(f"resumed from {checkpointer.directory}/{step} ({run.sweeps_done} sweeps done)", flush=True)
    wd.write_config(config)
    writer = MetricWriter(wd.path, config.num_iterations)
    try:
      while run.sweeps_done < config.num_iterations:
        run.step()
        done = run.sweeps_done
        if (m.optimize_alpha or m.optimize_beta) and done % m.optimize_interval == 0:
          run.optimize_hyperparameters(m.optimize_alpha, m.optimize_beta)
        if done > burn_in and (done - burn_in) % m.thin == 0:
          run.accumulate()
        last = done == config.num_iterations
        if done % config.log_every == 0 or last:
          ll = run.loglikelihood()
          writer.write(done, "train", {"loglik_per_token": ll / layout.num_tokens, "loglik": ll,
                                       "alpha_sum": float(run.alpha.sum()), "beta_mean": float(run.beta.mean())})
        if checkpointer.should_save(done) or last:
          checkpointer.save(done, run.checkpoint_state(), {"sweeps_done": done}, force=last)
      summary = _evaluate(config, run, words, train_X, heldout_X)
      writer.write(run.sweeps_done, "heldout", summary["scalars"])
    finally:
      writer.close()
      checkpointer.close()
    if wd.is_writer:
      plot_learning_curves(wd.path)
      write_results(wd.path, f"{config.get('name') or 'lda'} — results", summary["sections"])
      np.save(wd.file("topic_word.npy"), summary["phi"])
      np.save(wd.file("doc_topic.npy"), summary["theta"])
      print(f"\nResults ({wd.file('results.md')}):\n{summary['sections']['Topics']}", flush=True)
  finally:
    wd.release()
  return summary["scalars"]


class _FittedView:
  """What `metrics.document_completion` needs from a fitted model."""

  def __init__(self, phi, alpha, sampler, transform_iterations):
    self.components_, self.alpha_, self.sampler, self.transform_iterations = phi, alpha, sampler, transform_iterations


def _evaluate(config: ConfigDict, run: GibbsRun, words: list[str], train_X, heldout_X) -> dict:
  phi, theta = run.estimates()
  n_top = config.top_words
  scalars: dict[str, float] = {"final_loglik_per_token": run.loglikelihood() / run.layout.num_tokens}
  coh = lda_metrics.coherence(phi, train_X, n=n_top)
  scalars["umass"] = float(coh["umass"].mean())
  scalars["npmi"] = float(coh["npmi"].mean())
  if heldout_X.shape[0] and heldout_X.sum() > 0:
    view = _FittedView(phi, run.alpha, run.sampler, config.model.transform_iterations)
    dc = lda_metrics.document_completion(view, heldout_X, seed=config.seed)
    scalars["heldout_perplexity"] = dc["perplexity"]
    scalars["heldout_loglik_per_token"] = dc["loglik_per_token"]
  share = theta.mean(0)
  topics = lda_metrics.top_words_table(phi, words, n=n_top, weights=share)
  sample = np.random.default_rng(config.seed).choice(theta.shape[0], size=min(5, theta.shape[0]), replace=False)
  dist = markdown_table(["doc"] + [f"t{k}" for k in range(theta.shape[1])],
                        [[int(d)] + [float(v) for v in theta[d]] for d in sorted(sample)])
  sections = {
      "Topics": topics + f"\n\n{n_top} most probable words per topic; `share` is the mean document proportion; "
                         "`label` is left for a reader to fill in.",
      "Measures": markdown_table(["measure", "value"], [[k, float(v)] for k, v in scalars.items()]),
      "Sample document-topic distributions (training documents)": dist,
      "Run": (f"dataset `{config.dataset.name}`: {run.layout.num_docs} training documents, "
              f"{run.layout.num_tokens} tokens, vocabulary {run.layout.vocab_size}; K = {run.num_topics}, "
              f"sampler `{run.sampler}` ({run.layout.num_blocks} block(s), {run.layout.num_chunks} chunk(s)), "
              f"{run.sweeps_done} sweeps, {run.num_samples} averaged samples, seed {config.seed}. "
              f"Workdir files: topic_word.npy [K, V], doc_topic.npy [D, K] (training documents)."),
  }
  return {"scalars": scalars, "sections": sections, "phi": phi, "theta": theta}
