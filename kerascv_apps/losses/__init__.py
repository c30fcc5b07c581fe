"""Losses (see the modules inside)."""
