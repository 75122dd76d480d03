"""Reading a shared list from a file or an http(s) URL, politely: conditional requests (ETag,
If-Modified-Since), a size limit read as it arrives, a timeout, and HTML error pages refused.

Standard library only (urllib in a worker thread): the core imports no platform library."""

from __future__ import annotations

import asyncio
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


class FetchError(Exception):
    """The list could not be read; the message is safe to show and to store as the list's last error."""


@dataclass
class Fetched:
    data: bytes | None  # None: not modified since the last fetch (HTTP 304)
    etag: str | None = None
    last_modified: str | None = None


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _read_file(path: str, max_bytes: int) -> Fetched:
    p = Path(path)
    if not p.is_file():
        raise FetchError(f"{path} is not a file")
    if p.stat().st_size > max_bytes:
        raise FetchError(f"the file is too large ({p.stat().st_size} bytes; at most {max_bytes})")
    return Fetched(p.read_bytes())


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """A list server may redirect to another http(s) address only (urllib would also follow ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not is_url(newurl):
            raise FetchError("the server redirected to an address that is not http(s); nothing was read")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly)


def _read_url(url: str, etag: str | None, last_modified: str | None, max_bytes: int, timeout: float) -> Fetched:
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "safety-bot (shared lists)", "Accept": "text/plain"})
    except ValueError:
        raise FetchError("the URL is not valid (check its host, port and brackets)") from None
    if etag:
        req.add_header("If-None-Match", etag)
    if last_modified:
        req.add_header("If-Modified-Since", last_modified)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            ctype = resp.headers.get("Content-Type", "").lower()
            if "html" in ctype:
                raise FetchError("line 1: the server sent a web page (HTML), not a list")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"the list is too large ({length} bytes; at most {max_bytes})")
            data = resp.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise FetchError(f"the list is too large (more than {max_bytes} bytes)")
            return Fetched(data, resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(None, etag, last_modified)
        raise FetchError(f"the server answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"the list could not be fetched ({exc.reason.__class__.__name__ if not isinstance(exc.reason, str) else exc.reason})") from None
    except (TimeoutError, OSError) as exc:
        raise FetchError(f"the list could not be fetched ({exc.__class__.__name__})") from None
    except (ValueError, http.client.InvalidURL):  # how urllib and http.client refuse a malformed URL
        raise FetchError("the URL is not valid (check its host, port and brackets)") from None
    except http.client.HTTPException as exc:  # a broken answer (bad status line, cut short)
        raise FetchError(f"the list could not be fetched ({exc.__class__.__name__})") from None


async def fetch(source: str, *, etag: str | None = None, last_modified: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = DEFAULT_TIMEOUT) -> Fetched:
    """The list's bytes (or None when unchanged). Raises FetchError."""
    if is_url(source):
        return await asyncio.to_thread(_read_url, source, etag, last_modified, max_bytes, timeout)
    if "://" in source:
        raise FetchError("only http://, https:// and local files can be read")
    return await asyncio.to_thread(_read_file, source, max_bytes)
