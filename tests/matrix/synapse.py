"""A real Synapse homeserver on 127.0.0.1 for tests and benchmarks: start, stop, register users."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml
from nio import AsyncClient, AsyncClientConfig

SERVER_NAME = "localhost"
_FAST = {"per_second": 10000, "burst_count": 100000}

_LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {log}
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(base: Path, port: int, shared_secret: str) -> dict[str, object]:
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(base / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(base / "homeserver.db")}},
        "log_config": str(base / "log.config"),
        "media_store_path": str(base / "media"),
        "signing_key_path": str(base / "signing.key"),
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_urlsafe(32),
        "form_secret": secrets.token_urlsafe(32),
        "enable_registration": False,
        "report_stats": False,
        "enable_metrics": False,
        "bcrypt_rounds": 4,
        "suppress_key_server_warning": True,
        "trusted_key_servers": [],
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        "federation_domain_whitelist": [],
        "rc_message": _FAST,
        "rc_registration": _FAST,
        "rc_login": {"address": _FAST, "account": _FAST, "failed_attempts": _FAST},
        "rc_joins": {"local": _FAST, "remote": _FAST},
        "rc_joins_per_room": _FAST,
        "rc_invites": {"per_room": _FAST, "per_user": _FAST, "per_issuer": _FAST},
        "rc_3pid_validation": _FAST,
        "rc_third_party_invite": _FAST,
        "rc_key_requests": _FAST,
        "rc_media_create": _FAST,
        "rc_presence": {"per_user": _FAST},
        "rc_delayed_event_mgmt": _FAST,
        "rc_room_creation": _FAST,
        "rc_reports": _FAST,
        "rc_user_directory": _FAST,
        "rc_profile": _FAST,
        "rc_admin_redaction": _FAST,
    }


@dataclass
class TestUser:
    user_id: str
    password: str
    access_token: str
    device_id: str


class Synapse:
    """One homeserver process in `base`; `start()` and `stop()` may be called again (same port, same data)."""

    def __init__(self, base: Path, *, port: int | None = None) -> None:
        self.base = base
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shared_secret = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self._counter = 0
        base.mkdir(parents=True, exist_ok=True)
        (base / "log.config").write_text(_LOG_CONFIG.format(log=base / "homeserver.log"))
        seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
        (base / "signing.key").write_text(f"ed25519 a_test {seed}\n")
        config = _config(base, self.port, self.shared_secret)
        (base / "homeserver.yaml").write_text(yaml.safe_dump(config))

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for name in ("stderr.log", "homeserver.log"):
            path = self.base / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                text += f"--- {name}\n" + "\n".join(tail) + "\n"
        return text

    def start(self, timeout: float = 60.0) -> None:
        started = time.monotonic()
        stderr = (self.base / "stderr.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.base / "homeserver.yaml")],
            cwd=self.base,
            stdout=stderr,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        stderr.close()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=1) as resp:
                    if resp.status == 200:
                        self.startup_seconds = time.monotonic() - started
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {timeout} s\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _request(
        self, method: str, path: str, body: dict[str, object] | None = None, token: str | None = None
    ) -> dict[str, object]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as resp:
            result: dict[str, object] = json.loads(resp.read() or b"{}")
            return result

    def register(self, localpart: str | None = None, *, admin: bool = False) -> TestUser:
        """Create a user through the shared-secret admin API (HMAC-SHA1 over nonce, name, password, role)."""
        if localpart is None:
            self._counter += 1
            localpart = f"user{self._counter}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        nonce = str(self._request("GET", "/_synapse/admin/v1/register")["nonce"])
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"]
            )
        )
        result = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return TestUser(
            user_id=str(result["user_id"]),
            password=password,
            access_token=str(result["access_token"]),
            device_id=str(result["device_id"]),
        )

    def override_ratelimit(self, admin_token: str, user_id: str, *, per_second: int, burst: int) -> None:
        """Set one user's message rate limit (0 and 0: unlimited) through the admin API."""
        from urllib.parse import quote

        self._request(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit",
            {"messages_per_second": per_second, "burst_count": burst},
            token=admin_token,
        )

    async def client(
        self,
        user: TestUser | None = None,
        *,
        store: Path,
        localpart: str | None = None,
        encryption: bool = True,
    ) -> AsyncClient:
        """A logged-in nio client for a (new) test user; 429s fail at once instead of waiting."""
        if user is None:
            user = await asyncio.to_thread(self.register, localpart)
        path = store / user.user_id.strip("@").replace(":", "_")
        path.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            max_limit_exceeded=0, max_timeouts=2, encryption_enabled=encryption, store_sync_tokens=True
        )
        client = AsyncClient(
            self.url, user.user_id, device_id=user.device_id, store_path=str(path), config=config
        )
        client.restore_login(user.user_id, user.device_id, user.access_token)
        client.test_user = user  # type: ignore[attr-defined]
        return client
