"""Inference (see the modules inside)."""
