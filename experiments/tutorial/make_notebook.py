"""Writes experiments/tutorial.ipynb from the cells below (the notebook is generated, so diffs stay readable).

  python -m experiments.tutorial.make_notebook
"""

from __future__ import annotations

import os

import nbformat

CELLS = [
    ("md", """# research — a tour in three small experiments

1. the **quickstart**: an MLP on scikit-learn's digits through the one training loop;
2. a tiny **seq2seq** model that learns to reverse sequences, decoded with greedy and **beam search**
   (`research/decoding/search.py`, one `lax.while_loop`);
3. a tiny **LDA** topic model fitted by collapsed Gibbs sampling in JAX on the Griffiths & Steyvers bars.

Set `TUTORIAL_QUICK=1` to run everything at toy sizes (that is what the test suite does)."""),
    ("code", """import os, tempfile
import jax, numpy as np
from IPython.display import Image, Markdown, display
QUICK = os.environ.get("TUTORIAL_QUICK") == "1"
root = tempfile.mkdtemp(prefix="tutorial_")
print("devices:", jax.devices(), "| quick:", QUICK)"""),
    ("md", """## 1. Quickstart
A config is a Python function returning an `ml_collections.ConfigDict`. The same run from the shell is
`python -m research.main --config=configs/quickstart.py --workdir=DIR`."""),
    ("code", """from configs import quickstart
from research.train.loop import Trainer

config = quickstart.get_config("runlocal" if QUICK else None)
config.data_dir = os.environ.get("TUTORIAL_DATA_DIR", config.data_dir)
trainer = Trainer(config, os.path.join(root, "quickstart"))
final = trainer.run()
display(Markdown(open(os.path.join(root, "quickstart", "results.md")).read()))
display(Image(os.path.join(root, "quickstart", "plots", "accuracy.png")))"""),
    ("md", """## 2. Seq2seq with beam search
An LSTM encoder–decoder on the synthetic *reverse* task. Every decoder in the framework exposes
`step_fn(tokens[B], cache) -> (log_probs[B, V], cache)`, so greedy, beam and exhaustive search work on any model."""),
    ("code", """from configs import seq2seq
from research.decoding import beam_search, greedy_search
from research.decoding.decoder import method_step_fns

config = seq2seq.get_config("task=reverse,runlocal" if QUICK else "task=reverse")
config.data_dir = os.environ.get("TUTORIAL_DATA_DIR", config.data_dir)
if not QUICK:
  config.num_train_steps = 800
s2s = Trainer(config, os.path.join(root, "seq2seq"))
s2s.run()
display(Image(os.path.join(root, "seq2seq", "plots", "loss.png")))"""),
    ("code", """info = s2s.dataset.info
vocab = info["tgt_vocab"]
test = s2s.dataset.split("test")
batch = s2s.dataset.collate(test.__getitems__(np.arange(4)))
variables = {"params": s2s.state.params, **s2s.state.model_state}
step_fn, cache = method_step_fns(s2s.model, variables, jax.numpy.asarray(batch["src"]), 0)
greedy, _ = greedy_search(step_fn, cache, batch_size=4, max_len=12, bos_id=info["bos_id"], eos_id=info["eos_id"])
beams, scores = beam_search(step_fn, cache, batch_size=4, beam_size=3, max_len=12,
                            bos_id=info["bos_id"], eos_id=info["eos_id"])
for i in range(4):
  print("source:", vocab.decode(batch["src"][i]), "| greedy:", vocab.decode(greedy[i]),
        "| beam k=3:", vocab.decode(beams[i, 0]), f"(log p = {float(scores[i, 0]):.3f})")"""),
    ("md", """## 3. LDA on the bars
Ten topics, each a horizontal or vertical bar on a 5×5 image; documents mix them. `GibbsLDA` is a
scikit-learn estimator (it works in a `Pipeline`), sampled with `jax.random` on device arrays."""),
    ("code", """import matplotlib.pyplot as plt
from research.lda import GibbsLDA
from research.lda.synthetic import bars_corpus

X, true_topics = bars_corpus(num_docs=100 if QUICK else 500, seed=0)[:2]
lda = GibbsLDA(num_topics=10, alpha=0.5, beta=0.1, num_iterations=30 if QUICK else 200, seed=0).fit(X)
fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for k, ax in enumerate(axes):
  ax.imshow(lda.components_[k].reshape(5, 5), cmap="gray"); ax.axis("off")
fig.savefig(os.path.join(root, "lda_topics.png"), dpi=80)  # the framework plots with matplotlib's Agg backend
plt.close(fig)
display(Image(os.path.join(root, "lda_topics.png")))
print("joint log-likelihood trace:", [round(v) for v in lda.loglikelihoods_[-3:]])"""),
]


def build() -> nbformat.NotebookNode:
  nb = nbformat.v4.new_notebook()
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
  nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
              for kind, src in CELLS]
  return nb


def main() -> None:
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tutorial.ipynb")
  nbformat.write(build(), path)
  print(path)


if __name__ == "__main__":
  main()
