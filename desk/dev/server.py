"""Serve an ASGI app with uvicorn on a free loopback port, in a thread (tests, screenshots)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

__all__ = ["reserve_port", "serve_in_thread"]


def reserve_port(host: str = "127.0.0.1") -> tuple[socket.socket, str]:
    """A listening-ready socket on a free port and its base URL, for settings that must name the URL first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock, f"http://{host}:{sock.getsockname()[1]}"


@contextmanager
def serve_in_thread(
    app: ASGIApp, reserved: tuple[socket.socket, str] | None = None, startup_timeout: float = 15.0
) -> Iterator[str]:
    """Start ``app`` (on ``reserved``, else a free loopback port) and yield its base URL; stop it on exit."""
    sock, base = reserved or reserve_port()
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"desk {base}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the desk did not start at {base}")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
