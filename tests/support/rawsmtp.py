"""A byte-level SMTP/LMTP client for tests: for what smtplib refuses to send."""

from __future__ import annotations

import socket


class Raw:
    """A byte-level client, for what smtplib refuses to send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One whole (possibly multi-line) reply."""
        while True:
            lines = self.buffer.split(b"\r\n")
            for index, line in enumerate(lines[:-1]):
                if line[3:4] == b" " or len(line) == 3:
                    whole = b"\r\n".join(lines[: index + 1])
                    self.buffer = b"\r\n".join(lines[index + 1 :])
                    return whole
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; buffer {self.buffer!r}")
            self.buffer += chunk

    def command(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.reply()

    def transaction(self, content: bytes) -> bytes:
        """MAIL, RCPT, DATA with raw content (already dot-stuffed, with terminator)."""
        assert self.command(b"MAIL FROM:<a@b.vn>").startswith(b"250")
        assert self.command(b"RCPT TO:<c@d.vn>").startswith(b"250")
        assert self.command(b"DATA").startswith(b"354")
        self.send(content)
        return self.reply()

    def is_closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
