"""The `vertex` stack: each run becomes one Vertex AI CustomJob that reports back to the control plane."""
