"""(c) Overfitting 1,000 Fashion-MNIST images with a 2×512 relu MLP: seven regularization settings × 3 seeds.

Every run sets all five knobs, so the report groups runs by the full setting. Strengths:
L2 1e-3 (loss += l2/2·Σw²), L1 2e-5 (loss += l1·Σ|w|), dropout 0.5 on both hidden layers, Gaussian input
noise σ = 0.3 on [0, 1] pixels, early stopping after 3 evaluations (75 steps) without a better validation
accuracy, restoring the best step. Config: configs/deep_nets.py:experiment=overfitting.
"""

KEYS = ("config.l2_penalty", "config.l1_penalty", "config.model.dropout_rate", "config.model.input_noise_std",
        "config.early_stopping.patience")
NONE = (0.0, 0.0, 0.0, 0.0, 0)
VARIANTS = {  # name → values of KEYS
    "none": NONE,
    "l2": (1e-3, 0.0, 0.0, 0.0, 0),
    "l1": (0.0, 2e-5, 0.0, 0.0, 0),
    "dropout": (0.0, 0.0, 0.5, 0.0, 0),
    "input_noise": (0.0, 0.0, 0.0, 0.3, 0),
    "early_stopping": (0.0, 0.0, 0.0, 0.0, 3),
    "all": (1e-3, 2e-5, 0.5, 0.3, 3),
}


def get_sweep(hyper):
  return hyper.product([hyper.seeds(3), hyper.variants(KEYS, VARIANTS)])
