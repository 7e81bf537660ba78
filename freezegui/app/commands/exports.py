"""File ▸ Export: every format the CLI's ``freezegui export`` writes, from the open document, through
the same core writers and with the same refusals (a PEFT config needs adapters, LLaMA-Factory needs a
hidden-layer count, a selection a format cannot say is refused with the writer's reason).

The text is made here, written atomically by the document controller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from freezegui.core.errors import SpecError

if TYPE_CHECKING:
    from freezegui.core.editing.document import Document

# kind -> (menu text, suggested file suffix)
FORMATS = {
    "python1": ("Python snippet — requires_grad (method 1)…", "_freeze.py"),
    "python2": ("Python snippet — lr 0 param groups (method 2)…", "_param_groups.py"),
    "names": ("Trainable parameter names…", "_trainable.txt"),
    "peft_json": ("PEFT — adapter_config.json…", "_adapter_config.json"),
    "peft_python": ("PEFT — LoraConfig snippet…", "_lora_config.py"),
    "axolotl": ("axolotl — unfrozen_parameters…", "_axolotl.yml"),
    "llamafactory": ("LLaMA-Factory — freeze tuning…", "_llamafactory.yaml"),
}
SUFFIXES = {kind: suffix for kind, (_, suffix) in FORMATS.items()}


def export_text(doc: Document, kind: str) -> tuple[str, list[str]]:
    """The document's selection as ``kind`` (see :data:`FORMATS`) and the writer's warnings (what the
    CLI prints on stderr: LLaMA-Factory's substring matches train more, ...); a FreezeguiError says
    why not."""
    import warnings

    from freezegui.core.errors import FreezeguiWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FreezeguiWarning)
        text = _text(doc, kind)
    return text, [str(w.message) for w in caught if issubclass(w.category, FreezeguiWarning)]


def _text(doc: Document, kind: str) -> str:
    if kind in ("python1", "python2", "names"):
        return doc.export_text(kind)
    if kind.startswith("peft"):
        return _peft(doc, python=kind == "peft_python")
    from freezegui.core.interop.common import not_carried_note

    spec = doc.spec or None
    trainable = doc.selection.trainable
    if kind == "axolotl":
        from freezegui.core.interop.axolotl import to_axolotl

        text = to_axolotl(doc.tree, trainable, spec=spec)
    elif kind == "llamafactory":
        from freezegui.core.interop.llamafactory import num_layers_of, to_llamafactory

        layers = num_layers_of(doc.model)
        if not layers:
            raise SpecError(
                f"{doc.display_name} has no transformers config with num_hidden_layers; LLaMA-Factory "
                "freeze tuning selects hidden layers by index"
            )
        text = to_llamafactory(doc.tree, trainable, layers, spec=spec)
    else:
        raise ValueError(f"unknown export format {kind!r}")
    note = not_carried_note(doc.to_ruleset(), kind)
    return "".join(f"# {line}\n" for line in note.splitlines()) + text if note else text


def _peft(doc: Document, *, python: bool) -> str:
    from freezegui.core.interop.peft import to_peft

    sel = doc.selection
    if not sel.adapted.any():
        raise SpecError(
            "the selection has no LoRA adapters: nothing for a PEFT LoRA config to adapt "
            "(tick boxes in the LoRA column, or use the LoRA menu's suggestions)"
        )
    exported = to_peft(doc.tree, sel.trainable, sel.adapted, sel.lora_settings, spec=doc.spec or None)
    return exported.python() if python else exported.json()


__all__ = ["FORMATS", "SUFFIXES", "export_text"]
