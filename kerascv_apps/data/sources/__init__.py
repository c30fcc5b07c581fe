"""Dataset sources, one module each; the source registry discovers them on first use."""
