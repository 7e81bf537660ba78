"""Turning a spec into a model: specs, load options, factory arguments, timm, the wrappers users meet."""
