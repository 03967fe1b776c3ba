"""Restricted Boltzmann machines: Bernoulli–Bernoulli and Gaussian–Bernoulli, trained by CD-k or persistent CD.

Everything is functional. Parameters are a dict pytree

  {'w': float32[V, H], 'b_v': float32[V], 'b_h': float32[H]}          (+ 'log_sigma': float32[V] when learned)

so `{'kernel': w, 'bias': b_h}` initializes a Dense layer of the deep MLP directly (see `encoder_layer`).

Energies (σ = 1 unless the config learns log σ):
  Bernoulli visibles:  E(v, h) = -b_v·v - b_h·h - vᵀ W h,           F(v) = -b_v·v - Σ_j softplus(b_h + vW)_j
  Gaussian visibles:   E(v, h) = Σ_i (v_i - b_v_i)² / 2σ_i² - b_h·h - (v/σ)ᵀ W h,
                       F(v) = Σ_i (v_i - b_v_i)² / 2σ_i² - Σ_j softplus(b_h + (v/σ)W)_j
All log-probabilities, free energies and log Z are in nats.

Training (`rbm_train_step`, `train_epoch`, `train_epochs`) carries a `RBMTrainState`: parameters, momentum
buffers and, for PCD, the persistent chains. The chains store *hidden* binary states (like scikit-learn's
`h_samples_`), which saves one matrix product per step compared with storing visibles: the negative phase needs
p(h|v_k) for the gradient anyway, and sampling from it gives the next chain state for free.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from research.errors import UserError
from research.pretraining.epochs import run_epochs, scan_minibatches

Params = dict[str, jax.Array]
KINDS = ("bernoulli", "gaussian")


@dataclasses.dataclass(frozen=True)
class RBMConfig:
  """Shape and kind of one RBM.

  kind: 'bernoulli' (visibles in {0,1} or probabilities in [0,1]) or 'gaussian' (real-valued visibles, σ=1
    unless `learn_sigma`; standardize the data first).
  num_visible, num_hidden: V and H.
  learn_sigma: Gaussian only; learn per-visible log σ (parameter 'log_sigma').
  init_scale: std of the normal initializer of W (0.01 as in Hinton's practical guide and scikit-learn).
  """

  kind: str = "bernoulli"
  num_visible: int = 784
  num_hidden: int = 256
  learn_sigma: bool = False
  init_scale: float = 0.01

  def __post_init__(self):
    if self.kind not in KINDS:
      raise UserError(f"RBM kind {self.kind!r} is unknown; use one of {KINDS}")
    if self.num_visible < 1 or self.num_hidden < 1:
      raise UserError(f"RBM needs num_visible, num_hidden >= 1, got {self.num_visible}, {self.num_hidden}")
    if self.learn_sigma and self.kind != "gaussian":
      raise UserError("learn_sigma=True only applies to kind='gaussian'; drop it for a Bernoulli RBM")


@dataclasses.dataclass(frozen=True)
class CDConfig:
  """How an RBM is trained. Static (part of the jitted step's trace): changing a field recompiles.

  k: Gibbs steps in the negative phase (CD-k / PCD-k).
  persistent: PCD (a.k.a. stochastic maximum likelihood): the negative chains continue across updates.
  num_chains: PCD chains; 0 means one per example of the batch.
  learning_rate: step size on the *mean* per-example gradient.
  momentum: classical momentum on the update (0 = plain SGD).
  weight_decay: L2 coefficient on W only (biases are not decayed), added to the gradient as -wd·W.
  sample_visible: sample binary visibles in the chain (scikit-learn does); False uses p(v|h) (mean field),
    which has lower variance. Gaussian visibles are always sampled when True, means otherwise.
  track_reconstruction: also report the one-step reconstruction error. Free for CD (the chain starts at the
    data); costs two extra matrix products per step for PCD.
  """

  k: int = 1
  persistent: bool = False
  num_chains: int = 0
  learning_rate: float = 0.1
  momentum: float = 0.0
  weight_decay: float = 0.0
  sample_visible: bool = True
  track_reconstruction: bool = True

  def __post_init__(self):
    if self.k < 1:
      raise UserError(f"CD needs k >= 1 Gibbs steps, got k={self.k}")
    if not 0.0 <= self.momentum < 1.0:
      raise UserError(f"momentum must be in [0, 1), got {self.momentum}")
    if self.learning_rate <= 0:
      raise UserError(f"learning_rate must be positive, got {self.learning_rate}")


@flax.struct.dataclass
class RBMTrainState:
  """step: int32[]; params/velocity: Params; chains: float32[C, H] binary hiddens for PCD, else None."""

  step: jax.Array
  params: Params
  velocity: Params
  chains: jax.Array | None
  config: RBMConfig = flax.struct.field(pytree_node=False)
  cd: CDConfig = flax.struct.field(pytree_node=False)


# ----------------------------------------------------------------------------------------------------- model


def init_params(config: RBMConfig, key: jax.Array, visible_mean: jax.Array | None = None) -> Params:
  """W ~ N(0, init_scale²); hidden biases 0; visible biases 0, or from data when `visible_mean` is given.

  visible_mean: float32[V], the data mean. Bernoulli: b_v = logit(clip(mean)) (Hinton's guide, §8.1) so the
  model starts at the right marginals. Gaussian: b_v = mean.
  """
  w = config.init_scale * jax.random.normal(key, (config.num_visible, config.num_hidden), jnp.float32)
  b_v = jnp.zeros((config.num_visible,), jnp.float32)
  if visible_mean is not None:
    m = jnp.asarray(visible_mean, jnp.float32)
    b_v = m if config.kind == "gaussian" else base_rate_biases(m[None, :])
  params = {"w": w, "b_v": b_v, "b_h": jnp.zeros((config.num_hidden,), jnp.float32)}
  if config.learn_sigma:
    params["log_sigma"] = jnp.zeros((config.num_visible,), jnp.float32)
  return params


def _sigma(params: Params) -> jax.Array | None:
  return jnp.exp(params["log_sigma"]) if "log_sigma" in params else None


def _scaled(params: Params, v: jax.Array) -> jax.Array:
  """v/σ for Gaussian visibles with learned σ, else v."""
  sigma = _sigma(params)
  return v if sigma is None else v / sigma


def hidden_logits(params: Params, v: jax.Array) -> jax.Array:
  """b_h + (v/σ)W: float32[B, H] for v: float32[B, V]."""
  return _scaled(params, v) @ params["w"] + params["b_h"]


def transform(params: Params, v: jax.Array) -> jax.Array:
  """p(h=1|v): float32[B, H] — the 'h1' values the next layer of a greedy stack trains on."""
  return jax.nn.sigmoid(hidden_logits(params, v))


def encoder_layer(params: Params) -> dict[str, jax.Array]:
  """{'kernel': [V, H], 'bias': [H]} for a Dense layer computing the same pre-activation as `transform`."""
  w = params["w"]
  sigma = _sigma(params)
  if sigma is not None:
    w = w / sigma[:, None]  # folds the 1/σ input scaling into the kernel
  return {"kernel": w, "bias": params["b_h"]}


def visible_mean(config: RBMConfig, params: Params, h: jax.Array) -> jax.Array:
  """E[v|h]: float32[B, V]. Bernoulli: sigmoid(b_v + W h); Gaussian: b_v + σ W h."""
  pre = h @ params["w"].T
  if config.kind == "bernoulli":
    return jax.nn.sigmoid(pre + params["b_v"])
  sigma = _sigma(params)
  return params["b_v"] + (pre if sigma is None else sigma * pre)


def free_energy(config: RBMConfig, params: Params, v: jax.Array) -> jax.Array:
  """F(v) = -log Σ_h exp(-E(v, h)): float32[B] for v: float32[B, V] (nats)."""
  hidden_term = jnp.sum(jax.nn.softplus(hidden_logits(params, v)), axis=-1)
  if config.kind == "bernoulli":
    return -(v @ params["b_v"]) - hidden_term
  sigma = _sigma(params)
  sq = jnp.square(v - params["b_v"])
  visible_term = 0.5 * jnp.sum(sq if sigma is None else sq / jnp.square(sigma), axis=-1)
  return visible_term - hidden_term


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x: jax.Array, r: int) -> jax.Array:
  return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _threefry2x32(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Threefry-2x32 with 20 rounds (Salmon et al., 2011), written as plain elementwise ops.

  jax's own CPU lowering runs the rounds as a rolled `fori_loop`, a separate loop of kernels per call; this
  unrolled form lets XLA fuse the whole cipher with the comparison that consumes it, so drawing the
  uniforms of a minibatch costs arithmetic only. The output is bit-identical to jax's threefry (tested).
  """
  ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
  x0, x1 = x0 + ks[0], x1 + ks[1]
  for i in range(5):
    for r in _THREEFRY_ROTATIONS[i % 2]:
      x0 = x0 + x1
      x1 = _rotl(x1, r) ^ x0
    x0 = x0 + ks[(i + 1) % 3]
    x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
  return x0, x1


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """float32 uniforms in [0, 1), bit-identical to `jax.random.uniform(key, shape)` for threefry keys (the
  default, with jax_threefry_partitionable), but fusable with their consumer; other key kinds go to
  jax.random."""
  if jax.random.key_impl(key) != "threefry2x32" or math.prod(shape) >= 2**32 or not jax.config.jax_threefry_partitionable:
    return jax.random.uniform(key, shape, jnp.float32)
  k = jax.random.key_data(key)
  count = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
  b0, b1 = _threefry2x32(k[0], k[1], jnp.zeros_like(count), count)
  bits = b0 ^ b1
  # 23 random mantissa bits under the exponent of 1.0 give a float in [1, 2), as jax.random.uniform does
  one_to_two = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32)
  return jnp.maximum(one_to_two - 1.0, 0.0)


def _bernoulli(key: jax.Array, p: jax.Array) -> jax.Array:
  # One uniform draw compared to the probability, as jax.random.bernoulli does, but fused with the cipher
  # and with the sigmoid that produced p.
  return (uniform(key, p.shape) < p).astype(p.dtype)


def sample_h_given_v(params: Params, v: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Returns (h sample in {0,1}, p(h=1|v)), both float32[B, H]."""
  p = transform(params, v)
  return _bernoulli(key, p), p


def sample_v_given_h(config: RBMConfig, params: Params, h: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Returns (v sample, E[v|h]), both float32[B, V]; Bernoulli samples are in {0,1}, Gaussian ones real."""
  mean = visible_mean(config, params, h)
  if config.kind == "bernoulli":
    return _bernoulli(key, mean), mean
  sigma = _sigma(params)
  noise = jax.random.normal(key, mean.shape, mean.dtype)
  return mean + (noise if sigma is None else sigma * noise), mean


def gibbs_step(config: RBMConfig, params: Params, v: jax.Array, key: jax.Array) -> jax.Array:
  """One full Gibbs sweep v → h → v': float32[B, V]."""
  kh, kv = jax.random.split(key)
  h, _ = sample_h_given_v(params, v, kh)
  v_new, _ = sample_v_given_h(config, params, h, kv)
  return v_new


@functools.partial(jax.jit, static_argnames=("config", "num_steps"))
def sample_chain(config: RBMConfig, params: Params, v_init: jax.Array, key: jax.Array,
                 num_steps: int) -> tuple[jax.Array, jax.Array]:
  """`num_steps` Gibbs sweeps from v_init: float32[C, V] in one `lax.scan`.

  Returns (final visible sample, E[v|h] of the last sweep), both [C, V]; the mean is the usual picture of a
  model sample (e.g. for a grid of generated digits).
  """
  def body(v, k):
    kh, kv = jax.random.split(k)
    h, _ = sample_h_given_v(params, v, kh)
    v, mean = sample_v_given_h(config, params, h, kv)
    return v, mean

  v, means = jax.lax.scan(body, v_init, jax.random.split(key, num_steps))
  return v, means[-1]


# ---------------------------------------------------------------------------------------------------- training


def init_train_state(config: RBMConfig, cd: CDConfig, key: jax.Array, batch_size: int,
                     visible_mean: jax.Array | None = None, params: Params | None = None) -> RBMTrainState:
  """A fresh state. PCD chains start at h = 0 (as scikit-learn's `h_samples_`); `batch_size` sizes them when
  `cd.num_chains` is 0."""
  if params is None:
    params = init_params(config, key, visible_mean)
  chains = None
  if cd.persistent:
    chains = jnp.zeros((cd.num_chains or batch_size, config.num_hidden), jnp.float32)
  return RBMTrainState(step=jnp.zeros((), jnp.int32), params=params,
                       velocity=jax.tree.map(jnp.zeros_like, params), chains=chains, config=config, cd=cd)


def _negative_phase(config: RBMConfig, cd: CDConfig, params: Params, h: jax.Array,
                    key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """k Gibbs steps from binary hiddens h: float32[C, H].

  Returns (v_k: [C, V], p(h|v_k): [C, H], next hidden sample: [C, H], E[v|h_0]: [C, V] — the reconstruction).
  """
  keys = jax.random.split(key, 2 * cd.k)
  recon = None
  hp = None
  for i in range(cd.k):  # k is small and static; unrolling lets XLA fuse each sampling with its matmul
    mean = visible_mean(config, params, h)
    if i == 0:
      recon = mean
    if not cd.sample_visible:
      v = mean
    elif config.kind == "bernoulli":
      v = _bernoulli(keys[2 * i], mean)
    else:
      sigma = _sigma(params)
      noise = jax.random.normal(keys[2 * i], mean.shape, mean.dtype)
      v = mean + (noise if sigma is None else sigma * noise)
    hp = transform(params, v)
    h = _bernoulli(keys[2 * i + 1], hp)
  return v, hp, h, recon


def cd_gradient(config: RBMConfig, params: Params, v_pos: jax.Array, h_pos: jax.Array, v_neg: jax.Array,
                h_neg: jax.Array) -> Params:
  """The CD estimate of ∂ mean log p(v)/∂θ from positive (data) and negative (chain) statistics.

  v_pos: [B, V], h_pos = p(h|v_pos): [B, H]; v_neg: [C, V], h_neg = p(h|v_neg): [C, H]. Ascent direction.
  """
  b, c = v_pos.shape[0], v_neg.shape[0]
  sigma = _sigma(params)
  if sigma is not None:
    # σ enters every term; differentiate the free-energy difference rather than hand-deriving each piece.
    def objective(p):
      return (jnp.mean(free_energy(config, p, jax.lax.stop_gradient(v_neg)))
              - jnp.mean(free_energy(config, p, v_pos)))
    return jax.grad(objective)(params)
  # One [V, B+C] x [B+C, H] product for both phases instead of two: a single larger GEMM is measurably
  # faster for the small minibatches RBMs are trained with.
  vs = jnp.concatenate([v_pos, v_neg], axis=0)
  hs = jnp.concatenate([h_pos / b, -h_neg / c], axis=0)
  grad_w = vs.T @ hs
  # Bernoulli: ∂(-F)/∂b_v = v; Gaussian with σ = 1: v - b_v, whose b_v cancels between the phases.
  grad_bv = jnp.mean(v_pos, 0) - jnp.mean(v_neg, 0)
  grad_bh = jnp.mean(h_pos, 0) - jnp.mean(h_neg, 0)
  return {"w": grad_w, "b_v": grad_bv, "b_h": grad_bh}


def contrastive_divergence(config: RBMConfig, cd: CDConfig, params: Params, batch: jax.Array, key: jax.Array,
                           chains: jax.Array | None = None) -> tuple[Params, jax.Array, jax.Array, jax.Array]:
  """The CD-k (chains None) or PCD-k (chains: float32[C, H] binary hiddens) gradient estimate, no update.

  batch: float32[B, V]. Returns (ascent direction on mean log p(v) (no weight decay), next chains [C, H],
  E[v|h] of the first Gibbs step ([B, V], the reconstruction for CD; for PCD it comes from the chains),
  hidden logits of the batch [B, H]).
  """
  k_pos, k_neg = jax.random.split(key)
  pos_logits = hidden_logits(params, batch)
  h_pos = jax.nn.sigmoid(pos_logits)
  h_start = _bernoulli(k_pos, h_pos) if chains is None else chains
  v_neg, h_neg, h_next, recon = _negative_phase(config, cd, params, h_start, k_neg)
  return cd_gradient(config, params, batch, h_pos, v_neg, h_neg), h_next, recon, pos_logits


def _train_step(state: RBMTrainState, batch: jax.Array, key: jax.Array) -> tuple[RBMTrainState, dict[str, jax.Array]]:
  config, cd, params = state.config, state.cd, state.params
  k_cd, k_rec = jax.random.split(key)
  grads, h_next, recon, pos_logits = contrastive_divergence(config, cd, params, batch, k_cd,
                                                            state.chains if cd.persistent else None)
  if cd.weight_decay:
    grads = dict(grads, w=grads["w"] - cd.weight_decay * params["w"])
  if cd.momentum:
    velocity = jax.tree.map(lambda m, g: cd.momentum * m + cd.learning_rate * g, state.velocity, grads)
  else:
    velocity = jax.tree.map(lambda g: cd.learning_rate * g, grads)
  new_params = jax.tree.map(jnp.add, params, velocity)

  metrics = {"count": jnp.asarray(batch.shape[0], jnp.float32)}
  if cd.track_reconstruction:
    if cd.persistent:  # the chain does not start at the data, so reconstruct separately
      recon = visible_mean(config, params, _bernoulli(k_rec, jax.nn.sigmoid(pos_logits)))
    metrics["recon_error_sum"] = jnp.sum(jnp.square(batch - recon))
  # The free energy of the batch reuses the positive-phase logits: no extra matrix product.
  if config.kind == "bernoulli" and "log_sigma" not in params:
    fe = -(batch @ params["b_v"]) - jnp.sum(jax.nn.softplus(pos_logits), -1)
    metrics["free_energy_sum"] = jnp.sum(fe)
  new_state = state.replace(step=state.step + 1, params=new_params,
                            velocity=velocity if cd.momentum else state.velocity,
                            chains=h_next if cd.persistent else None)
  return new_state, metrics


@functools.partial(jax.jit, donate_argnums=0)
def rbm_train_step(state: RBMTrainState, batch: jax.Array,
                   key: jax.Array) -> tuple[RBMTrainState, dict[str, jax.Array]]:
  """One CD-k / PCD-k update: (state, batch: float32[B, V], key) -> (state, metrics). The state is donated.

  metrics are sums plus 'count' (examples): 'recon_error_sum' (Σ over examples and visibles of the squared
  error of E[v|h], h ~ p(h|v)), 'free_energy_sum' (Bernoulli, σ fixed).
  """
  return _train_step(state, batch, key)


@functools.partial(jax.jit, static_argnames=("batch_size", "shuffle"), donate_argnums=0)
def train_epoch(state: RBMTrainState, data: jax.Array, key: jax.Array, *, batch_size: int,
                shuffle: bool = True) -> tuple[RBMTrainState, dict[str, jax.Array]]:
  """One pass of `rbm_train_step` over `data: float32[N, V]` inside one jitted `lax.scan`
  (see `scan_minibatches`). The state is donated; returns (state, summed metrics)."""
  return scan_minibatches(_train_step, state, data, key, batch_size=batch_size, shuffle=shuffle)


def train_epochs(state: RBMTrainState, data: jax.Array, key: jax.Array, *, num_epochs: int, batch_size: int,
                 shuffle: bool = True,
                 on_epoch_end: Callable[[int, RBMTrainState, dict[str, float]], None] | None = None,
                 ) -> tuple[RBMTrainState, list[dict[str, float]]]:
  """`num_epochs` calls of `train_epoch`; epoch e uses fold_in(key, e) so a resumed run repeats exactly.

  Returns the final state and, per epoch, the metric means {'recon_error': per example, 'free_energy': ...}.
  `on_epoch_end(epoch, state, means)` is the place to log or checkpoint.
  """
  return run_epochs(train_epoch, state, data, key, num_epochs=num_epochs, batch_size=batch_size, shuffle=shuffle,
                    on_epoch_end=on_epoch_end, what="RBM")


# ----------------------------------------------------------------------------------------------------- metrics


def reconstruction_error(config: RBMConfig, params: Params, v: jax.Array, key: jax.Array) -> jax.Array:
  """Per-example Σ_i (v_i - E[v_i|h])², h ~ p(h|v): float32[B]."""
  h, _ = sample_h_given_v(params, v, key)
  return jnp.sum(jnp.square(v - visible_mean(config, params, h)), axis=-1)


def pseudo_likelihood(config: RBMConfig, params: Params, v: jax.Array, flip_index: jax.Array) -> jax.Array:
  """scikit-learn's `BernoulliRBM.score_samples`: V · log σ(F(ṽ) - F(v)), ṽ = v with v[b, flip_index[b]] → 1 - v.

  v: float32[B, V]; flip_index: int32[B], the one visible corrupted per example. Returns float32[B] (nats);
  it is a stochastic estimate of the log pseudo-likelihood. Bernoulli only.
  """
  if config.kind != "bernoulli":
    raise UserError("pseudo-likelihood is defined here for Bernoulli visibles only; use kind='bernoulli'")
  rows = jnp.arange(v.shape[0])
  v_flip = v.at[rows, flip_index].set(1.0 - v[rows, flip_index])
  delta = free_energy(config, params, v_flip) - free_energy(config, params, v)
  return v.shape[1] * jax.nn.log_sigmoid(delta)


def random_flip_index(key: jax.Array, num_examples: int, num_visible: int) -> jax.Array:
  """int32[N] uniform over visibles: the corruption `pseudo_likelihood` needs."""
  return jax.random.randint(key, (num_examples,), 0, num_visible)


def free_energy_gap(config: RBMConfig, params: Params, train: jax.Array, held_out: jax.Array) -> jax.Array:
  """mean F(held_out) - mean F(train) (nats). Grows as the model overfits (Hinton's guide §6); compare
  subsets of the same size drawn the same way."""
  return jnp.mean(free_energy(config, params, held_out)) - jnp.mean(free_energy(config, params, train))


def base_rate_biases(data: jax.Array, eps: float = 1e-3) -> jax.Array:
  """Visible biases of the base-rate model: logit of the (clipped) mean of data: float32[N, V] → [V]."""
  p = jnp.clip(jnp.mean(jnp.asarray(data, jnp.float32), axis=0), eps, 1 - eps)
  return jnp.log(p) - jnp.log1p(-p)


def _all_binary(n: int) -> jax.Array:
  """float32[2**n, n]: every binary vector of length n."""
  return ((jnp.arange(2**n)[:, None] >> jnp.arange(n)[None, :]) & 1).astype(jnp.float32)


MAX_ENUMERATED_UNITS = 20


def exact_log_partition(config: RBMConfig, params: Params) -> jax.Array:
  """log Z by summing over every state of the smaller layer (nats); differentiable.

  Bernoulli: log Z = logsumexp_h [b_h·h + Σ_i softplus(b_v_i + W_i·h)] (or the same over v).
  Gaussian: each visible integrates in closed form:
    log Z = logsumexp_h [b_h·h + Σ_i (b_v_i c_i/σ_i + c_i²/2)] + Σ_i log(√(2π) σ_i),  c = W h.
  """
  v_units, h_units = config.num_visible, config.num_hidden
  w, b_v, b_h = params["w"], params["b_v"], params["b_h"]
  if config.kind == "gaussian":
    if h_units > MAX_ENUMERATED_UNITS:
      raise UserError(f"exact log Z enumerates 2^{h_units} hidden states; use num_hidden <= {MAX_ENUMERATED_UNITS}")
    sigma = _sigma(params)
    sigma = jnp.ones_like(b_v) if sigma is None else sigma
    h = _all_binary(h_units)
    c = h @ w.T
    terms = h @ b_h + jnp.sum(b_v * c / sigma + 0.5 * jnp.square(c), axis=-1)
    return jax.nn.logsumexp(terms) + jnp.sum(jnp.log(math.sqrt(2 * math.pi) * sigma))
  if min(v_units, h_units) > MAX_ENUMERATED_UNITS:
    raise UserError(f"exact log Z needs a layer with <= {MAX_ENUMERATED_UNITS} units; use AIS (ais_log_partition)")
  if h_units <= v_units:
    h = _all_binary(h_units)
    terms = h @ b_h + jnp.sum(jax.nn.softplus(h @ w.T + b_v), axis=-1)
  else:
    v = _all_binary(v_units)
    terms = v @ b_v + jnp.sum(jax.nn.softplus(v @ w + b_h), axis=-1)
  return jax.nn.logsumexp(terms)


def exact_log_likelihood(config: RBMConfig, params: Params, v: jax.Array) -> jax.Array:
  """mean_b log p(v_b) = -mean F(v) - log Z (nats per example), exact; for small RBMs and tests."""
  return -jnp.mean(free_energy(config, params, v)) - exact_log_partition(config, params)


def ais_betas(num_intermediate: int = 14_500) -> jax.Array:
  """Salakhutdinov & Murray's (2008) schedule shape: spacing 1/3 of the steps on [0, 0.5], 1/3 on [0.5, 0.9],
  1/3 on [0.9, 1] (denser near 1, where the distributions change fastest). float32[num_intermediate + 1]."""
  n = max(num_intermediate // 3, 1)
  parts = [np.linspace(0.0, 0.5, n, endpoint=False), np.linspace(0.5, 0.9, n, endpoint=False),
           np.linspace(0.9, 1.0, num_intermediate - 2 * n + 1)]
  return jnp.asarray(np.concatenate(parts), jnp.float32)


@functools.partial(jax.jit, static_argnames=("config", "num_chains"))
def ais_log_partition(config: RBMConfig, params: Params, base_biases: jax.Array, key: jax.Array,
                      betas: jax.Array, num_chains: int = 100) -> tuple[jax.Array, jax.Array]:
  """Annealed importance sampling estimate of log Z for a Bernoulli RBM (Salakhutdinov & Murray, 2008).

  Base model A: W = 0, visible biases `base_biases` ([V], e.g. `base_rate_biases(train_data)`), hidden biases
  0, so log Z_A = Σ_i softplus(b_A_i) + H log 2 and v ~ p_A is exact. Intermediate k has
    log p*_k(v) = (1 - β_k) b_A·v + β_k b_v·v + Σ_j softplus(β_k (b_h + vW)_j)
  and is moved by one Gibbs sweep that leaves it invariant. betas: float32[K + 1], 0 → 1.

  Returns (log Z estimate, standard error of the importance weights' mean in log space (delta method)), nats.
  """
  if config.kind != "bernoulli":
    raise UserError("AIS is implemented for Bernoulli RBMs; for Gaussian visibles use exact_log_partition")
  w, b_v, b_h = params["w"], params["b_v"], params["b_h"]
  h_units = config.num_hidden
  log_z_a = jnp.sum(jax.nn.softplus(base_biases)) + h_units * math.log(2.0)

  def log_p_star(v, beta):
    return (1 - beta) * (v @ base_biases) + beta * (v @ b_v) + jnp.sum(jax.nn.softplus(beta * (v @ w + b_h)), -1)

  k0, k_run = jax.random.split(key)
  v = _bernoulli(k0, jnp.broadcast_to(jax.nn.sigmoid(base_biases), (num_chains, config.num_visible)))

  def body(carry, xs):
    v, log_w = carry
    beta_prev, beta, k = xs
    log_w = log_w + log_p_star(v, beta) - log_p_star(v, beta_prev)
    kh, kv = jax.random.split(k)
    h = _bernoulli(kh, jax.nn.sigmoid(beta * (v @ w + b_h)))
    v = _bernoulli(kv, jax.nn.sigmoid((1 - beta) * base_biases + beta * (h @ w.T + b_v)))
    return (v, log_w), None

  keys = jax.random.split(k_run, betas.shape[0] - 1)
  (_, log_w), _ = jax.lax.scan(body, (v, jnp.zeros((num_chains,), jnp.float32)), (betas[:-1], betas[1:], keys))
  log_mean_w = jax.nn.logsumexp(log_w) - math.log(num_chains)
  # std error of log(mean w) ≈ std(w) / (mean(w) √M), computed with weights normalized by their max
  w_norm = jnp.exp(log_w - jnp.max(log_w))
  rel_se = jnp.std(w_norm) / (jnp.mean(w_norm) * math.sqrt(num_chains))
  return log_z_a + log_mean_w, rel_se


def ais_log_likelihood(config: RBMConfig, params: Params, v: jax.Array, base_biases: jax.Array, key: jax.Array,
                       num_intermediate: int = 14_500, num_chains: int = 100) -> tuple[jax.Array, jax.Array]:
  """(mean log p(v) estimated with AIS log Z, log Z estimate), nats per example. v: float32[B, V]."""
  log_z, _ = ais_log_partition(config, params, base_biases, key, ais_betas(num_intermediate), num_chains)
  return -jnp.mean(free_energy(config, params, v)) - log_z, log_z
