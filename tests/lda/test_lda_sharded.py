"""The parallel LDA sampler on a mesh of 8 (fake CPU) devices: one block per device, counts reconciled by psum.

XLA fixes the device count when JAX starts, so the check runs in a fresh interpreter with
XLA_FLAGS=--xla_force_host_platform_device_count=8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import subprocess_env, xla_flags

_SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from scipy.optimize import linear_sum_assignment
    from research.lda import GibbsLDA, synthetic
    from research.lda import sampler as S

    assert jax.device_count() == 8, jax.devices()
    X, topics = synthetic.bars_corpus(num_docs=300, doc_length=100, alpha=1.0, seed=0)
    d, w = S.tokens_from_counts(X)
    layout = S.make_layout(d, w, X.shape[0], X.shape[1], 8, num_chunks=2)
    state = S.init_state(layout, 10, jax.random.PRNGKey(0))
    sweep = S.make_sweep("parallel", layout)
    a, b = jnp.full((10,), 1.0, jnp.float32), jnp.full((25,), 0.01, jnp.float32)
    ok = True
    for i in range(5):
      state = sweep(state, jax.random.PRNGKey(0), np.int32(i), a, b)
      n_dk = layout.gather_docs(np.asarray(state.n_dk))
      n_kw, z = np.asarray(state.n_kw), np.asarray(state.z)
      want_kw = np.zeros_like(n_kw)
      np.add.at(want_kw, (z[layout.mask], layout.words[layout.mask]), 1)
      ok &= bool((n_dk.sum(1) == X.sum(1)).all() and (n_kw.sum(0) == X.sum(0)).all())
      ok &= bool((n_kw == want_kw).all() and (n_kw.sum(1) == np.asarray(state.n_k)).all())
    blocks_used = int((layout.mask.sum(1) > 0).sum())
    sharded = len(state.z.sharding.device_set)
    m = GibbsLDA(10, alpha=1.0, beta=0.01, num_iterations=300, seed=0, log_every=300, num_devices=8).fit(X)
    cost = np.abs(m.components_[:, None] - topics[None]).sum(-1)
    r, c = linear_sum_assignment(cost)
    print(json.dumps({"invariants": ok, "blocks_used": blocks_used, "devices_holding_z": sharded,
                      "max_l1": float(cost[r, c].max())}))
""")


def test_parallel_sampler_on_eight_devices():
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = subprocess_env({"XLA_FLAGS": xla_flags(8)})
  out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, cwd=root, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["invariants"]
  assert result["blocks_used"] == 8 and result["devices_holding_z"] == 8
  # Same threshold and reasoning as the single-device bars test in test_lda.py.
  assert result["max_l1"] < 0.5, result
