"""Generative and representation models (autoencoder, VAE, DCGAN), one module per family;
the model registry discovers them."""
