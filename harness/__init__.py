"""Is a GPU necessary? A load-testing harness for PyTorch models served by NVIDIA Triton."""

__version__ = "0.1.0"
