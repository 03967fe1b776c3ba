r"""Text → image on 'fashion_scenes' (notes §3 LSTM → vector → CNN): an LSTM reads a caption into one
vector, transposed convolutions draw the 84×84 scene.

  python -m research.main --config=configs/text_to_image.py:classifier=/tmp/cnn --workdir=/tmp/t2i
  python -m research.main --config=configs/text_to_image.py:latent=16,classifier=/tmp/cnn --workdir=/tmp/t2i_vae

Data as configs/captioning.py (one training example per image–reference pair). Model: embed 64, LSTM 128,
caption vector LayerNorm([last state, mean of outputs]) (256-d), dense → 21×21×16 → 2 × (4×4 transposed
conv, stride 2) → 3×3 conv → pixel logits; per-pixel BCE; 1,200 steps of batch 32.
`latent=K` makes it a conditional VAE with a K-dim latent (generation uses z = 0).
Evaluation (test split, 500 scenes): pixel_mse/pixel_mae of images drawn from the caption alone, and —
with `classifier=DIR` naming a configs/cnn.py run — the accuracy of that fixed classifier on the drawn
cells of the captioned items (and on the real scenes' cells, the ceiling).

Runtime and results: experiments/multimodal/README.md. `:runlocal` is a tiny variant for tests.

`:full` is the same task at a budget that trains the decoder well past its CPU plateau, for a GPU (not run here;
its first steps are tested): 50,000 training scenes (250,000 image–caption pairs), embeddings 256, LSTM 512, a
21×21×64 starting map, batch 64, 40,000 steps (≈ 10 epochs), Adam 1e-3 with 1,000 warmup steps and cosine
decay; scored by a configs/cnn.py:full classifier. No published reference exists for this task.

  python -m research.main --config=configs/text_to_image.py:full,classifier=/tmp/cnn_full --workdir=/tmp/t2i_full
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, classifier="", latent=0, local_dir="", steps=1200, seed=0, grid=3,
                  num_train=5000, loss="bce", full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is the GPU budget, runlocal the "
                    "smoke test")
  config = base_config()
  config.name = "text_to_image" + (f"_cvae{arg.latent}" if arg.latent else "")
  config.seed = arg.seed
  config.task = "text_to_image"
  config.dataset.name = "fashion_scenes"
  config.dataset.grid = arg.grid
  config.dataset.cell_size = 28
  config.dataset.min_items = 1
  config.dataset.max_items = 2
  config.dataset.num_captions = 5
  config.dataset.num_train = arg.num_train
  config.dataset.num_validation = 1000
  config.dataset.num_test = 1000
  config.dataset.include_digits = False
  config.dataset.seed = 0
  config.dataset.train_pairs = True
  config.dataset.eval_splits = ("test",)
  if arg.local_dir:
    config.dataset.local_dir = arg.local_dir

  config.model_name = "text_to_image"
  config.model = ConfigDict(dict(
      embed_dim=64,          # word embedding
      hidden_dim=128,        # LSTM state = the caption vector
      channels=16,           # channels of the 21×21 starting map (halved per upsampling, >= 8)
      num_upsamples=2,       # 21 → 42 → 84
      latent_dim=arg.latent,  # 0 = deterministic decoder; > 0 = conditional VAE
      # The caption vector = [last LSTM state, masked mean of LSTM outputs], layer-normalized. With the
      # raw last state alone (text_pool='last', text_norm=False) the vector barely varies between captions
      # (std 0.08 around |h| 0.46) and the decoder learned only the mean scene (experiments/multimodal).
      text_pool="both",
      text_norm=True,
      dropout_rate=0.0,
  ))
  config.pixel_loss = arg.loss             # 'bce' (pixels in [0, 1] as soft targets) or 'mse'
  config.kl_weight = 1.0                   # weight of the VAE's KL term
  config.classifier_workdir = arg.classifier  # a configs/cnn.py run; '' skips classifier accuracy
  config.decode = ConfigDict(dict(max_examples=500, batch_size=100))  # evaluate_extra: scenes drawn and scored

  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 2e-3
  config.optimizer.grad_clip_norm = 1.0
  config.batch_size = 32
  config.eval_batch_size = 250
  config.num_train_steps = arg.steps
  config.log_every_steps = 100
  config.eval_every_steps = -1
  config.checkpoint_every_steps = 1000
  if arg.full:
    config.name += "_full"
    config.dataset.num_train = 50_000
    config.model.update(embed_dim=256, hidden_dim=512, channels=64)
    config.optimizer.update(learning_rate=1e-3, schedule="warmup_cosine", warmup_steps=1000)
    config.batch_size = 64
    config.num_train_steps = 40_000
    config.log_every_steps = 200
    config.checkpoint_every_steps = 5_000
  if arg.runlocal:
    config.dataset.num_train = 40
    config.dataset.num_validation = 0
    config.dataset.num_test = 8
    config.model.embed_dim = 8
    config.model.hidden_dim = 16
    config.model.channels = 8
    config.decode = ConfigDict(dict(max_examples=8, batch_size=8))
    config.batch_size = 8
    config.eval_batch_size = 8
    config.num_train_steps = 3
    config.log_every_steps = 1
    config.checkpoint_every_steps = 3
    config.model_summary = False
  return config
