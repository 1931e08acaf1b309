"""Uploaded pictures (avatars, the team's logo), stored as the PNG bytes the server re-encoded them to.

The version is a hash of the bytes, so a picture's URL (``/api/images/<id>?v=<version>``) changes whenever
the picture does and can be cached for long.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from switchboard.store.documents import Image

__all__ = ["put_image", "get_image", "delete_image", "image_url"]


def image_url(image_id: str, version: str) -> str:
    return f"/api/images/{image_id}?v={version}"


def put_image(image_id: str, png: bytes) -> str:
    """Store (or replace) the picture `image_id`; its URL."""
    version = hashlib.sha256(png).hexdigest()[:16]
    Image.objects(id=image_id).update_one(upsert=True, set__data=png, set__content_type="image/png",
                                          set__version=version, set__updated_at=datetime.now(timezone.utc))
    return image_url(image_id, version)


def get_image(image_id: str) -> Image | None:
    image: Image | None = Image.objects(id=image_id).first()
    return image


def delete_image(image_id: str) -> None:
    Image.objects(id=image_id).delete()
