"""What the user's actions do: the action table, the document controller, edits, loading off the UI thread."""
