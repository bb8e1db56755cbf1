"""``python -m cli``: the ``orderwatch`` command."""

from cli.main import main

raise SystemExit(main())
