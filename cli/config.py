"""Start-up configuration: the database URL and the local policy file, validated before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

from machines.errors import Refused
from machines.names import shown
from machines.policy import DEFAULT_POLICY, Policy

__all__ = ["load_policy"]

_MAX_POLICY_BYTES = 1_000_000


def load_policy(path: str | None = None) -> Policy:
    """The local policy: ``path``, else ``$ORDERWATCH_POLICY``, else the shipped defaults."""
    chosen = path or os.environ.get("ORDERWATCH_POLICY")
    if not chosen:
        return DEFAULT_POLICY
    file = Path(chosen)
    if not file.is_file():
        raise Refused(f"local policy file {shown(chosen)} not found")
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise Refused(f"local policy file {shown(chosen)} cannot be read ({exc.strerror})") from None
    if len(content) > _MAX_POLICY_BYTES:
        raise Refused(f"local policy file {shown(chosen)} is too large to be a policy ({len(content)} bytes)")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"local policy file {shown(chosen)} is not UTF-8 text") from None
    if "\x00" in text:
        raise Refused(f"local policy file {shown(chosen)} is not text (it has NUL bytes)")
    return Policy.from_toml(text)
