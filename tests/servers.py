"""Real servers on 127.0.0.1 for the alert tests: how a handler is served and stopped, in one place.

The tests that need a webhook, a chat bot or an SMTP server write only the handler; ``serving``
gives it a free port, runs it on a daemon thread and shuts it down when the test's ``with`` ends.
"""
from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHTTPHandler(BaseHTTPRequestHandler):
    """An HTTP handler that keeps its access log off the test's stderr."""

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(handler: type[socketserver.BaseRequestHandler],
            server_class: type[socketserver.ThreadingTCPServer] = ThreadingHTTPServer) -> Iterator[int]:
    """Serves ``handler`` on a free port of 127.0.0.1 and yields the port.

    Request threads are daemons, so a handler still answering (a trickle, a client that stopped
    reading) cannot keep the test process alive; ``shutdown`` returns once the serve loop is left,
    before the listening socket is closed.
    """
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
