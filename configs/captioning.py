r"""Image captioning on 'fashion_scenes' (notes §3 CNN → LSTM; §5.1 Show, Attend and Tell).

  python -m research.main --config=configs/captioning.py --workdir=/tmp/cap_att
  python -m research.main --config=configs/captioning.py:attention=false --workdir=/tmp/cap_plain
  python -m research.main --config=configs/captioning.py:init_from=/tmp/cnn --workdir=/tmp/cap_init

Data: 84×84 scenes, 3×3 grid of 28×28 cells, 1–2 Fashion-MNIST items per scene, 5 grammar captions per
image (research/data/scenes.py); 5,000 train scenes (25,000 image–caption pairs), 1,000 validation,
1,000 test scenes whose items come from Fashion-MNIST's test images.
Model: CNN trunk (8, 16 channels) pooled to 3×3×16 cells → LSTM (embed 64, hidden 128); with attention
(default) soft attention (dim 64) with the β gate and the doubly stochastic term λ = 1; without, h0/c0
from the mean feature only. `init_from=DIR` copies the trunk of a 'cnn' run (configs/cnn.py) before
training ('warm_start' trainer). Decoding: greedy and beam (k = 3) on up to 500 test images.

Measured (seed 0, init_from a 1,200-step configs/cnn.py run, 600 steps; 2 CPU cores shared with other jobs,
load average ~30): attention — 659 s wall, test BLEU-4 46.0 greedy / 56.4 beam, teacher-forced alignment
48.1% (chance 11.1%); without attention — BLEU-4 42.1 greedy / 52.4 beam. All seeds and metrics:
experiments/multimodal/README.md (written by `python -m experiments.multimodal.run`).
`:runlocal` is a tiny variant for tests.

`:full` is Show, Attend and Tell at paper scale, for a GPU or TPU (not run here; its first steps are tested):
MS-COCO (`coco_captions`, TFDS's Karpathy splits: 82,783 train, 5,000 val, 5,000 test images, 5 captions each;
internet once to prepare; the images are held in memory at 224×224, ~14 GB), words seen ≥ 5 times (≤ 10,000),
captions of ≤ 20 words, a 4-stage CNN trunk (64, 128, 256, 512 channels) whose 14×14×512 map is the attention
grid (the paper's VGG conv5 annotation shape), embeddings 512, LSTM 1,024, attention 512, dropout 0.5, batch 64,
100,000 steps (≈ 15 epochs of the image–caption pairs), Adam 4e-4 with 2,000 warmup steps and cosine decay,
beam 3 over all 5,000 test images. Xu et al. (2015) report BLEU-4 24.3 with soft attention on an ImageNet-
pretrained VGG encoder; this trunk learns from COCO alone, so that figure is an upper reference, not a promise.

  python -m research.main --config=configs/captioning.py:full --workdir=gs://BUCKET/sat_coco
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.decoding.decoder import decode_config
from research.errors import UserError


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, attention=True, init_from="", local_dir="", steps=600, seed=0, grid=3,
                  num_train=5000, ds=1.0, full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is MS-COCO, runlocal the smoke test")
  config = base_config()
  config.name = f"captioning_{'attention' if arg.attention else 'plain'}"
  config.trainer = "warm_start"        # the supervised loop + optional init of the CNN trunk from a run
  config.seed = arg.seed
  config.task = "captioning"
  config.dataset.name = "fashion_scenes"
  config.dataset.grid = arg.grid       # G: scenes are G×G cells of 28×28 pixels
  config.dataset.cell_size = 28
  config.dataset.min_items = 1
  config.dataset.max_items = 2
  config.dataset.num_captions = 5      # references per image
  config.dataset.num_train = arg.num_train
  config.dataset.num_validation = 1000
  config.dataset.num_test = 1000
  config.dataset.include_digits = False
  config.dataset.seed = 0              # the scenes (fixed across training seeds)
  config.dataset.train_pairs = True    # one training example per (image, reference)
  config.dataset.eval_splits = ("test",)
  if arg.local_dir:
    config.dataset.local_dir = arg.local_dir

  config.model_name = "show_attend_tell" if arg.attention else "show_tell"
  config.model = ConfigDict(dict(
      features=(8, 16),      # CNN channels per stage; D = 16 per cell (must match a cnn run for init_from)
      embed_dim=64,          # word embedding E
      hidden_dim=128,        # LSTM state H
      attention_dim=64,      # A (attention model only)
      gate=True,             # the β gating scalar on z_t (attention model only)
      dropout_rate=0.1,      # on word embeddings and before the output layer
  ))
  if not arg.attention:
    del config.model["attention_dim"]
    del config.model["gate"]
  config.doubly_stochastic = arg.ds    # λ of λ Σ_i (1 − Σ_t α_ti)² (attention model only)
  config.label_smoothing = 0.0
  config.init_from = ConfigDict(dict(
      workdir=arg.init_from,  # '' = random init; else a configs/cnn.py workdir
      source="trunk",         # parameter subtree read from that checkpoint
      target="trunk",         # parameter subtree of this model it replaces
  ))
  # The search fields (sampling, n-best, n-gram blocking, length-penalty type) and their defaults are
  # research/decoding/decoder.py's decode_config(); e.g. --config.decode.methods="('greedy','sample')".
  config.decode = decode_config(
      methods=("greedy", "beam"),  # searches scored at evaluation (greedy always runs: object metrics read it)
      beam_size=3,           # k of beam search
      length_penalty=0.0,    # α of ((5 + len) / 6) ** α
      max_examples=500,      # images decoded per evaluation
      batch_size=100,        # images per decoding call
  )

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
    _full(config, arg.attention)
  if arg.runlocal:
    config.dataset.num_train = 40
    config.dataset.num_validation = 0
    config.dataset.num_test = 8
    config.model.features = (4, 8)
    config.model.embed_dim = 8
    config.model.hidden_dim = 16
    if arg.attention:
      config.model.attention_dim = 8
    config.decode.max_examples = 8
    config.decode.batch_size = 8
    config.batch_size = 8
    config.eval_batch_size = 8
    config.num_train_steps = 3
    config.log_every_steps = 1
    config.checkpoint_every_steps = 3
    config.model_summary = False
  return config


def _full(config: ConfigDict, attention: bool) -> None:
  """The paper-scale setting (module docstring, `full`): Show, Attend and Tell sizes on MS-COCO."""
  config.name += "_coco_full"
  config.dataset.update(dict(
      name="coco_captions", tfds_name="coco_captions", download=True,
      image_size=224,        # pixels per side; 4 stride-2 stages → 14×14
      grid=14,               # attention cells per side (the trunk's map, pooled 1:1)
      min_freq=5, vocab_size=10_000, max_len=20))  # the fashion_scenes fields left over are not read
  config.model.update(features=(64, 128, 256, 512), embed_dim=512, hidden_dim=1024, dropout_rate=0.5)
  if attention:
    config.model.attention_dim = 512
  config.optimizer.update(learning_rate=4e-4, schedule="warmup_cosine", warmup_steps=2000, grad_clip_norm=5.0)
  config.batch_size = 64
  config.eval_batch_size = 128
  config.num_train_steps = 100_000
  config.log_every_steps = 200
  config.eval_every_steps = 20_000
  config.checkpoint_every_steps = 5_000
  config.decode.update(max_examples=5000, batch_size=250)
