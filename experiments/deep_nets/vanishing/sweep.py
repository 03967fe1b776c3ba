"""(a) Vanishing gradients: depth ∈ {2, 4, 6, 8} × activation ∈ {sigmoid, tanh, relu} × 3 seeds.

Seeds vary slowest, so an interrupted sweep has every (depth, activation) cell for seed 0 first.
Config: configs/deep_nets.py:experiment=vanishing (width 128, Glorot init, SGD 0.1, one epoch on 6,000 images).
"""

WIDTH = 128


def get_sweep(hyper):
  return hyper.product([
      hyper.seeds(3),
      hyper.sweep("config.model.hidden_sizes", [(WIDTH,) * d for d in (2, 4, 6, 8)]),
      hyper.sweep("config.model.activation", ["sigmoid", "tanh", "relu"]),
  ])
