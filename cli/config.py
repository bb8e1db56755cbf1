"""Start-up configuration: the database URL and the local policy file, validated before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

from machines.errors import Refused
from machines.policy import DEFAULT_POLICY, Policy

__all__ = ["load_policy"]


def load_policy(path: str | None = None) -> Policy:
    """The local policy: ``path``, else ``$ORDERWATCH_POLICY``, else the shipped defaults."""
    chosen = path or os.environ.get("ORDERWATCH_POLICY")
    if not chosen:
        return DEFAULT_POLICY
    file = Path(chosen)
    if not file.is_file():
        raise Refused(f"local policy file {chosen!r} not found")
    return Policy.from_toml(file.read_text(encoding="utf-8"))
