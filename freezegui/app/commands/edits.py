"""The Edit menu's commands on the open document's selection (all undoable, all refused while locked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freezegui.app.prompt import Prompt
from freezegui.core.errors import FreezeguiError

if TYPE_CHECKING:
    from freezegui.core.editing.document import Document
    from freezegui.core.editing.presets import SearchResult
    from freezegui.core.rules.lora import LoraSettings


class EditCommands:
    """Each method changes the selection of ``document()`` unless ``locked()``; errors go to ``prompt``."""

    def __init__(
        self, document: Callable[[], Document | None], locked: Callable[[], bool], prompt: Prompt
    ) -> None:
        self._document = document
        self._locked = locked
        self.prompt = prompt

    def _edit(self, fn: Callable[[Document], Any]) -> Any:
        doc = self._document()
        if doc is None or self._locked():
            return None
        try:
            return fn(doc)
        except (ValueError, FreezeguiError) as exc:
            self.prompt.error("Cannot do that", str(exc))
            return None

    def freeze_all(self) -> None:
        self._edit(lambda d: d.selection.set_subtree(d.tree.root, False, label="Freeze all"))

    def train_all(self) -> None:
        self._edit(lambda d: d.selection.set_subtree(d.tree.root, True, label="Train all"))

    def invert(self) -> None:
        self._edit(lambda d: d.selection.invert())

    def undo(self) -> None:
        self._edit(lambda d: d.selection.undo())

    def redo(self) -> None:
        self._edit(lambda d: d.selection.redo())

    def train_head(self) -> None:
        from freezegui.core.editing import presets

        def run(d: Document) -> None:
            head = presets.head_index(d.tree)
            if head is None:
                raise ValueError("this model has no recognisable head")
            mask = presets.subtree_mask(d.tree, [head])
            d.selection.set_mask(mask, label=f"Train head only ({d.tree.paths[head]})")

        self._edit(run)

    def train_last_blocks(self, n: int | None = None) -> None:
        from freezegui.core.editing import presets

        doc = self._document()
        if doc is None or self._locked():
            return
        blocks = presets.block_info(doc.tree)
        if blocks is None:
            self.prompt.error(
                "Cannot do that",
                "This model has no repeated block list (ModuleList/Sequential of same-typed blocks).",
            )
            return
        where, count = blocks
        if n is None:
            label = f"Blocks of {where} ({count}) to train, with everything after them:"
            n = self.prompt.number("Train last N blocks", label, min(2, count), 0, count)
            if n is None:
                return
        last = n
        self._edit(
            lambda d: d.selection.set_mask(
                presets.train_last_blocks_mask(d.tree, last), label=f"Train last {last} blocks"
            )
        )

    def freeze_norms(self) -> None:
        from freezegui.core.editing import presets

        self._edit(
            lambda d: presets.apply_mask(
                d.selection,
                presets.subtree_mask(d.tree, presets.norm_indices(d.tree)),
                False,
                label="Freeze normalisation layers",
            )
        )

    def set_type(self, type_name: str, trainable: bool) -> None:
        from freezegui.core.editing import presets

        verb = "Train" if trainable else "Freeze"
        self._edit(
            lambda d: presets.apply_mask(
                d.selection,
                presets.subtree_mask(d.tree, presets.type_indices(d.tree, type_name)),
                trainable,
                label=f"{verb} every {type_name}",
            )
        )

    def by_type_dialog(self, trainable: bool) -> None:
        from freezegui.core.editing import presets

        doc = self._document()
        if doc is None:
            return
        names = {f"{name}  ({count})": name for name, count in presets.type_counts(doc.tree)}
        verb = "Train" if trainable else "Freeze"
        choice = self.prompt.choose(f"{verb} by module type", "Module type:", list(names))
        if choice in names:  # the type the shown item stands for, not words parsed back from it
            self.set_type(names[choice], trainable)

    def act_on_matches(self, result: SearchResult | None, trainable: bool) -> None:
        """Train (or freeze) every parameter a search matched."""
        from freezegui.core.editing import presets

        if result is None or not result.count:
            return
        verb = "Train" if trainable else "Freeze"
        self._edit(
            lambda d: presets.apply_mask(
                d.selection, result.mask(d.tree), trainable, label=f"{verb} matches of {result.query!r}"
            )
        )

    # ------------------------------------------------------------------------------------- LoRA
    def set_lora_settings(self, settings: LoraSettings) -> None:
        self._edit(lambda d: d.selection.set_lora_settings(settings, label="LoRA settings"))

    def remove_adapters(self) -> None:
        self._edit(lambda d: d.selection.set_adapted(d.tree.root, False, label="Remove all adapters"))

    def suggest_attention(self) -> None:
        from freezegui.core.editing import presets

        self._suggest(presets.attention_projections_mask, "LoRA on attention projections")

    def suggest_all_linear(self) -> None:
        from freezegui.core.editing import presets

        self._suggest(presets.all_linear_except_head_mask, "LoRA on all linear layers but the head")

    def suggest_last_blocks(self, n: int | None = None) -> None:
        from freezegui.core.editing import presets
        from freezegui.core.structure.blocks import block_list

        doc = self._document()
        if doc is None or self._locked():
            return
        blocks = block_list(doc.tree)
        if blocks is None:
            self.prompt.error(
                "Cannot do that", "This model has no repeated block list to pick the last blocks of."
            )
            return
        count = len(doc.tree.nodes[blocks].children)
        if n is None:
            label = f"Blocks of {doc.tree.paths[blocks]} ({count}) whose attention and MLP get adapters:"
            n = self.prompt.number("LoRA on the last N blocks", label, min(2, count), 1, count)
            if n is None:
                return
        last = n
        self._suggest(lambda t: presets.last_blocks_lora_mask(t, last), f"LoRA on the last {last} blocks")

    def _suggest(self, mask: Callable[[Any], Any], label: str) -> None:
        """Adapt exactly the modules ``mask(tree)`` picks and freeze the base model in the same edit,
        as LoRA users mean it (a small classification head keeps training: PEFT's modules_to_save)."""
        from freezegui.core.editing.lora_base import lora_base_mask

        def run(d: Document) -> None:
            modules = mask(d.tree)
            if not modules.any():
                raise ValueError(f"{label}: this model has no such modules")
            d.selection.set_adapted_mask(modules, label=label, trainable=lora_base_mask(d.tree, modules))

        self._edit(run)


__all__ = ["EditCommands"]
