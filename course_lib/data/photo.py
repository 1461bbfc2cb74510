"""A real photograph for the filter demos, shipped with matplotlib: no download."""
from __future__ import annotations

import numpy as np

from course_lib._checks import check_bool, check_choice

__all__ = ["sample_photo", "SAMPLE_PHOTOS"]

#: Real images that ship with matplotlib (``matplotlib.cbook.get_sample_data``): a photograph of
#: Grace Hopper (600 x 512 pixels, colour) and an MRI slice of a head (256 x 256, grayscale).
SAMPLE_PHOTOS: tuple[str, ...] = ("grace_hopper.jpg", "s1045.ima.gz")


def sample_photo(name: str = "grace_hopper.jpg", gray: bool = True) -> np.ndarray:
    """A real photograph for the filter demos, no download needed: float64 values in [0, 1].

    Shapes: ``(H, W)`` when ``gray`` (luma ``Y = 0.299 R + 0.587 G + 0.114 B``, ITU-R BT.601),
    else ``(H, W, 3)``. The MRI slice is grayscale already and always ``(H, W)``.

    >>> sample_photo().shape
    (600, 512)
    """
    from matplotlib import cbook
    from matplotlib import image as mpimg

    name = check_choice(name, SAMPLE_PHOTOS, "name", "sample_photo")
    check_bool(gray, "gray", "sample_photo")
    if name.endswith(".ima.gz"):
        with cbook.get_sample_data(name) as fh:  # matplotlib opens .gz files decompressed
            # 16-bit big-endian words that hold 8-bit values
            pixels = np.frombuffer(fh.read(), dtype=">u2").reshape(256, 256)
        return pixels / pixels.max()
    rgb = mpimg.imread(cbook.get_sample_data(name, asfileobj=False)).astype(np.float64)
    if rgb.max() > 1.0:  # 8-bit files come back as 0..255
        rgb /= 255.0
    rgb = rgb[..., :3]
    return rgb @ np.array([0.299, 0.587, 0.114]) if gray else rgb
