"""Uploaded pictures are decoded and re-encoded before anything stores or serves them.

A browser trusts what it is served, so nothing uploaded is served as uploaded: the bytes must decode (with
Pillow) as one of a few raster formats, within a byte and a pixel budget (checked from the header, before the
pixels are decoded, so a small file that claims a huge picture costs nothing), and what is stored is a new
PNG of at most :data:`MAX_SIDE` pixels a side, with no metadata. SVG (a document that can carry script) and
every other format are refused: :class:`BadImage` says why, for a 400.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

__all__ = ["BadImage", "reencode", "MAX_IMAGE_BYTES", "MAX_SIDE", "ACCEPTED_FORMATS"]

MAX_IMAGE_BYTES = 2 * 1024 * 1024  # an upload, as sent
MAX_PIXELS = 40_000_000  # width x height the header may claim (a decompression bomb claims far more)
MAX_SIDE = 512  # the stored picture's longer side, at most
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")


class BadImage(ValueError):
    """Not a picture the server takes; the message says why, for the person who uploaded it."""


def reencode(data: bytes, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """`data` (PNG, JPEG, GIF or WebP) as a fresh PNG, shrunk to fit :data:`MAX_SIDE`; BadImage otherwise."""
    if not data:
        raise BadImage("the picture is empty")
    if len(data) > max_bytes:
        raise BadImage(f"the picture is larger than {max_bytes // 1024} KiB")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as picture:
            width, height = picture.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise BadImage(f"the picture is {width}x{height} pixels; at most {MAX_PIXELS:,} pixels are taken")
            picture.seek(0)  # the first frame of an animation
            frame = picture.convert("RGBA")
    except BadImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise BadImage("this is not a PNG, JPEG, GIF or WebP picture (SVG and other formats are not taken)") from None
    frame.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    frame.save(out, format="PNG", optimize=True)
    return out.getvalue()
