"""The Qt desktop app: a thin layer over freezegui.core."""
