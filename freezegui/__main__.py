"""``python -m freezegui`` is the ``freezegui`` command."""

from freezegui.launcher import main

raise SystemExit(main())
