"""Data a run reads and holds out: file formats, their problems, and the seeded validation split."""
