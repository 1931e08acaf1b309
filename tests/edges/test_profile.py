"""One's profile over REST: the email moves only by the link mailed to the new address; avatars are re-encoded
PNGs served with safe headers; anything else uploaded is refused."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from switchboard.store.documents import Image as StoredImage, User
from tests.edges.conftest import api_error as error
from tests.edges.test_accounts import ADMIN_EMAIL, ADMIN_ID, ADMIN_PASSWORD, Desk, desk

__all__ = ["desk"]  # the fixture, imported


def picture(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def huge_claim_png() -> bytes:
    """A tiny PNG whose header claims 100000 x 100000 pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def test_an_email_change_mails_the_new_address_and_its_link_moves_the_email(desk: Desk) -> None:
    admin = desk.login()
    error(desk.call("POST", "/api/me/email", admin, {"email": "new@example.com", "password": "wrong-password"}),
          401, "bad_credentials")
    assert desk.call("POST", "/api/me/email", admin, {"email": "New@Example.com", "password": ADMIN_PASSWORD}
                     ).status_code == 202
    assert desk.mails_to(ADMIN_EMAIL) == []
    _, token = desk.link("new@example.com")
    assert desk.call("GET", "/api/me", admin).json()["email"] == ADMIN_EMAIL  # not yet
    info = desk.call("POST", "/api/account/token", body={"token": token}).json()
    assert info == {"purpose": "email", "email": "new@example.com", "nickname": "Boss"}
    assert desk.call("POST", "/api/account/email", body={"token": token}).status_code == 204
    assert desk.call("GET", "/api/me", admin).json()["email"] == "new@example.com"
    desk.login("new@example.com", ADMIN_PASSWORD)
    error(desk.call("POST", "/api/account/email", body={"token": token}), 400, "link_invalid")


def test_an_email_change_to_a_taken_address_is_a_conflict_then_or_when_confirmed(desk: Desk) -> None:
    admin = desk.login()
    desk.user(admin, "ann@example.com", password="ann-password")
    error(desk.call("POST", "/api/me/email", admin, {"email": "ann@example.com", "password": ADMIN_PASSWORD}),
          409, "conflict")
    desk.call("POST", "/api/me/email", admin, {"email": "bob@example.com", "password": ADMIN_PASSWORD})
    _, token = desk.link("bob@example.com")
    desk.user(admin, "bob@example.com")  # taken meanwhile
    error(desk.call("POST", "/api/account/email", body={"token": token}), 409, "conflict")
    assert User.objects.get(id=ADMIN_ID).email == ADMIN_EMAIL


def test_a_png_or_jpeg_avatar_is_stored_re_encoded_and_served_as_png_with_safe_headers(desk: Desk) -> None:
    admin = desk.login()
    for fmt, kind in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        answer = desk.call("PUT", "/api/me/avatar", admin, content=picture(fmt, (1024, 768)),
                           headers={"Content-Type": kind})
        assert answer.status_code == 200, answer.text
        url = answer.json()["avatar_url"]
        assert url.startswith(f"/api/images/avatar-{ADMIN_ID}?v=")
        assert desk.call("GET", "/api/me", admin).json()["avatar_url"] == url
        served = desk.call("GET", url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        with Image.open(io.BytesIO(served.content)) as shown:
            assert shown.format == "PNG" and max(shown.size) == 512
    assert desk.call("DELETE", "/api/me/avatar", admin).status_code == 204
    assert desk.call("GET", "/api/me", admin).json()["avatar_url"] == ""
    error(desk.call("GET", f"/api/images/avatar-{ADMIN_ID}"), 404, "not_found")
    assert desk.call("GET", "/api/images/..%2Fsecret").status_code == 404
    error(desk.call("GET", "/api/images/AVATAR;drop"), 404, "not_found")


def test_svg_a_huge_pixel_claim_and_more_than_2_mib_are_refused(desk: Desk) -> None:
    admin = desk.login()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for content, kind in ((svg, "image/svg+xml"), (huge_claim_png(), "image/png"), (b"", "image/png"),
                          (b"GIF89a not really", "image/gif")):
        error(desk.call("PUT", "/api/me/avatar", admin, content=content, headers={"Content-Type": kind}),
              400, "invalid_argument")
    too_big = picture("PNG") + b"\0" * (2 * 1024 * 1024)
    assert "2 MiB" in error(desk.call("PUT", "/api/me/avatar", admin, content=too_big,
                                      headers={"Content-Type": "image/png"}), 413, "payload_too_large")
    assert StoredImage.objects.count() == 0
    error(desk.call("PUT", "/api/me/avatar", content=picture("PNG")), 401, "token_missing")
