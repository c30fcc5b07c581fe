"""Explanations of predictions: Grad-CAM, saliency, first-layer filters, adversarial examples
and fooling images."""
