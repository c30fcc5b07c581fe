"""Metrics (see the modules inside)."""
