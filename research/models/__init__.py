"""Model registry entries: importing this package registers every built-in model."""

from research.models import (
    mlp,  # noqa: F401
    seq2seq,  # noqa: F401  (lstm_seq2seq)
)
