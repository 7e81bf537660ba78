"""The Cost dock: will this selection fit my GPU (the plan, its bar and verdict, stages, pin and compare)."""
