"""A small fake of Hasher-Matcher-Actioner's matching API on 127.0.0.1 (a free port), for the HMA backend
tests: `GET /m/lookup?signal_type=pdq&signal=<hex>` answers with the names of the banks holding a PDQ hash
within distance 31 (HMA's default), `/m/raw_lookup` with their content ids, after checking the bearer
token. Its failure modes on request: `mode` = "500", "slow" (answers only when released), "garbage"."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PDQ_THRESHOLD = 31


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


class FakeHma:
    def __init__(self, token: str = "hma-secret"):
        self.token = token
        self.banks: dict[str, list[str]] = {}  # bank name -> PDQ hashes
        self.mode = ""
        self.release = threading.Event()
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status: int, body, ctype="application/json"):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"path": url.path, "query": q, "auth": self.headers.get("Authorization")})
                if fake.mode == "slow":
                    fake.release.wait(30)
                if fake.mode == "500":
                    return self._send(500, b"<html>Internal Server Error</html>", "text/html")
                if fake.mode == "garbage":
                    return self._send(200, b"<html>proxy login</html>", "text/html")
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "unauthorized"})
                if url.path not in ("/m/lookup", "/m/raw_lookup"):
                    return self._send(404, {"message": "not found"})
                if "signal" not in q or "signal_type" not in q:
                    return self._send(400, {"message": "signal and signal_type are required"})
                if q["signal_type"] != "pdq":
                    return self._send(400, {"message": f"No such SignalType '{q['signal_type']}'"})
                signal = q["signal"].lower()
                if len(signal) != 64 or any(c not in "0123456789abcdef" for c in signal):
                    return self._send(400, {"message": "invalid signal type: not a PDQ hash"})
                hits = {name: [i for i, h in enumerate(hashes) if _distance(h, signal) <= PDQ_THRESHOLD]
                        for name, hashes in fake.banks.items()}
                hits = {k: v for k, v in hits.items() if v}
                if url.path == "/m/raw_lookup":
                    return self._send(200, {"matches": [i for v in hits.values() for i in v]})
                return self._send(200, sorted(hits))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def lookups(self) -> int:
        return sum(r["path"] == "/m/lookup" for r in self.requests)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
