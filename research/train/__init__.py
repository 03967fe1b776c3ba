"""Training: state and the one loop (loop.py), checkpoints, the workdir, metric writers, sharding, optimizers,
and the hooks that start a run from other weights (init_from.py, pretraining_stage.py)."""
