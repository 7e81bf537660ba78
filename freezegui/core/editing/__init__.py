"""What the app and the CLI edit: the selection with its undo, the document, stages, presets and search."""
