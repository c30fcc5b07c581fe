"""Classification model families, one module each; the model registry discovers them."""
