"""The Schedule editor's commands: add, extend, remove and move stages (undoable, refused while locked).

Each builds a new stage list with :mod:`freezegui.core.editing.stages` and hands it to
:meth:`Document.set_schedule`, which checks it as ``freezegui check`` does; a problem is a one-line
message through the prompt and nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from freezegui.app.commands.edits import EditCommands

if TYPE_CHECKING:  # the core imports torch: the window paints before that
    from freezegui.core.editing.document import Document
    from freezegui.core.rules.keys import Unit
    from freezegui.core.rules.ruleset import Rule
    from freezegui.core.structure.tree import ModuleNode, ParamEntry


class ScheduleCommands(EditCommands):
    """Stage edits on the open document; each returns True when the schedule changed."""

    def add_stage(self, unit: Unit, at: int, text: str, lr_scale: float | None = None) -> bool:
        """Rules (``train: P; freeze: Q``) from ``unit`` ``at`` on: a new stage, or added to the
        stage already at that point."""
        from freezegui.core.editing import stages as se

        def run(d: Document) -> bool:
            rules = se.parse_stage_rules(text, lr_scale)
            _check_matches(d, rules)
            return d.set_schedule(se.insert_stage(d.schedule, unit, at, rules), label=f"Stage at {unit} {at}")

        return bool(self._edit(run))

    def replace_stage(self, k: int, unit: Unit, at: int, text: str, lr_scale: float | None = None) -> bool:
        """Stage ``k`` (1-based) becomes these rules from ``unit`` ``at`` on."""
        from freezegui.core.editing import stages as se

        def run(d: Document) -> bool:
            rules = se.parse_stage_rules(text, lr_scale)
            _check_matches(d, rules)
            return d.set_schedule(se.replace_stage(d.schedule, k, unit, at, rules), label=f"Edit stage {k}")

        return bool(self._edit(run))

    def unfreeze_row(
        self, item: ModuleNode | ParamEntry | None, stage: int | None, unit: Unit = "step", at: int = 0
    ) -> bool:
        """``train: <path of item>`` in stage ``stage`` (1-based), or in a stage at ``unit`` ``at``."""
        if item is None or not item.path:
            self.prompt.error("Cannot do that", "Select a module row (not the whole model) to unfreeze it.")
            return False
        if stage is None:
            return self.add_stage(unit, at, f"train: {item.path}")
        from freezegui.core.editing import stages as se

        path, k = item.path, stage
        return bool(
            self._edit(
                lambda d: d.set_schedule(
                    se.add_rules(d.schedule, k, se.parse_stage_rules(f"train: {path}")),
                    label=f"Unfreeze {path} in stage {k}",
                )
            )
        )

    def remove_stage(self, k: int) -> bool:
        from freezegui.core.editing import stages as se

        return bool(
            self._edit(lambda d: d.set_schedule(se.remove_stage(d.schedule, k), label=f"Remove stage {k}"))
        )

    def move_stage(self, k: int, delta: int) -> bool:
        """Move stage ``k`` up (``delta`` < 0) or down; stages of one unit must stay in order."""
        from freezegui.core.editing import stages as se

        return bool(
            self._edit(lambda d: d.set_schedule(se.move_stage(d.schedule, k, delta), label=f"Move stage {k}"))
        )


__all__ = ["ScheduleCommands"]


def _check_matches(doc: Document, rules: list[Rule]) -> None:
    """A typed rule that matches nothing is refused with a suggestion ("did you mean bert.encoder…?")."""
    from freezegui.app.commands.hints import unmatched_hint

    hint = unmatched_hint(doc.tree, rules)
    if hint:
        raise ValueError(hint)
