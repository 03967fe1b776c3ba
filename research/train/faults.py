"""Fault injection for the reliability tests: `RESEARCH_FAULT=<point>:<step>` makes the process
SIGKILL itself at that point, so "killed mid-save" or "killed during evaluation" is reproducible.

Points: `step` (right after step N is dispatched, before it finishes), `save` (while the step-N
checkpoint is being written), `eval` (inside the evaluation at step N). Unset in normal runs.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("RESEARCH_FAULT", "")
_POINT, _, _STEP = _SPEC.partition(":")


def maybe_kill(point: str, step: int) -> None:
  if _SPEC and point == _POINT and str(step) == _STEP:
    os.kill(os.getpid(), signal.SIGKILL)
