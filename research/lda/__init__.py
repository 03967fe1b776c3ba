"""Latent Dirichlet allocation by collapsed Gibbs sampling in JAX (exact and AD-LDA-style parallel samplers).

`GibbsLDA` is the scikit-learn estimator; `sampler` holds the pure jitted sweeps; `metrics` the topic tables,
document-completion perplexity and coherence; `text` the vocabulary pipeline; `synthetic` the bars corpus.
"""

from research.lda.estimator import GibbsLDA, LDAInputError

__all__ = ["GibbsLDA", "LDAInputError"]
