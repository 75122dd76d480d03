"""A small HTTP server on 127.0.0.1 (a free port) serving lists, for the shared-list tests: ETag and
If-Modified-Since like a real web server, and its failure modes on request (500, HTML error pages, slow)."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ListServer:
    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (body, content type)
        self.status: dict[str, int] = {}  # path -> forced status
        self.redirects: dict[str, str] = {}  # path -> where a 302 sends the client
        self.requests: list[tuple[str, dict]] = []  # (path, headers)
        self.hold = threading.Event()  # set: requests to /slow... wait until released
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                if self.path.startswith("/slow"):
                    server.hold.wait(10)
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path in server.status:
                    body = b"<html><body>Internal Server Error</body></html>"
                    self.send_response(server.status[self.path])
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, ctype = server.files[self.path]
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def put(self, path: str, body: bytes, ctype: str = "text/plain") -> str:
        self.files[path] = (body, ctype)
        return self.url(path)

    def close(self):
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()
