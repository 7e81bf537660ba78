"""The Cost dock's stage picker: which stage of the schedule the plan is for (shown with a schedule)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel


class StagePicker(QComboBox):
    """ "before any stage" and one item per stage; hidden while the document has no schedule."""

    def __init__(self, label: QLabel) -> None:
        super().__init__()
        self.label = label  # the form row's label, shown and hidden with the picker
        self.setObjectName("costStage")
        self.setToolTip("The stage of the schedule this plan is for (a stage may train more, or less)")
        self.setVisible(False)
        label.setVisible(False)

    def follow(self, stages: list[Any]) -> None:
        """Offer the document's stages now, keeping the pick when it still exists."""
        from freezegui.core.editing.stages import stage_title

        labels = ["before any stage", *(stage_title(s, k) for k, s in enumerate(stages, 1))]
        if labels == [self.itemText(i) for i in range(self.count())]:
            return
        keep = min(max(self.currentIndex(), 0), len(labels) - 1)
        self.blockSignals(True)
        self.clear()
        self.addItems(labels)
        self.setCurrentIndex(keep)
        self.blockSignals(False)
        self.setVisible(len(labels) > 1)
        self.label.setVisible(len(labels) > 1)

    def stage(self) -> int:
        """The picked stage (0: before any stage)."""
        return max(self.currentIndex(), 0)


__all__ = ["StagePicker"]
