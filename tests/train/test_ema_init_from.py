"""Every way of starting from other weights restarts the EMA at them (TrainState.with_params).

An EMA that still averaged the random init would be what evaluation reads (config.ema_decay > 0): fine-tuning,
warm start and layer-wise pretraining must all hand the loaded weights to the average too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.models import elmo, lstm_lm  # noqa: F401  (registers the models)
from research.train import init_from
from research.train.loop import Trainer, TrainState
from tests.data.test_lm_data import write_rt_csv
from tests.tasks.test_lm_train import _config as lm_config
from tests.train.test_pretraining_stage import _config as pretrain_config


def assert_ema_is_params(state: TrainState, rtol: float = 0.0, atol: float = 0.0) -> None:
  assert state.ema_params is not None
  for e, p in zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(state.params), strict=True):
    np.testing.assert_allclose(np.asarray(e), np.asarray(p, np.float32), rtol=rtol, atol=atol)


def test_with_params_restarts_optimizer_and_ema():
  tx = optax.adam(1e-3)
  params = {"w": jnp.zeros((2,))}
  state = TrainState(step=jnp.int32(3), params=params, opt_state=tx.init(params), model_state={},
                     rng=jax.random.key_data(jax.random.key(0)), ema_params={"w": jnp.full((2,), 5.0)})
  new = state.with_params({"w": jnp.ones((2,))}, tx)
  assert_ema_is_params(new)
  assert int(new.opt_state[0].count) == 0
  assert state.replace(ema_params=None).with_params(params, tx).ema_params is None  # EMA off stays off


def test_finetune_restarts_the_ema_at_the_pretrained_weights(tmp_path):
  csv = str(tmp_path / "rt.csv.bz2")
  write_rt_csv(csv, n_movies=20)
  lm = lm_config(tmp_path, file="lm.py", arg="model=elmo,runlocal,steps=2")
  lm.dataset.path, lm.dataset.seq_len, lm.dataset.min_freq = csv, 8, 1
  lm.model.num_layers = 1
  Trainer(lm, str(tmp_path / "lm")).run()
  clf = lm_config(tmp_path, file="lstm_sentiment.py", arg=f"model=elmo,init_from={tmp_path / 'lm'},runlocal,layers=1")
  clf.dataset.path = csv
  clf.ema_decay = 0.9
  assert_ema_is_params(init_from.InitFromTrainer(clf, str(tmp_path / "clf")).initial_state)


def test_layerwise_pretraining_restarts_the_ema(tmp_path, data_dir):
  c = pretrain_config(data_dir)
  c.ema_decay = 0.9
  c.num_train_steps = 2
  c.optimizer.learning_rate = 1e-12  # the supervised steps leave the pretrained stack (almost) as it is
  t = Trainer(c, str(tmp_path / "run"))
  t.run()
  # Two steps of 1e-12 moved the weights by ~1e-12 (zero-initialized biases too): far below the pretraining's change.
  assert_ema_is_params(t.state, rtol=1e-6, atol=1e-9)
