"""Uploaded pictures (avatars, the team's logo), stored as the PNG bytes the server re-encoded them to.

The version is a hash of the bytes, so a picture's URL (``/api/images/<id>?v=<version>``) changes whenever
the picture does and can be cached for long.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError

from switchboard.store.documents import Image

__all__ = ["put_image", "get_image", "delete_image", "image_url"]


def image_url(image_id: str, version: str) -> str:
    return f"/api/images/{image_id}?v={version}"


def put_image(image_id: str, png: bytes) -> str:
    """Store (or replace) the picture `image_id`; its URL."""
    version = hashlib.sha256(png).hexdigest()[:16]
    # Replaced by delete and insert: nx-27017 cannot update a binary field at all (its update path serialises
    # the document as JSON), nor upsert by replace_one; inserting keeps every type. A reader between the two
    # finds no picture for a moment (404), and of two racing uploads the later insert wins.
    collection = Image._get_collection()
    document = {"_id": image_id, "data": png, "content_type": "image/png", "version": version,
                "updated_at": datetime.now(timezone.utc)}
    for _ in range(3):
        collection.delete_one({"_id": image_id})
        try:
            collection.insert_one(document)
            break
        except DuplicateKeyError:  # another upload inserted between our delete and insert: replace it again
            continue
    return image_url(image_id, version)


def get_image(image_id: str) -> Image | None:
    image: Image | None = Image.objects(id=image_id).first()
    return image


def delete_image(image_id: str) -> None:
    Image.objects(id=image_id).delete()
