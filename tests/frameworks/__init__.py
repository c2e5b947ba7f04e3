"""Tests of opcomp kernels in PyTorch, JAX, C and C++; the examples/ scripts run here."""
