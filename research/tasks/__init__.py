"""Tasks (registry.tasks): the Task protocol (base.py) and one module per family. Importing the package
registers every built-in task; tasks sit below the training loop and never import it."""

from research.tasks import (  # noqa: F401  (importing registers the tasks)
    classification,  # classification
    language,  # text_classification, lm, mlm_nsp
    multimodal,  # captioning, text_to_image
    seq2seq,  # seq2seq
)
