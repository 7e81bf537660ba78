"""Dialogs: open a model, LoRA settings, small tables, the form widgets they share."""
