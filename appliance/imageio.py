"""Reading image files for the CLIs and simulators: one place, one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.errors import InvalidInput


def read_image(
    path: str | Path, mode: str = "RGB", size: tuple[int, int] | None = None
) -> np.ndarray:
    """An image as a numpy array in PIL ``mode`` ("RGB" or "L"), resized to ``size`` (w, h).

    Raises :class:`InvalidInput` naming the file when it is missing, a folder or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            return np.asarray(img.resize(size) if size else img)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"is a directory, not an image: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"cannot read image {path}: {exc}") from None
