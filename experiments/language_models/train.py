"""`python -m research.main` with the language-model registrations loaded (until research/*/__init__.py import them).

  python -m experiments.language_models.train --config=configs/lm.py:model=elmo --workdir=/tmp/lm_elmo
"""

from research.data import text  # noqa: F401  (rotten_tomatoes, rotten_tomatoes_pairs, austen, kjv_text, ...)
from research.main import run
from research.models import bert, elmo, lstm_lm  # noqa: F401

if __name__ == "__main__":
  run()
