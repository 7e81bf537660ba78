"""The document controller: open, save, export, drop, recent files, and the one guard in front of them.

Every way the open model or its selection can be replaced (Open Model, Open Rules, a drop, a recent
file, the command line's ``--rules``) goes through :meth:`DocumentController.may_replace`: it is
refused while a training run uses the selection, and asks before unsaved edits are dropped. The
user is asked through the injected :class:`~freezegui.app.prompt.Prompt`, never a ``QMessageBox``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QWidget

from freezegui.app.commands.loader import ModelLoader, Progress
from freezegui.app.prompt import Answer, Prompt
from freezegui.core.atomic import atomic_write_text
from freezegui.core.errors import FreezeguiError
from freezegui.core.models.options import LoadOptions

if TYPE_CHECKING:
    from freezegui.app.commands.rule_loader import RuleLoader
    from freezegui.core.editing.document import Document
    from freezegui.core.rules.ruleset import RuleSet
    from freezegui.core.runtime.apply import ApplyReport

RULE_SUFFIXES = (".yaml", ".yml")
ADAPTER_CONFIG = "adapter_config.json"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".torchscript", ".jit")
MAX_RECENT = 10
RULES_FILTER = "Rule files (*.yaml *.yml);;All files (*)"
LOCKED = "A training run is using the selection: {what} when it has ended (or press Stop)."
UNSAVED = "The freeze selection has changes that are not saved in a rule file. Save them?"


def drop_kind(path: Path) -> str | None:
    """ "rules", "adapter" (a saved PEFT adapter), "model", or None for a file the window does not take."""
    if path.name == ADAPTER_CONFIG or (path.is_dir() and (path / ADAPTER_CONFIG).exists()):
        return "adapter"
    if path.suffix.lower() in RULE_SUFFIXES:
        return "rules"
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or (path.is_dir() and (path / "config.json").exists()):
        return "model"
    return None


class DocumentController(QObject):
    """Owns the open :class:`Document` and every file operation on it."""

    documentChanged = Signal(object)  # Document | None
    loadFinished = Signal(bool)  # after every load attempt: True when the new model is open
    rulesFinished = Signal(bool)  # after every Open Rules attempt: True when the file was applied
    progress = Signal(object)  # Progress of the load in flight
    busyChanged = Signal(str)  # what is loading ("" when nothing is)
    titleChanged = Signal()  # file name or saved state changed
    status = Signal(str, int)  # a status-bar message and its timeout (ms)

    def __init__(self, prompt: Prompt, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.prompt = prompt
        self.settings = settings
        self.doc: Document | None = None
        self.locked = False
        self._rules_after_load: str | None = None  # --rules: applied once the model is open
        self._rule_loader: RuleLoader | None = None  # made on first use (superqt loads after the paint)
        self._rules_target: Document | None = None  # the document the rule file being read is for
        self._finish_load_with_rules = False  # loadFinished waits for the --rules file
        self.loader = ModelLoader(self)
        self.loader.progress.connect(self._on_progress)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)

    # ------------------------------------------------------------------------------------ guard
    def may_replace(self, what: str) -> bool:
        """The one guard: not during a training run, and not over unsaved edits unless the user agrees."""
        if self.locked:
            self.prompt.warning("Training in progress", LOCKED.format(what=what))
            return False
        return self.confirm_discard()

    def confirm_discard(self) -> bool:
        """True when nothing unsaved would be lost (saved, discarded, or nothing to lose)."""
        if self.doc is None or not self.doc.selection.is_modified:
            return True
        answer = self.prompt.unsaved_changes(UNSAVED)
        if answer is Answer.SAVE:
            return self.save_rules()
        return answer is Answer.DISCARD

    # ------------------------------------------------------------------------------------ models
    def set_document(self, doc: Document | None) -> None:
        """Show ``doc`` (replacing the previous one, unguarded: callers ask first)."""
        self.doc = doc
        self.documentChanged.emit(doc)

    def open_model(self, options: LoadOptions, *, rules: str | None = None, ask: bool = True) -> bool:
        """Load in the background; the current model stays open until the new one is in."""
        if ask and not self.may_replace(f"open {options.spec}"):
            return False
        self.loader.start(options)
        self._rules_after_load = rules
        self.busyChanged.emit(f"Loading {options.spec}…")
        return True

    def abandon_load(self) -> None:
        """Drop the loads in flight (their results are never shown)."""
        if self.loader.busy:
            self.loader.abandon()
            self.busyChanged.emit("")
        if self._rule_loader is not None:  # a rule file being read is dropped too
            self._rule_loader.cancel()

    def open_model_dialog(self) -> None:
        from freezegui.app.dialogs.open_dialog import OpenModelDialog

        parent = self.parent()
        widget = parent if isinstance(parent, QWidget) else None
        dialog = OpenModelDialog(widget, recent_specs=self.recent("models"))
        if dialog.exec():
            self.open_model(dialog.options())

    def _on_progress(self, progress: Progress) -> None:
        self.progress.emit(progress)

    def _on_loaded(self, doc: Document, options: LoadOptions) -> None:
        self.busyChanged.emit("")
        self.set_document(doc)
        self.remember("models", options.spec)
        self.status.emit(f"Opened {options.spec}: {doc.tree.total_params:,} parameters", 5000)
        rules, self._rules_after_load = self._rules_after_load, None
        self._finish_load_with_rules = self.open_rules(rules, ask=False) if rules else False
        if not self._finish_load_with_rules:
            self.loadFinished.emit(True)

    def _on_failed(self, message: str, options: LoadOptions) -> None:
        self.busyChanged.emit("")
        self.prompt.error("Could not open the model", f"{options.spec}\n\n{message}")
        self.loadFinished.emit(False)

    # -------------------------------------------------------------------------------- rule files
    def open_rules(self, path: str | Path, *, ask: bool = True) -> bool:
        """Read a rule file off the UI thread (progress, Cancel), then apply it (undoable).

        True when the read started; :attr:`rulesFinished` says how it ended."""
        if self.doc is None or (ask and not self.may_replace(f"open {Path(path).name}")):
            self.rulesFinished.emit(False)
            return False
        self._rules_target = self.doc
        self.rule_loader.start(path)
        return True

    @property
    def rule_loader(self) -> RuleLoader:
        if self._rule_loader is None:
            from freezegui.app.commands.rule_loader import RuleLoader

            parent = self.parent()
            self._rule_loader = RuleLoader(parent if isinstance(parent, QWidget) else None)
            self._rule_loader.loaded.connect(self._on_rules_read)
            self._rule_loader.failed.connect(self._on_rules_failed)
            self._rule_loader.cancelled.connect(lambda _path: self._rules_done(False))
        return self._rule_loader

    def _on_rules_read(self, rules: RuleSet, path: str) -> None:
        doc, self._rules_target = self._rules_target, None
        if doc is None or doc is not self.doc or self.locked:  # replaced or locked while reading
            self._rules_done(False)
            return
        try:
            report = doc.open_rules(path, rules)
        except FreezeguiError as exc:
            self._on_rules_failed(str(exc), path)
            return
        self.remember("rules", str(path))
        self._report_rules(Path(path).name, report)
        self.titleChanged.emit()
        self._rules_done(True)

    def _on_rules_failed(self, message: str, path: str) -> None:
        self._rules_target = None
        self.prompt.error("Could not open the rule file", message)
        self._rules_done(False)

    def _rules_done(self, applied: bool) -> None:
        self.rulesFinished.emit(applied)
        if self._finish_load_with_rules:  # the model itself is open either way
            self._finish_load_with_rules = False
            self.loadFinished.emit(True)

    def open_adapter(self, path: Path) -> bool:
        """Show a saved PEFT adapter's targets on the open model (its base model), undoable."""
        if self.doc is None:
            self.prompt.error("Could not open the adapter", f"{path}: open its base model first.")
            return False
        if not self.may_replace(f"open {path.name}"):
            return False
        try:
            problems = self.doc.open_adapter(path)
        except (OSError, FreezeguiError) as exc:
            self.prompt.error("Could not open the adapter", str(exc))
            return False
        if problems:
            self.prompt.warning("Adapter opened with problems", "\n".join(f"• {p}" for p in problems))
        self.status.emit(f"Opened adapter {path}", 5000)
        self.titleChanged.emit()
        return True

    def open_rules_dialog(self) -> None:
        """Ask about unsaved edits first, then for the file (not after one was picked)."""
        doc = self.doc
        if doc is None or not self.may_replace("open a rule file"):
            return
        start = str(doc.rules_path.parent) if doc.rules_path else str(Path.cwd())
        path = self.prompt.open_file("Open rules", start, RULES_FILTER)
        if path:
            self.open_rules(path, ask=False)

    def _report_rules(self, name: str, report: ApplyReport) -> None:
        from freezegui.app.commands.hints import did_you_mean

        problems = report.problems()
        if self.doc is not None:  # the unmatched rules come first, in order: each gets its suggestion
            for i, match in enumerate(report.unmatched):
                problems[i] += did_you_mean(self.doc.tree, match.rule.pattern.text)
        if problems:
            self.prompt.warning(
                "Rule file applied with problems",
                f"{name} was applied, but:\n\n" + "\n".join(f"• {p}" for p in problems),
            )
        self.status.emit(f"Applied {name}: {report}", 8000)

    def save_rules(self) -> bool:
        if self.doc is None:
            return False
        if self.doc.rules_path is None:
            return self.save_rules_as()
        return self._save_to(self.doc.rules_path)

    def save_rules_as(self, path: str | Path | None = None) -> bool:
        if self.doc is None:
            return False
        if path is None:
            suggested = str(self.doc.rules_path or Path.cwd() / f"{self.doc.display_name}_rules.yaml")
            path = self.prompt.save_file("Save rules", suggested, RULES_FILTER)
            if not path:
                return False
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        assert self.doc is not None
        try:
            self.doc.save_rules(path)
        except OSError as exc:
            self.prompt.error("Could not save the rule file", f"{path}\n\n{exc}")
            return False
        self.remember("rules", str(path))
        self.status.emit(f"Saved {path}", 5000)
        self.titleChanged.emit()
        return True

    # ------------------------------------------------------------------------------------ export
    def export_dialog(self, kind: str) -> bool:
        if self.doc is None:
            return False
        from freezegui.app.commands.exports import SUFFIXES

        suggested = str(Path.cwd() / f"{self.doc.display_name}{SUFFIXES[kind]}")
        path = self.prompt.save_file("Export", suggested, "All files (*)")
        return bool(path) and self.export(kind, Path(path))

    def export(self, kind: str, path: Path) -> bool:
        """Write the selection in a format of :data:`~freezegui.app.commands.exports.FORMATS`, atomically
        (lr scales and a schedule go into the Python snippet; the other formats say they drop them)."""
        from freezegui.app.commands.exports import export_text

        assert self.doc is not None
        try:
            text, warnings = export_text(self.doc, kind)
            atomic_write_text(path, text)
        except (OSError, FreezeguiError) as exc:
            self.prompt.error("Could not export", f"{path}\n\n{exc}")
            return False
        if warnings:
            self.prompt.warning("Exported, with warnings", "\n".join(f"• {w}" for w in warnings))
        self.status.emit(f"Exported {path}", 5000)
        return True

    # ---------------------------------------------------------------------------- drops, recent
    def open_path(self, path: Path) -> bool:
        """A dropped file: a rule file is applied; a checkpoint or model folder is opened."""
        kind = drop_kind(path)
        if kind == "rules":
            return self.open_rules(path)
        if kind == "adapter":
            return self.open_adapter(path)
        if kind == "model" and path.is_dir():
            return self.open_model(LoadOptions(spec=f"hf:{path}"))
        if kind == "model" and path.suffix.lower() == ".safetensors":
            if self.doc is None or not self.doc.spec:
                self.prompt.error(
                    "Could not open the weights", f"{path} holds weights only: open the architecture first."
                )
                return False
            return self.open_model(self.doc.options.replace(weights=str(path)))
        if kind == "model":
            return self.open_model(LoadOptions(spec=str(path)))
        return False

    def recent(self, kind: str) -> list[str]:
        value = self.settings.value(f"recent/{kind}", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def remember(self, kind: str, item: str) -> None:
        items = [item] + [x for x in self.recent(kind) if x != item]
        self.settings.setValue(f"recent/{kind}", items[:MAX_RECENT])


__all__ = ["DocumentController", "drop_kind"]
