"""Trainer registry entries: one function `(config, workdir, **kw)` per mode of training."""

from research import train  # noqa: F401  (registers 'supervised')
from research import seq2seq_task  # noqa: F401  (task 'seq2seq')
