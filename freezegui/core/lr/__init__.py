"""Learning rates: per-tensor scales and layer-wise decay, optimizer parameter groups, gradual unfreezing."""
