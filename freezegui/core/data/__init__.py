"""Data for a training step: synthetic batches (planned on meta or made for a run) and the real data
sets a run reads and holds out (file formats, their problems, the seeded validation split).

Below both ``core.plan`` and ``core.training``: the planner and the training engine build their
synthetic batch from the same description, so what is planned is what trains.
"""
