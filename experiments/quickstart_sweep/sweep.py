"""Learning rate × 3 seeds on the quickstart MLP (see README.md for the command and the table)."""


def get_sweep(hyper):
  return hyper.product([
      hyper.sweep("config.optimizer.learning_rate", [1e-3, 3e-3, 1e-2]),
      hyper.seeds(3),
  ])
