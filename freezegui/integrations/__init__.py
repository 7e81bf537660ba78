"""Adapters for training frameworks. Each module imports its framework itself, so importing freezegui
never pulls in Lightning (or anything else optional)."""
