"""A real Synapse homeserver for tests, run as a subprocess on loopback.

Nothing is faked here except the deployment: the server is the real ``synapse`` package from the
project's ``test`` extra, started with the venv's own interpreter (``sys.executable``), with a
SQLite database in a temporary directory, one HTTP listener on a free 127.0.0.1 port (client API,
media repository and ``/_synapse/admin`` all live on the ``client`` resource), no federation and
every rate limit raised so tests never see a 429.

Typical use (one server per test session; see ``tests/matrix/conftest.py``)::

    server = SynapseServer()
    server.start()
    alice = server.register()                 # fresh, unique user
    admin = server.register(admin=True)
    resp = server.request("GET", "/_synapse/admin/v1/event_reports", token=admin.access_token)
    server.restart()                          # same port, same data
    server.stop()

Only the standard library is used (urllib), so it works without an event loop; ``aregister`` and
``arequest`` run the same calls in a worker thread for async tests.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SynapseServer", "SynapseUser", "Response", "SynapseStartError"]

# A rate limit no test can reach.
_UNLIMITED = {"per_second": 10000, "burst_count": 100000}

# Every rc_* section Synapse 1.14x-1.16x reads (synapse/config/ratelimiting.py). Unknown keys are
# ignored by Synapse, so listing a few that an older release lacks is harmless.
_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {
        "address": _UNLIMITED,
        "account": _UNLIMITED,
        "failed_attempts": _UNLIMITED,
    },
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {
        "per_room": _UNLIMITED,
        "per_user": _UNLIMITED,
        "per_issuer": _UNLIMITED,
    },
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
}


class SynapseStartError(RuntimeError):
    """Synapse could not be configured or did not become ready; the message holds the log tail."""


@dataclass(frozen=True)
class SynapseUser:
    """A registered account and the device/token that registration created."""

    user_id: str
    access_token: str
    password: str
    device_id: str
    localpart: str
    admin: bool = False


@dataclass(frozen=True)
class Response:
    """An HTTP answer from the homeserver (errors are returned, not raised)."""

    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _yaml_dump(data: dict[str, Any]) -> str:
    # JSON is valid YAML 1.2 and Synapse's loader (PyYAML safe_load) reads it: no dependency on
    # PyYAML being importable here, and no quoting surprises.
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


class SynapseServer:
    """A real Synapse on 127.0.0.1, data in a temporary directory.

    ``start()`` writes the config, generates keys, launches the process and waits for
    ``/_matrix/client/versions``. ``stop()`` ends it; ``restart()`` relaunches it on the same port
    with the same data. ``cleanup()`` (called by ``stop(cleanup=True)``) removes the directory.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        server_name: str = "localhost",
        port: int | None = None,
        python: str | None = None,
        start_timeout: float = 60.0,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.server_name = server_name
        self.port = port
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.extra_config = dict(extra_config or {})  # more homeserver.yaml keys (e.g. modules)
        self.registration_shared_secret = secrets.token_hex(16)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout_file: Any = None
        self._configured = False
        self._counter = itertools.count(1)
        self._session_tag = secrets.token_hex(3)
        self.startup_seconds: float | None = None
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ paths and properties
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("SynapseServer has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self._dir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        """WARNING+ records from Synapse's logging."""
        return self._dir / "homeserver.log"

    @property
    def stdout_path(self) -> Path:
        """Anything Synapse prints on stdout/stderr (start-up failures end up here)."""
        return self._dir / "stdout.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def _dir(self) -> Path:
        if self.data_dir is None:
            raise RuntimeError("SynapseServer has not been started")
        return self.data_dir

    def rss_bytes(self) -> int | None:
        """Resident memory of the Synapse process (Linux /proc), or None."""
        if not self.running:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    # ------------------------------------------------------------------ configuration
    def _write_config(self) -> None:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="safety-bot-synapse-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = _free_port()
        d = self.data_dir
        (d / "media_store").mkdir(exist_ok=True)

        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s"
                }
            },
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "filters": ["context"],
                    "encoding": "utf8",
                    "level": "WARNING",
                }
            },
            "loggers": {
                "synapse": {"level": "WARNING"},
                "synapse.storage.SQL": {"level": "WARNING"},
                "twisted": {"level": "WARNING"},
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (d / "log_config.yaml").write_text(_yaml_dump(log_config))

        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"http://127.0.0.1:{self.port}/",
            "pid_file": str(d / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # "client" also mounts /_synapse/admin and the media repository.
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(d / "homeserver.db")},
            },
            "log_config": str(d / "log_config.yaml"),
            "media_store_path": str(d / "media_store"),
            "signing_key_path": str(d / f"{self.server_name}.signing.key"),
            "registration_shared_secret": self.registration_shared_secret,
            "enable_registration": False,
            "macaroon_secret_key": secrets.token_hex(32),
            "form_secret": secrets.token_hex(32),
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "url_preview_enabled": False,
            "enable_media_repo": True,
            "enable_authenticated_media": True,
            "max_upload_size": "50M",
            "background_updates": {"sleep_enabled": False},
            # Registration hashes the password: the default 12 rounds cost ~0.25 s per user.
            "bcrypt_rounds": 4,
            # Keep memory modest on a 2-core CI box.
            "caches": {"global_factor": 0.5},
            # Evidence: redacted events stay fetchable through the admin API for a week.
            "redaction_retention_period": "7d",
            **_RATE_LIMITS,
            **self.extra_config,
        }
        self.config_path.write_text(_yaml_dump(config))

        proc = subprocess.run(
            [
                self.python,
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.config_path),
                "--generate-keys",
            ],
            cwd=d,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
            env=self._env(),
        )
        if proc.returncode != 0:
            raise SynapseStartError(
                "synapse --generate-keys failed (exit %s):\n%s"
                % (proc.returncode, proc.stdout.decode("utf-8", "replace")[-4000:])
            )
        self._configured = True

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("SYNAPSE_CONFIG_PATH", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SynapseServer":
        """Configure (first time only), launch and wait until the client API answers."""
        if self.running:
            return self
        started = time.monotonic()
        if not self._configured:
            self._write_config()
        d = self._dir
        self._stdout_file = open(self.stdout_path, "ab")
        self._proc = subprocess.Popen(
            [self.python, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=d,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout_file,
            stderr=subprocess.STDOUT,
            env=self._env(),
            start_new_session=True,  # a Ctrl-C in the test terminal does not hit Synapse first
        )
        try:
            self._wait_ready(started)
        except BaseException:
            self._terminate()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.start_timeout
        url = self.base_url + "/_matrix/client/versions"
        last_error: str = ""
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise SynapseStartError(
                    f"Synapse exited with code {self._proc.returncode} during start-up\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200 and b"versions" in resp.read():
                        return
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                last_error = repr(exc)
            time.sleep(0.1)
        raise SynapseStartError(
            f"Synapse not ready after {self.start_timeout:.0f} s ({last_error})\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stdout_path, self.log_path):
            try:
                text = path.read_text("utf-8", "replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {path.name} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(parts) or "(no Synapse log written)"

    def _terminate(self, timeout: float = 15.0) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._proc = None
        if self._stdout_file is not None:
            self._stdout_file.close()
            self._stdout_file = None

    def stop(self, cleanup: bool = False) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 15 s). Data stays unless ``cleanup``."""
        self._terminate()
        if cleanup:
            self.cleanup()

    def cleanup(self) -> None:
        """Remove the data directory if this object created it."""
        if self.running:
            self._terminate()
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
            self._configured = False

    def restart(self) -> "SynapseServer":
        """Stop and start again on the same port with the same database, keys and media."""
        self._terminate()
        return self.start()

    def _atexit(self) -> None:
        try:
            self.stop(cleanup=True)
        except Exception:
            pass

    def __enter__(self) -> "SynapseServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(cleanup=True)

    # ------------------------------------------------------------------ HTTP
    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """One HTTP call to the homeserver; ``path`` starts with ``/``. Never raises on 4xx/5xx."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        body = data
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        elif content_type is not None:
            hdrs["Content-Type"] = content_type
        req = urllib.request.Request(url, data=body, method=method.upper(), headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.read(), dict(resp.headers.items()))
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read(), dict(err.headers.items()))

    async def arequest(self, method: str, path: str, **kwargs: Any) -> Response:
        """``request`` in a worker thread, for async tests."""
        return await asyncio.to_thread(self.request, method, path, **kwargs)

    def _check(self, resp: Response, what: str) -> Any:
        if resp.status != 200:
            raise AssertionError(
                f"{what} failed: HTTP {resp.status} {resp.body[:500]!r}\n{self.log_tail(15)}"
            )
        return resp.json()

    # ------------------------------------------------------------------ users
    def new_localpart(self, prefix: str = "user") -> str:
        """A localpart no other call in this process has returned."""
        return f"{prefix}-{self._session_tag}-{next(self._counter)}"

    def register(
        self,
        localpart: str | None = None,
        admin: bool = False,
        password: str | None = None,
        *,
        displayname: str | None = None,
        prefix: str = "user",
    ) -> SynapseUser:
        """Create an account with shared-secret registration (HMAC-SHA1) and return its login."""
        localpart = localpart or self.new_localpart("admin" if admin and prefix == "user" else prefix)
        password = password or secrets.token_urlsafe(12)
        nonce = self._check(
            self.request("GET", "/_synapse/admin/v1/register"), "registration nonce"
        )["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode("utf-8"), digestmod=hashlib.sha1)
        mac.update(nonce.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(localpart.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(password.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        out = self._check(
            self.request("POST", "/_synapse/admin/v1/register", json_body=body),
            f"registering {localpart}",
        )
        return SynapseUser(
            user_id=out["user_id"],
            access_token=out["access_token"],
            password=password,
            device_id=out["device_id"],
            localpart=localpart,
            admin=admin,
        )

    async def aregister(
        self,
        localpart: str | None = None,
        admin: bool = False,
        password: str | None = None,
        **kwargs: Any,
    ) -> SynapseUser:
        """``register`` in a worker thread, for async tests."""
        return await asyncio.to_thread(self.register, localpart, admin, password, **kwargs)

    def login(self, user: SynapseUser, device_id: str | None = None) -> SynapseUser:
        """A second device (new token) for ``user`` via password login."""
        body: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.localpart},
            "password": user.password,
        }
        if device_id:
            body["device_id"] = device_id
        out = self._check(
            self.request("POST", "/_matrix/client/v3/login", json_body=body), "login"
        )
        return SynapseUser(
            user_id=out["user_id"],
            access_token=out["access_token"],
            password=user.password,
            device_id=out["device_id"],
            localpart=user.localpart,
            admin=user.admin,
        )
