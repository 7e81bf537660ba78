"""The Qt-free heart of freezegui: loading, module tree, selection, counts, rules, training."""
