"""``python -m recengine``: the same as the ``recengine`` command."""

from recengine.cli import main

raise SystemExit(main())
