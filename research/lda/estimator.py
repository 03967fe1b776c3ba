"""`GibbsLDA`: a scikit-learn estimator around the collapsed Gibbs samplers in `research.lda.sampler`."""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from research.errors import UserError
from research.lda import sampler as lda_sampler


class LDAInputError(UserError, ValueError):
  """Bad estimator input; a `ValueError` for scikit-learn tooling and a `UserError` for `research.main`."""


def validate_counts(X, *, allow_empty: bool = False) -> sp.csr_matrix:
  """Checks a document–term matrix and returns it as CSR int64[D, V].

  Accepts scipy sparse or dense array-likes of non-negative integer counts (floats holding whole numbers are
  accepted). Raises `LDAInputError` naming the problem.
  """
  if sp.issparse(X):
    X = sp.csr_matrix(X)
    values = X.data
  else:
    try:
      arr = np.asarray(X)
    except Exception as e:  # noqa: BLE001 - any conversion failure is a user input problem
      raise LDAInputError(f"X must be a document-term count matrix, could not convert it to an array: {e}") from e
    if arr.dtype == object:
      raise LDAInputError("X must be numeric counts, got an object array (pass a dense int array or scipy sparse)")
    if arr.ndim != 2:
      raise LDAInputError(f"X must be 2-D [documents, vocabulary], got shape {arr.shape}")
    values = arr.ravel()
    X = None
  if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
    raise LDAInputError(f"X must hold numeric counts, got dtype {values.dtype}")
  if values.size and not np.all(np.isfinite(values)):
    raise LDAInputError("X contains NaN or infinite values; counts must be finite non-negative integers")
  if values.size and values.min() < 0:
    raise LDAInputError(f"X contains negative counts (min {values.min()}); pass raw term counts, not tf-idf")
  if values.size and not np.all(np.equal(np.mod(values, 1), 0)):
    raise LDAInputError("X contains non-integer values; LDA needs raw term counts, not tf-idf or frequencies")
  out = sp.csr_matrix(np.asarray(arr), dtype=np.int64) if X is None else X.astype(np.int64)
  if out.shape[0] == 0 or out.shape[1] == 0:
    raise LDAInputError(f"X is empty (shape {out.shape}); give at least one document and one vocabulary word")
  if not allow_empty and out.sum() == 0:
    raise LDAInputError("the corpus has no tokens (all counts are zero); check the vocabulary or min_df settings")
  return out


def _check_prior(name: str, value, size: int) -> np.ndarray:
  arr = np.asarray(value, np.float64)
  if arr.ndim == 0:
    arr = np.full(size, float(arr))
  if arr.shape != (size,):
    raise LDAInputError(f"{name} must be a positive float or an array of {size} positive floats, got shape {arr.shape}")
  if not np.all(np.isfinite(arr)) or arr.min() <= 0:
    raise LDAInputError(f"{name} must be positive and finite, got min {arr.min()}")
  return arr


