"""The console served by a real uvicorn on 127.0.0.1, port 0, in a thread.

The listening socket is bound before the server starts, so its port is known at
once and early connections wait in the backlog (no polling, no sleeps).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn


class WebServer:
    """``start()`` then ``url``; ``stop()`` ends the server and joins its thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> WebServer:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
