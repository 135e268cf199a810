"""Sync with the regional platform: FHIR R4 mapping, HTTP client, push, pull and conflicts.

Imports the core of clinic_agent (model, errors) only; never drivers, tui or the daemon.
"""
