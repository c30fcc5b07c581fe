"""The Python reference of the phone core's input fit (kerascv_apps.inference.letterbox):
geometry, the padded canvas and boxes back to photo pixels."""

import numpy as np
import pytest

from kerascv_apps.inference.letterbox import boxes_to_pixels, fit_geometry, fit_image


def test_letterbox_geometry_and_boxes_back_to_the_photo():
    g = fit_geometry(45, 70, 64, 64, "letterbox")
    assert (g.content_height, g.content_width, g.top, g.left) == (41, 64, 11, 0)
    # the content's corners are the photo's corners; the padding clips to the border
    corners = np.array([[11 / 64, 0.0, 52 / 64, 1.0], [0.0, 0.25, 0.05, 0.5]])
    px = boxes_to_pixels(corners, g)
    assert np.allclose(px[0], [0, 0, 45, 70])
    assert np.allclose(px[1], [0, 17.5, 0, 35])
    s = fit_geometry(45, 70, 64, 64)
    assert np.allclose(boxes_to_pixels([[0.5, 0.5, 1.2, 1.0]], s), [[22.5, 35, 45, 70]])
    with pytest.raises(ValueError, match="fit must be one of"):
        fit_geometry(45, 70, 64, 64, "crop")


def test_letterbox_canvas_is_padded_around_the_resized_photo():
    image = np.full((10, 40, 3), 7.0, np.float32)
    x, g = fit_image(image, 16, 16, "letterbox", pad_value=114)
    assert x.shape == (16, 16, 3) and (g.content_height, g.top) == (4, 6)
    assert np.all(x[:6] == 114) and np.all(x[10:] == 114)
    assert np.allclose(x[6:10], 7.0)
    stretched, _ = fit_image(image, 16, 16)
    assert np.allclose(stretched, 7.0)
