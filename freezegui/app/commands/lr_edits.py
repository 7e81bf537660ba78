"""The Learning rates commands: a row's LR × and layer-wise decay (undoable, refused while locked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from freezegui.app.commands.edits import EditCommands

if TYPE_CHECKING:  # the core imports torch: the window paints before that
    from freezegui.core.structure.tree import ModuleNode, ParamEntry


class LrCommands(EditCommands):
    """LR scale edits on the open document; bad input gets a one-line message and changes nothing."""

    def set_row_scale(self, item: ModuleNode | ParamEntry | None, scale: float | None = None) -> None:
        """Ask for (or take) a number > 0 and train ``item``'s subtree at lr × it."""
        doc = self._document()
        if doc is None or item is None or self._locked():
            return
        current = doc.selection.lr_scale_of(item)
        where = item.path or "the whole model"
        if current is None:  # a frozen tensor has no scale (it would not be saved either)
            self.prompt.information("LR ×", f"Nothing under {where} trains: tick it to train first.")
            return
        if scale is None:
            start = current if isinstance(current, float) else 1.0
            scale = self.prompt.real("LR ×", f"Learning-rate scale for {where} (a number > 0):", start)
            if scale is None:
                return
        value = scale
        self._edit(lambda d: d.selection.set_lr_scale(item, value))

    def layer_decay(self, decay: float | None = None) -> None:
        """Ask for D (0 < D ≤ 1), preview the per-block scales, apply them when accepted."""
        from freezegui.core.lr import scales

        doc = self._document()
        if doc is None or self._locked():
            return
        if decay is None:
            decay = self.prompt.real(
                "Layer-wise decay", "Decay D (0 < D ≤ 1): block i trains at D^(L+1-i):", 0.9
            )
            if decay is None:
                return
        if not 0 < decay <= 1:
            self.prompt.error("Cannot do that", f"Layer-wise decay must be in (0, 1], got {decay:g}.")
            return
        preview = self._edit(lambda d: scales.layer_decay_preview(d.tree, decay))
        if preview is None:
            return
        rows = [(label, f"{scale:.4g}") for label, scale in preview]
        text = f"Layer-wise decay {decay:g}: each group trains at lr × this scale."
        if self.prompt.confirm_table("Layer-wise decay", text, ("Group", "LR ×"), rows):
            d: float = decay
            self._edit(lambda doc_: scales.apply_layer_decay(doc_.selection, d))


__all__ = ["LrCommands"]
