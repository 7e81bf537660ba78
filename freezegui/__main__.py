"""``python -m freezegui`` is the ``freezegui`` command."""

from freezegui.cli.main import main

raise SystemExit(main())
