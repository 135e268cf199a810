"""Clinic Agent: the offline-first edge agent of a village clinic."""

__version__ = "0.1.0"
