"""Flowsite: an open control plane for ML pipelines."""

from .engine import Context, Pipeline, step

# A remote job's runner refuses to run for a control plane of another version (flowsite.remote).
__version__ = "0.1.0"

__all__ = ["Context", "Pipeline", "__version__", "step"]
