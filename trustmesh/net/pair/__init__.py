"""Pairing a device by a one-time code: /trustmesh/pair/1.0.0 (handler.py)."""
