"""Help ▸ Rule syntax: the pattern table in a fixed-pitch font, whole (no "Show Details"), non-modal."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QFontMetrics
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from freezegui.app.messages import RULE_HELP


class RuleHelpDialog(QDialog):
    """The rule syntax, aligned: a read-only fixed-pitch text sized to show every line whole."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ruleHelpDialog")
        self.setWindowTitle("Rule syntax")
        self.text = QPlainTextEdit(RULE_HELP)
        self.text.setObjectName("ruleHelpText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text.setFont(font)
        metrics = QFontMetrics(font)
        lines = RULE_HELP.splitlines()
        width = max(metrics.horizontalAdvance(line) for line in lines) + 40
        self.text.setMinimumSize(width, metrics.lineSpacing() * (len(lines) + 2) + 12)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


def show_rule_help(parent: QWidget | None) -> RuleHelpDialog:
    """Show the help beside the window (not modal: one can type a pattern while reading it)."""
    dialog = parent.findChild(RuleHelpDialog) if parent is not None else None
    if dialog is None:
        dialog = RuleHelpDialog(parent)
    dialog.show()
    dialog.raise_()
    return dialog


__all__ = ["RULE_HELP", "RuleHelpDialog", "show_rule_help"]