class GibbsLDA(TransformerMixin, BaseEstimator):
  """Latent Dirichlet allocation fitted by collapsed Gibbs sampling on device arrays (JAX).

  Args (stored unchanged, validated in `fit`):
    num_topics: K.
    alpha: document–topic Dirichlet prior, a float (symmetric) or float[K] (asymmetric).
    beta: topic–word Dirichlet prior, a float (symmetric) or float[V].
    num_iterations: Gibbs sweeps over the corpus.
    sampler: 'exact' (sequential, the reference) or 'parallel' (AD-LDA-style vectorized blocks).
    seed: integer seed for jax.random; a fit is a deterministic function of (data, params, seed, device count).
    burn_in: sweeps discarded before averaging `components_`/`doc_topic_`; None means num_iterations // 2.
    thin: average every `thin`-th sweep after burn-in.
    optimize_alpha / optimize_beta: Minka fixed-point updates (asymmetric alpha; beta's concentration) every
      `optimize_interval` sweeps.
    transform_iterations: fold-in sweeps for `transform` (the first half is burn-in).
    log_every: record the joint log-likelihood every this many sweeps (and after the last one).
    num_devices: blocks (= devices) for the parallel sampler; None uses every visible device.
    num_chunks: the parallel sampler draws each block in this many chunks per sweep, refreshing the counts between
      chunks (1 = every token of a block at once; more = less stale counts, closer to sequential Gibbs).

  Fitted attributes: components_ float64[K, V] topic–word probabilities (rows sum to 1), doc_topic_ float64[D, K],
  loglikelihoods_ list[float] (joint log p(w, z), same definition as the `lda` package),
  loglikelihood_iterations_ list[int] (sweeps completed at each record), alpha_ float64[K], beta_ float64[V],
  n_kw_ int64[K, V] and n_dk_ int64[D, K] (final counts), fit_seconds_, n_features_in_.
  """

  def __init__(self, num_topics: int = 10, alpha=0.1, beta=0.01, num_iterations: int = 200,
               sampler: str = "parallel", seed: int = 0, burn_in: int | None = None, thin: int = 1,
               optimize_alpha: bool = False, optimize_beta: bool = False, optimize_interval: int = 10,
               transform_iterations: int = 50, log_every: int = 10, num_devices: int | None = None,
               num_chunks: int = 4):
    self.num_topics = num_topics
    self.alpha = alpha
    self.beta = beta
    self.num_iterations = num_iterations
    self.sampler = sampler
    self.seed = seed
    self.burn_in = burn_in
    self.thin = thin
    self.optimize_alpha = optimize_alpha
    self.optimize_beta = optimize_beta
    self.optimize_interval = optimize_interval
    self.transform_iterations = transform_iterations
    self.log_every = log_every
    self.num_devices = num_devices
    self.num_chunks = num_chunks

  # --------------------------------------------------------------------------------------------------------
  def _check_params(self) -> None:
    def positive_int(name, value, minimum=1):
      if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise LDAInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    positive_int("num_topics", self.num_topics, 2)
    positive_int("num_iterations", self.num_iterations)
    positive_int("thin", self.thin)
    positive_int("optimize_interval", self.optimize_interval)
    positive_int("transform_iterations", self.transform_iterations)
    positive_int("log_every", self.log_every)
    positive_int("num_chunks", self.num_chunks)
    if self.burn_in is not None:
      positive_int("burn_in", self.burn_in, 0)
      if self.burn_in >= self.num_iterations:
        raise LDAInputError(f"burn_in ({self.burn_in}) must be smaller than num_iterations ({self.num_iterations})")
    if self.sampler not in ("exact", "parallel"):
      raise LDAInputError(f"sampler must be 'exact' or 'parallel', got {self.sampler!r}")
    if self.num_devices is not None:
      positive_int("num_devices", self.num_devices)
      if self.num_devices > jax.device_count():
        raise LDAInputError(f"num_devices={self.num_devices} but only {jax.device_count()} devices are visible")

  def _num_blocks(self) -> int:
    if self.sampler == "exact":
      return 1
    return self.num_devices or jax.device_count()

  def fit(self, X, y=None, *, callback: Callable[[int, dict], None] | None = None) -> GibbsLDA:
    """Runs the chain on X: int[D, V] counts (dense or scipy sparse). `y` is ignored.

    callback(sweeps_done, record) is called at each log-likelihood record with {'loglik', 'loglik_per_token'}.
    """
    self._check_params()
    X = validate_counts(X)
    d, v = X.shape
    self.n_features_in_ = v
    alpha = _check_prior("alpha", self.alpha, self.num_topics)
    beta = _check_prior("beta", self.beta, v)
    doc_of, word_of = lda_sampler.tokens_from_counts(X)
    layout = lda_sampler.make_layout(doc_of, word_of, d, v, self._num_blocks(),
                                     num_chunks=self.num_chunks if self.sampler == "parallel" else 1)
    key = jax.random.PRNGKey(self.seed)
    run = GibbsRun(layout, self.num_topics, alpha, beta, self.sampler, key)
    burn_in = self.num_iterations // 2 if self.burn_in is None else self.burn_in
    self.loglikelihoods_, self.loglikelihood_iterations_ = [], []
    start = time.perf_counter()
    for it in range(self.num_iterations):
      run.step()
      done = it + 1
      if (self.optimize_alpha or self.optimize_beta) and done % self.optimize_interval == 0:
        run.optimize_hyperparameters(self.optimize_alpha, self.optimize_beta)
      if done > burn_in and (done - burn_in) % self.thin == 0:
        run.accumulate()
      if done % self.log_every == 0 or done == self.num_iterations:
        ll = run.loglikelihood()
        self.loglikelihoods_.append(ll)
        self.loglikelihood_iterations_.append(done)
        if callback is not None:
          callback(done, {"loglik": ll, "loglik_per_token": ll / layout.num_tokens})
    self.fit_seconds_ = time.perf_counter() - start
    self._store_fit(run)
    return self

  def _store_fit(self, run: GibbsRun) -> None:
    self.alpha_, self.beta_ = run.alpha.copy(), run.beta.copy()
    self.n_kw_ = np.asarray(run.state.n_kw, np.int64)
    self.n_dk_ = run.layout.gather_docs(np.asarray(run.state.n_dk, np.int64))
    self.components_, self.doc_topic_ = run.estimates()
    self.num_tokens_ = run.layout.num_tokens

  def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
    """Fits on X and returns the training documents' topic proportions from the chain: float64[D, K]."""
    return self.fit(X, y, **fit_params).doc_topic_

  def transform(self, X) -> np.ndarray:
    """Topic proportions of (new) documents by fold-in Gibbs sampling with the topics fixed: float64[D, K].

    Rows sum to 1; an empty document gets alpha / sum(alpha).
    """
    check_is_fitted(self, "components_")
    X = self._check_new(X)
    return fold_in_theta(X, self.components_, self.alpha_, self.sampler, self.transform_iterations,
                         jax.random.PRNGKey(self.seed + 1))

  def _check_new(self, X) -> sp.csr_matrix:
    X = validate_counts(X, allow_empty=True)
    if X.shape[1] != self.n_features_in_:
      raise LDAInputError(f"X has {X.shape[1]} vocabulary columns but the model was fitted on {self.n_features_in_}")
    return X

  def perplexity(self, X, seed: int = 0) -> float:
    """Held-out perplexity of X by document completion (see `research.lda.metrics.document_completion`)."""
    from research.lda import metrics
    check_is_fitted(self, "components_")
    return metrics.document_completion(self, self._check_new(X), seed=seed)["perplexity"]

  def score(self, X, y=None) -> float:
    """Held-out log-likelihood per token by document completion (higher is better); used by GridSearchCV."""
    return -float(np.log(self.perplexity(X)))


