"""Device drivers: sans-I/O protocol codecs and thin transports that produce measurements.

This package knows bytes, device protocols and transports. It imports nothing from
clinic_agent, sync or tui.
"""
