"""Deciding what to train: fit a selection to a GPU budget, and probe which layers matter on data."""
