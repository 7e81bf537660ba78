"""What a model is made of: the module tree, counts by identity, classification heads, norm layers."""
