"""``python -m cli``: the ``orderwatch`` command."""

from cli.main import entry

raise SystemExit(entry())
