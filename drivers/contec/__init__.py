"""Contec pulse oximeters (CMS50 family) over their USB-serial cable."""
