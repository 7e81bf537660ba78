"""The module tree on screen: the item model adapter, the view, its painter, columns, search."""
