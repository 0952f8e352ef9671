"""The fake chat server itself: it must read a photo however the bytes arrive, or a chart test fails by chance."""

from __future__ import annotations

import json
import socket
import struct
import time
import zlib

from tests.support.fakes import serve_in_thread
from tests.support.fakes.chat import FakeChat


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 40, 20, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + bytes(40) for _ in range(20)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_a_photo_whose_bytes_arrive_in_short_pieces_then_a_long_one_is_read() -> None:
    """CI saw the fake answer 500: aiohttp's multipart reader calls the deprecated `unread_data()` when a part's first
    read after the first is shorter than the boundary and the next one overshoots its 8 KiB chunk, and pytest turns
    warnings into errors. Two short pieces, each after a pause, then more than 8 KiB make that happen every time."""
    fake = FakeChat()
    boundary = "cwboundary0123456789"
    photo = tiny_png() + b"\x00" * 20_000  # bytes after IEND are ignored by a PNG reader, and by the fake
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n42\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="chart.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()  # fmt: skip
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + photo + tail
    with serve_in_thread(fake.app()) as url:
        port = int(url.rsplit(":", 1)[1])
        request = (f"POST /bot{fake.telegram_token}/sendPhoto HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
                   "Connection: close\r\n\r\n").encode()  # fmt: skip
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in (request + head + photo[:4], photo[4:8]):
                sock.sendall(piece)
                time.sleep(0.3)
            sock.sendall(photo[8:] + tail)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    status = answer.split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 200 OK", answer[:400]
    reply = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert reply["ok"] is True
    assert fake.received["telegram_photo"][0]["photo"] == photo
