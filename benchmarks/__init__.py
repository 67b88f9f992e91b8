"""turbo's benchmark suite: turbo beside NumPy, Numba and PyTorch in one process."""
