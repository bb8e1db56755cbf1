"""Where orderwatch keeps its running state, and the Prefect server's credential.

The Prefect server that ``orderwatch up`` starts asks for basic authentication (Prefect 3.x:
``PREFECT_SERVER_API_AUTH_STRING`` on the server, ``PREFECT_API_AUTH_STRING`` on every client — workers, flow runs,
``prefect`` and ``orderwatch`` commands; the UI asks for the same ``user:password`` string when it first loads).
The credential is generated on first start and kept in ``var/secrets/prefect-api-auth``: the folder readable by its
owner only (0700), the file too (0600). Nothing here prints it; ``orderwatch up`` shows it once, on the start that
created it, and ``orderwatch env`` prints a line that *reads* it from the file.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from machines.errors import Refused

__all__ = ["ROOT", "Credential", "Endpoint", "api_access", "ensure_credential", "env_lines", "prefect_api",
           "read_credential", "read_endpoint", "var_dir", "write_endpoint"]  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent
USER = "orderwatch"


def var_dir() -> Path:
    """The folder of orderwatch's running state: ``$ORDERWATCH_VAR``, else ``var/`` in this checkout."""
    return Path(os.environ.get("ORDERWATCH_VAR") or ROOT / "var").resolve()


@dataclass(frozen=True, slots=True)
class Credential:
    """The Prefect API's basic-authentication string (``user:password``) and the file that keeps it."""

    path: Path
    auth_string: str
    created: bool  # generated just now (the first start): show it, once

    def __repr__(self) -> str:  # never in a log by accident
        return f"Credential(path={str(self.path)!r}, created={self.created})"


def _credential_path(var: Path) -> Path:
    return var / "secrets" / "prefect-api-auth"


def _owner_only(path: Path, mode: int) -> None:
    actual = stat.S_IMODE(path.stat().st_mode)
    if actual & 0o077:
        raise Refused(f"{path} is readable by others (mode {actual:o}); make it {mode:o} (chmod {mode:o} {path})")


def ensure_credential(var: Path | None = None) -> Credential:
    """The credential, generated (and stored owner-only) if there is none yet."""
    path = _credential_path(var or var_dir())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_credential(var)
    auth_string = f"{USER}:{secrets.token_urlsafe(24)}"
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(auth_string + "\n")
    return Credential(path, auth_string, created=True)


def read_credential(var: Path | None = None) -> Credential:
    """The stored credential; refused when there is none or when others could read it."""
    path = _credential_path(var or var_dir())
    if not path.is_file():
        raise Refused(f"no Prefect credential at {path}: start orderwatch once with `make run` (orderwatch up)")
    _owner_only(path.parent, 0o700)
    _owner_only(path, 0o600)
    auth_string = path.read_text(encoding="utf-8").strip()
    if ":" not in auth_string:
        raise Refused(f"{path} must hold one line, user:password")
    return Credential(path, auth_string, created=False)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the running Prefect server answers, as ``orderwatch up`` started it."""

    api_url: str
    ui_url: str
    database_url: str


def _endpoint_path(var: Path) -> Path:
    return var / "prefect" / "endpoint.json"


def write_endpoint(endpoint: Endpoint, var: Path | None = None) -> None:
    path = _endpoint_path(var or var_dir())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api_url": endpoint.api_url, "ui_url": endpoint.ui_url,
                                "database_url": endpoint.database_url}) + "\n")  # fmt: skip


def read_endpoint(var: Path | None = None) -> Endpoint:
    """The server ``orderwatch up`` last started (default: port 4200 and the default database)."""
    path = _endpoint_path(var or var_dir())
    if not path.is_file():
        from storage.db import database_url

        return Endpoint("http://127.0.0.1:4200/api", "http://127.0.0.1:4200", database_url())
    data = json.loads(path.read_text(encoding="utf-8"))
    return Endpoint(str(data["api_url"]), str(data["ui_url"]), str(data["database_url"]))


def api_access(var: Path | None = None) -> tuple[str, str | None]:
    """The Prefect API's address and credential for orderwatch's own commands: the environment's if set (the worker
    and flows that ``orderwatch up`` starts), else the running server's and the stored credential."""
    url = os.environ.get("PREFECT_API_URL") or read_endpoint(var).api_url
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    if auth is None and _credential_path(var or var_dir()).is_file():
        auth = read_credential(var).auth_string
    return url, auth


@contextmanager
def prefect_api(var: Path | None = None) -> Iterator[str]:
    """Prefect's client settings pointed at the running server, with its credential, for the block; yields the URL."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    url, auth = api_access(var)
    with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_API_AUTH_STRING: auth}):
        yield url


def env_lines(var: Path | None = None) -> list[str]:
    """``export`` lines that give a new shell orderwatch's commands, ``prefect`` and the running server (the
    credential is read from its file when the lines are evaluated, never written out here)."""
    var = var or var_dir()
    endpoint = read_endpoint(var)
    bin_dir = Path(sys.executable).parent
    lines = [
        f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"',
        f"export ORDERWATCH_HOME={shlex.quote(str(ROOT))}",
        f"export ORDERWATCH_VAR={shlex.quote(str(var))}",
        f"export PREFECT_HOME={shlex.quote(str(var / 'prefect'))}",
        f"export PREFECT_API_URL={shlex.quote(endpoint.api_url)}",
        f'export PREFECT_API_AUTH_STRING="$(cat {shlex.quote(str(_credential_path(var)))})"',
        "export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1",
    ]
    if "***" not in endpoint.database_url:  # a URL with a password stays out of the terminal
        lines.append(f"export ORDERWATCH_DATABASE_URL={shlex.quote(endpoint.database_url)}")
    return lines
