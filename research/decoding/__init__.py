"""Decoding: searches over the one step_fn contract (search.py) and the harness that runs them on a model.

    step_fn(tokens: int32[B], cache) -> (log_probs: float32[B, V], cache)

`search` holds greedy, beam, temperature-sampling and exhaustive search (all in one `lax.while_loop` or
`lax.scan`); `decoder` builds a step_fn from a model and runs the searches a config asks for.
"""

from research.decoding.search import (
    LENGTH_PENALTIES,
    NEG_INF,
    StepFn,
    banned_ngram_mask,
    beam_search,
    default_unroll,
    draw_categorical,
    exhaustive_search,
    expand_to_beams,
    filter_logits,
    flatten_beam_dim,
    gather_beams,
    greedy_search,
    length_penalty_factor,
    score_sequences,
    sequence_lengths,
    temperature_sample,
    tuned_for,
    tuned_platform,
    unflatten_beam_dim,
)

__all__ = [
    "LENGTH_PENALTIES", "NEG_INF", "StepFn", "banned_ngram_mask", "beam_search", "default_unroll",
    "draw_categorical", "exhaustive_search", "expand_to_beams", "filter_logits", "flatten_beam_dim",
    "gather_beams", "greedy_search", "length_penalty_factor", "score_sequences", "sequence_lengths",
    "temperature_sample", "tuned_for", "tuned_platform", "unflatten_beam_dim",
]