def fold_in_theta(X: sp.csr_matrix, phi: np.ndarray, alpha: np.ndarray, sampler: str, num_sweeps: int,
                  key: jax.Array) -> np.ndarray:
  """Fold-in Gibbs estimate of theta for the rows of X given topics phi float[K, V]: float64[D, K]."""
  d, v = X.shape
  doc_of, word_of = lda_sampler.tokens_from_counts(X)
  layout = lda_sampler.make_layout(doc_of, word_of, d, v, 1)
  # The layout's bucketed shapes let cross-validation folds of similar size share one compiled program.
  theta = lda_sampler.fold_in(jnp.asarray(layout.words[0]), jnp.asarray(layout.docs[0]), jnp.asarray(layout.mask[0]),
                              jnp.asarray(phi, jnp.float32), jnp.asarray(alpha, jnp.float32), key,
                              num_slots=layout.doc_ids.shape[1], sampler=sampler, num_sweeps=num_sweeps,
                              burn_in=num_sweeps // 2)
  out = layout.gather_docs(np.asarray(theta, np.float64)[None])
  empty = np.asarray(X.sum(1)).ravel() == 0
  out[empty] = alpha / alpha.sum()
  return out / out.sum(1, keepdims=True)


class GibbsRun:
  """A Gibbs chain over a fixed corpus: state on device, priors and estimate accumulators.

  Shared by `GibbsLDA.fit` and the config-driven trainer (which checkpoints `checkpoint_state()`).
  """

  def __init__(self, layout: lda_sampler.TokenLayout, num_topics: int, alpha: np.ndarray, beta: np.ndarray,
               sampler: str, key: jax.Array):
    self.layout = layout
    self.num_topics = num_topics
    self.alpha = np.asarray(alpha, np.float64)
    self.beta = np.asarray(beta, np.float64)
    self.sampler = sampler
    init_key, self.chain_key = jax.random.split(key)
    self.state = lda_sampler.init_state(layout, num_topics, init_key)
    self.sweep = lda_sampler.make_sweep(sampler, layout)
    self.sweeps_done = 0
    self.num_samples = 0
    self.phi_sum = np.zeros((num_topics, layout.vocab_size), np.float64)
    self.theta_sum = np.zeros(layout.doc_ids.shape + (num_topics,), np.float64)
    self._alpha_dev = jnp.asarray(self.alpha, jnp.float32)
    self._beta_dev = jnp.asarray(self.beta, jnp.float32)

  def step(self) -> None:
    """One sweep; its key is fold_in(chain_key, sweeps_done), so a resumed chain draws the same numbers."""
    self.state = self.sweep(self.state, self.chain_key, np.int32(self.sweeps_done), self._alpha_dev, self._beta_dev)
    self.sweeps_done += 1

  def loglikelihood(self) -> float:
    return lda_sampler.joint_log_likelihood(np.asarray(self.state.n_kw), np.asarray(self.state.n_dk), self.alpha,
                                            self.beta)

  def optimize_hyperparameters(self, alpha: bool, beta: bool) -> None:
    if alpha:
      self.alpha = lda_sampler.minka_alpha(np.asarray(self.state.n_dk).reshape(-1, self.num_topics), self.alpha)
      self._alpha_dev = jnp.asarray(self.alpha, jnp.float32)
    if beta:
      self.beta = lda_sampler.minka_beta(np.asarray(self.state.n_kw), self.beta)
      self._beta_dev = jnp.asarray(self.beta, jnp.float32)

  def _point_estimates(self) -> tuple[np.ndarray, np.ndarray]:
    n_kw = np.asarray(self.state.n_kw, np.float64) + self.beta
    phi = n_kw / n_kw.sum(1, keepdims=True)
    n_dk = np.asarray(self.state.n_dk, np.float64) + self.alpha
    return phi, n_dk / n_dk.sum(-1, keepdims=True)

  def accumulate(self) -> None:
    """Adds the current sample's phi and theta to the running averages."""
    phi, theta = self._point_estimates()
    self.phi_sum += phi
    self.theta_sum += theta
    self.num_samples += 1

  def estimates(self) -> tuple[np.ndarray, np.ndarray]:
    """(phi float64[K, V], theta float64[D, K]): averages over accumulated samples, else the current state."""
    if self.num_samples:
      phi, theta = self.phi_sum / self.num_samples, self.theta_sum / self.num_samples
    else:
      phi, theta = self._point_estimates()
    return phi, self.layout.gather_docs(theta)

  def checkpoint_state(self) -> dict[str, np.ndarray]:
    """Everything needed to continue the chain exactly, as host arrays."""
    return {
        "z": np.asarray(self.state.z), "n_dk": np.asarray(self.state.n_dk), "n_kw": np.asarray(self.state.n_kw),
        "n_k": np.asarray(self.state.n_k), "chain_key": np.asarray(self.chain_key),
        "sweeps_done": np.asarray(self.sweeps_done, np.int64), "num_samples": np.asarray(self.num_samples, np.int64),
        "phi_sum": self.phi_sum, "theta_sum": self.theta_sum, "alpha": self.alpha, "beta": self.beta,
    }

  def restore(self, saved: dict[str, np.ndarray]) -> None:
    """Inverse of `checkpoint_state` (same corpus, K and number of blocks)."""
    self.state = lda_sampler.SamplerState(*(jnp.asarray(saved[k], jnp.int32) for k in ("z", "n_dk", "n_kw", "n_k")))
    self.chain_key = jnp.asarray(saved["chain_key"], jnp.uint32)
    self.sweeps_done = int(saved["sweeps_done"])
    self.num_samples = int(saved["num_samples"])
    self.phi_sum = np.asarray(saved["phi_sum"], np.float64)
    self.theta_sum = np.asarray(saved["theta_sum"], np.float64)
    self.alpha = np.asarray(saved["alpha"], np.float64)
    self.beta = np.asarray(saved["beta"], np.float64)
    self._alpha_dev = jnp.asarray(self.alpha, jnp.float32)
    self._beta_dev = jnp.asarray(self.beta, jnp.float32)
