"""Model registry entries: importing this package registers every built-in model."""

from research.models import mlp  # noqa: F401
