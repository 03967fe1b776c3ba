"""Model registry entries: importing this package registers every built-in model."""

from research.models import (  # noqa: F401  (show_tell, show_attend_tell, cnn, text_to_image)  # noqa: F401  (bert_*, elmo_*, leaky_bilm, lstm_lm, lstm_classifier)
    attention,  # noqa: F401  (luong_seq2seq)
    bert,
    captioning,
    cnn,
    elmo,
    lstm_lm,
    mlp,  # noqa: F401
    seq2seq,  # noqa: F401  (lstm_seq2seq)
    text_to_image,
    transformer,  # noqa: F401  (transformer)
)
