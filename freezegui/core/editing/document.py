"""An open model and its freeze selection: what the app edits and saves, without any Qt."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from freezegui.core.editing.selection import Selection
from freezegui.core.errors import RuleError
from freezegui.core.models.loading import load_model, parse_spec
from freezegui.core.models.options import LoadOptions
from freezegui.core.rules.keys import Stage
from freezegui.core.rules.ruleset import Method, NormPolicy, RuleSet
from freezegui.core.runtime.apply import ApplyReport, apply_report, as_ruleset
from freezegui.core.structure.tree import ModuleTree, build_tree


@dataclass
class Document:
    """A loaded model, its module tree and the selection being edited."""

    model: nn.Module
    tree: ModuleTree
    selection: Selection
    options: LoadOptions = field(default_factory=lambda: LoadOptions(spec=""))
    rules_path: Path | None = None

    @classmethod
    def load(cls, options: LoadOptions | str, **fields: Any) -> Document:
        """Load a model (see :func:`freezegui.load_model`) and start from its current flags.

        ``options`` is a :class:`LoadOptions`, or a spec string with ``fields`` of one.
        """
        opts = options if isinstance(options, LoadOptions) else LoadOptions(spec=options, **fields)
        return cls.from_model(load_model(opts.spec, **opts.load_kwargs()), opts)

    @classmethod
    def from_model(cls, model: nn.Module, options: LoadOptions | str = "") -> Document:
        """A document over a model already built (``options`` say how it was, for rule files)."""
        opts = options if isinstance(options, LoadOptions) else LoadOptions(spec=options)
        tree = build_tree(model)
        return cls(model=model, tree=tree, selection=Selection(tree), options=opts)

    @property
    def spec(self) -> str:
        return self.options.spec

    @property
    def display_name(self) -> str:
        if not self.spec:
            return type(self.model).__name__
        try:
            return parse_spec(self.spec).display_name
        except Exception:  # a title must never fail
            return self.spec

    @property
    def num_classes(self) -> int | None:
        return self.options.num_classes

    @property
    def method(self) -> Method:
        """The rule file's ``method:`` (kept by the selection, so Undo covers it)."""
        return self.selection.method

    @property
    def batchnorm(self) -> NormPolicy:
        """The rule file's ``batchnorm:`` (kept by the selection, so Undo covers it)."""
        return self.selection.batchnorm

    @property
    def schedule(self) -> list[Stage]:
        """The gradual-unfreezing stages (kept by the selection, so Undo covers them)."""
        return self.selection.schedule

    def set_schedule(self, stages: Sequence[Stage], *, label: str = "Edit schedule") -> bool:
        """Replace the stages as one undoable edit; a problem (a stage rule matching nothing, stages
        out of order) is a one-line :class:`RuleError` and nothing changes."""
        from freezegui.core.editing.stages import schedule_problems

        problems = schedule_problems(self.tree, stages)
        if problems:
            raise RuleError(problems[0])
        return self.selection.set_schedule(stages, label=label)

    def stage_view(self, k: int) -> Document:
        """This document as the tree looks from stage ``k`` on (0: before any stage), read-only:
        a copy whose selection holds that stage's trainable tensors and scales."""
        from freezegui.core.editing.stages import stage_selection

        return dataclasses.replace(self, selection=stage_selection(self.selection, k))

    def snapshot(self) -> Document:
        """This document with a detached copy of its selection (for a worker thread)."""
        return dataclasses.replace(self, selection=self.selection.copy())

    # ------------------------------------------------------------------------------------ rules
    def to_ruleset(self) -> RuleSet:
        """The shortest rule list for the current selection and its lr scales, with the model's provenance."""
        rs = self.selection.to_rules()
        rs.model.spec = self.spec or None
        rs.model.num_classes = self.num_classes
        rs.model.fingerprint = self.tree.fingerprint()
        rs.model.parameters = self.tree.total_params
        return rs

    def export_text(self, kind: str) -> str:
        """The selection as ``python1``/``python2`` (a snippet, method 1 or 2) or ``names``. Scales and a
        schedule make the Python snippet per-stage; the names list keeps stage 0 and says so."""
        rules = self.to_ruleset()
        if kind == "names":
            from freezegui.core.interop.common import not_carried_note
            from freezegui.core.interop.names import to_names

            note = not_carried_note(rules, "names")
            text = to_names(self.tree, self.selection.trainable)
            return "".join(f"# {line}\n" for line in note.splitlines()) + text if note else text
        method = "requires_grad" if kind == "python1" else "lr_zero"
        spec = self.spec or None
        if rules.has_scales or rules.schedule:
            from freezegui.core.interop.python_staged import to_python_staged

            rules.method = Method(method)
            return to_python_staged(self.tree, rules, spec=spec)
        from freezegui.core.interop.python import to_python

        return to_python(self.tree, self.selection.trainable, method, spec=spec, batchnorm=self.batchnorm)

    def apply_ruleset(
        self, rules: RuleSet | str | os.PathLike[str], *, label: str = "Apply rules"
    ) -> ApplyReport:
        """Set everything the rules say (flags, scales, adapters and their settings, schedule, method,
        batchnorm, layer decay) as ONE undoable edit. Rules that match nothing are reported, not fatal."""
        from freezegui.core.lr.evaluate import evaluate_stage

        rs = as_ruleset(rules)
        state = evaluate_stage(self.tree, rs, 0)
        report = apply_report(self.tree, rs, state)  # matched once, by the evaluator
        sel = self.selection
        no_lora = np.zeros(len(self.tree.modules), dtype=bool)
        sel.set_state(
            label=label,
            trainable=state.trainable,
            scales=np.where(state.trainable, state.scales, sel.scales),  # frozen tensors keep theirs
            adapted=state.adapted if state.adapted is not None else no_lora,
            lora_settings=rs.lora.settings if rs.lora is not None else None,
            schedule=rs.schedule,
            method=rs.method,
            batchnorm=rs.batchnorm,
            layer_decay=rs.layer_decay,
        )
        return report

    def open_rules(self, path: str | os.PathLike[str], rules: RuleSet | None = None) -> ApplyReport:
        """Apply a rule file and make it the document's file (the selection then counts as saved).

        ``rules`` is the file already read (the app reads it in a worker thread)."""
        rs = RuleSet.load(path) if rules is None else rules
        report = self.apply_ruleset(rs, label=f"Open {Path(path).name}")
        self.rules_path = Path(path)
        self.selection.mark_saved()
        return report

    def open_adapter(self, path: str | os.PathLike[str]) -> list[str]:
        """Show a saved PEFT LoRA adapter (a folder with ``adapter_config.json``, or that file) on
        this model as the selection (undoable); returns what did not fit (entries matching nothing,
        a saved tensor count that disagrees with the config)."""
        from freezegui.core.interop.peft import read_adapter_folder

        imported, problems = read_adapter_folder(Path(path), self.tree)
        assert imported.rules.lora is not None
        self.selection.set_state(  # one undo step, the settings included
            label=f"Open adapter {Path(path).name}",
            adapted=imported.adapted,
            trainable=imported.trainable,
            lora_settings=imported.rules.lora.settings,
        )
        return problems

    def save_rules(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the rule file atomically and mark the selection saved."""
        target = Path(path) if path is not None else self.rules_path
        if target is None:
            raise ValueError("no file name to save to")
        self.to_ruleset().save(target)
        self.rules_path = target
        self.selection.mark_saved()
        return target
