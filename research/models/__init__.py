"""Model registry entries: importing this package registers every built-in model."""

from research.models import (
    attention,  # noqa: F401  (luong_seq2seq)
    mlp,  # noqa: F401
    seq2seq,  # noqa: F401  (lstm_seq2seq)
    transformer,  # noqa: F401  (transformer)
)
