"""(b) Remedies for a deep sigmoid net: 6 hidden layers of 128 sigmoid units, Glorot init, plain SGD 0.1,
10 epochs on 10% of Fashion-MNIST (6,000 images) — and one change at a time:

  random          the baseline above
  rbm             greedy layer-wise RBM pretraining (CD-1, 2 epochs per layer), then fine-tuning
  autoencoder     greedy layer-wise autoencoder pretraining (2 epochs per layer), then fine-tuning
  relu            relu instead of sigmoid units
  adam            Adam (1e-3) instead of SGD
  data_30         30% of the training set (18,000 images), same 10 epochs
  data_100        100% (60,000 images), same 10 epochs
Test accuracy is evaluated after every epoch (eval_every_steps = steps per epoch).
Config: configs/deep_nets.py:experiment=remedies. Seeds vary slowest: every variant runs for seed 0 first.
"""

KEYS = ("config.pretrain.kind", "config.model.activation", "config.optimizer.name", "config.optimizer.learning_rate",
        "config.dataset.train_fraction", "config.eval_every_steps", "config.log_every_steps")
BATCH = 64
TRAIN = 60_000


def _per_epoch(fraction: float) -> int:
  return -(-round(fraction * TRAIN) // BATCH)


def _v(kind="none", activation="sigmoid", opt="sgd", lr=0.1, fraction=0.1):
  return (kind, activation, opt, lr, fraction, _per_epoch(fraction), _per_epoch(fraction))


VARIANTS = {
    "random": _v(),
    "rbm": _v(kind="rbm"),
    "autoencoder": _v(kind="autoencoder"),
    "relu": _v(activation="relu"),
    "adam": _v(opt="adam", lr=1e-3),
    "data_30": _v(fraction=0.3),
    "data_100": _v(fraction=1.0),
}


def get_sweep(hyper):
  return hyper.product([hyper.seeds(3), hyper.variants(KEYS, VARIANTS)])
