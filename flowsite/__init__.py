"""Flowsite: an open control plane for ML pipelines."""

from .engine import Context, Pipeline, step

__all__ = ["Context", "Pipeline", "step"]
