"""Simulated health machines for demos and tests: they speak the real protocols on real transports."""
