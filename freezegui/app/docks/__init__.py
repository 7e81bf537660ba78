"""The main window's docks: totals, details, cost, training."""
