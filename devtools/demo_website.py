"""A customer's web page for the local stack: the demo of `widget.js`, served from an origin of its own.

`python3 dev.py start` serves it on another loopback port than the app's, lists that origin in
`PUBLIC_ALLOWED_ORIGINS` and prints its URL, so the page reads the public endpoint across origins as a real site
would, under a strict Content-Security-Policy (scripts from the app only, no inline script or style). The
browser test drives the same page.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGES = Path(__file__).with_name("website")
FILES = {"/": ("index.html", "text/html; charset=utf-8"), "/site.css": ("site.css", "text/css; charset=utf-8"),
         "/favicon.svg": ("favicon.svg", "image/svg+xml")}
APP_PLACEHOLDER = "%APP_URL%"


def content_security_policy(app_url: str) -> str:
    """What a careful site sends: the app may serve scripts and answers; nothing inline, no other origin."""
    return (f"default-src 'none'; script-src 'self' {app_url}; connect-src {app_url}; style-src 'self'; "
            "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class DemoWebsite:
    """The demo page on `127.0.0.1:<port>` (any free port by default), in a thread of this process.

    :param app_url: the app's origin once it runs (the page names its script and the CSP names its origin).
    """

    def __init__(self, app_url: Callable[[], str | None], port: int = 0) -> None:
        self.app_url = app_url
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.server.website = self  # type: ignore[attr-defined]  # the handler's way back
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return self.url

    def start(self) -> str:
        self._thread = threading.Thread(target=self.server.serve_forever, name="demo-website", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server.server_close()

    def page(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for `path`."""
        app_url = self.app_url()
        if path not in FILES:
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"Not found\n"
        if not app_url:
            return 503, {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "1"}, b"The app is starting.\n"
        name, media = FILES[path]
        body = (PAGES / name).read_bytes()
        if name.endswith(".html"):
            body = body.replace(APP_PLACEHOLDER.encode(), html.escape(app_url).encode())
        headers = {"Content-Type": media, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": content_security_policy(app_url), "Referrer-Policy": "no-referrer"}
        return 200, headers, body


class _Handler(BaseHTTPRequestHandler):
    server_version = "DemoWebsite"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        website = self.server.website  # type: ignore[attr-defined]  # set by the server, the handler's way back
        status, headers, body = website.page(self.path.split("?", 1)[0])
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
