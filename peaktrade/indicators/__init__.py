"""Technical indicators: numba kernels in ``nb.py``, pandas wrappers in ``api.py``."""
