"""A folder of images as --input-data for an image model: each file decoded and resized to the model's input.

Pillow is imported here only. The conversion, as the README states it:
- the input's shape (batch dimension excluded; --shape fixes variable sizes) says the layout: [C, H, W] when its
  first dimension is 1 or 3, else [H, W, C] when its last is 1 or 3; [H, W] is one grey channel;
- 1 channel: converted to grey (Pillow's "L"), 3 channels: to RGB; then resized to W x H (bilinear);
- a floating-point input gets the pixels scaled to [0, 1] (value / 255); an integer input gets 0-255 as they are.
No mean/std normalisation: a model that wants it does it itself, or takes a .npy folder prepared beforehand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import ConfigError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def image_files(folder: Path) -> list[Path]:
    """The images of a folder, in name order (the order requests cycle through them)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_array(path: Path, name: str, dims: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """One image as the input `name` of shape `dims` (no batch dimension) and type `dtype` takes it."""
    height, width, channels, channels_first = _layout(path, name, dims)
    try:
        with Image.open(path) as image:
            picture = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(picture, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ConfigError(f"--input-data {path}: unreadable image ({exc})") from None
    pixels = pixels.reshape(height, width, channels)
    if channels_first:
        pixels = pixels.transpose(2, 0, 1)
    pixels = pixels.reshape(dims)
    if np.issubdtype(dtype, np.floating):
        return (pixels.astype(np.float32) / 255.0).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        return pixels.astype(dtype)
    raise ConfigError(
        f"--input-data {path}: input {name!r} takes {dtype}, which an image cannot fill; give a .npy "
        "folder or a JSON file instead"
    )


def _layout(path: Path, name: str, dims: tuple[int, ...]) -> tuple[int, int, int, bool]:
    """(height, width, channels, channels first) of an image input's shape."""
    if any(d < 1 for d in dims):
        raise ConfigError(
            f"--input-data {path}: input {name!r} has variable dimensions {list(dims)}; give its size "
            f"with --shape {name}:{','.join(str(d if d > 0 else 224) for d in dims)}"
        )
    if len(dims) == 2:
        return dims[0], dims[1], 1, False
    if len(dims) == 3 and dims[0] in (1, 3):
        return dims[1], dims[2], dims[0], True
    if len(dims) == 3 and dims[2] in (1, 3):
        return dims[0], dims[1], dims[2], False
    raise ConfigError(
        f"--input-data {path}: input {name!r} takes shape {list(dims)}, not an image ([H, W], [C, H, W] "
        "or [H, W, C] with 1 or 3 channels); give a .npy folder or a JSON file instead"
    )
