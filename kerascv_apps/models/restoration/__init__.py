"""Restoration model families (denoising, low-light enhancement), one module each; the model
registry discovers them."""
