"""Trainer registry entries: one function `(config, workdir, **kw)` per mode of training."""

import research.lda.trainer  # noqa: F401  (trainer 'lda')
from research import (
    init_from,  # noqa: F401  (trainers finetune, warm_start)
    lm_tasks,  # noqa: F401  (tasks text_classification, lm, mlm_nsp)
    multimodal_tasks,  # noqa: F401  (tasks captioning, text_to_image)
    seq2seq_task,  # noqa: F401  (task 'seq2seq')
    train,  # noqa: F401  (registers 'supervised')
)
