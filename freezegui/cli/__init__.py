"""The ``freezegui`` command line (the same core the app and the library use)."""
