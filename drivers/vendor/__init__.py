"""Vendor-specific frames: Omron HEM BLE packets and the BCM-H10 kiosk module."""
