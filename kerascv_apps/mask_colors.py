"""Class-id masks as colours: the fixed palette, coloured masks and the overlay the phone app
reproduces. Plain numpy, below the tasks and the exporter that both draw masks."""

import numpy as np


def palette(num_classes):
    """A fixed (num_classes, 3) uint8 colour table (PASCAL VOC's bit-interleaved scheme;
    class 0 is black)."""
    colors = np.zeros((max(num_classes, 1), 3), np.uint8)
    for c in range(num_classes):
        label, r, g, b = c, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((label >> 0) & 1) << shift
            g |= ((label >> 1) & 1) << shift
            b |= ((label >> 2) & 1) << shift
            label >>= 3
        colors[c] = (r, g, b)
    return colors


def colorize(mask, num_classes, ignore_color=(255, 255, 255)):
    """(H, W) int mask -> (H, W, 3) uint8 colours; ignored/unknown ids are ``ignore_color``."""
    mask = np.asarray(mask)
    colors = palette(num_classes)
    out = np.empty(mask.shape + (3,), np.uint8)
    out[...] = ignore_color
    known = (mask >= 0) & (mask < num_classes)
    out[known] = colors[mask[known]]
    return out


def overlay(image, mask, num_classes, alpha=0.5):
    """The image with every class but 0 (background in every bundled dataset) blended with its
    palette colour: ``uint8(image * (1 - alpha) + colour * alpha)`` (the phone app's overlay
    reproduces this exactly)."""
    image = np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)
    blend = np.where((np.asarray(mask) != 0)[..., None], alpha, 0.0)
    return (image * (1 - blend) + colorize(mask, num_classes) * blend).astype(np.uint8)
