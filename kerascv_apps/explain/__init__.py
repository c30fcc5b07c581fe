"""Explanations of predictions: Grad-CAM, saliency, first-layer filters, adversarial and fooling images."""
