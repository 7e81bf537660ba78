"""Message boxes that fit on the screen: a short text, the rest behind "Show Details".

Third-party errors can be kilobytes long (a list of every model type transformers knows); a
``QMessageBox`` grows with its text until it is taller than the screen and its OK button is off it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

MAX_CHARS = 400
MAX_LINES = 12


def split_message(text: str, max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES) -> tuple[str, str]:
    """``(shown, details)``: the text itself when short, else its start cut at a word with "…" and the
    whole text as details ("" when nothing was cut)."""
    lines = text.splitlines()
    if len(text) <= max_chars and len(lines) <= max_lines:
        return text, ""
    shown = "\n".join(lines[:max_lines])
    if len(shown) > max_chars:
        cut = shown.rfind(" ", 0, max_chars)
        shown = shown[: cut if cut > max_chars // 2 else max_chars]
    return shown.rstrip() + " …\n\n(Show Details for the whole message.)", text


def message_box(
    parent: QWidget | None, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Critical
) -> QMessageBox:
    """A box with ``text`` cut to fit and the whole of it under "Show Details" (not shown yet)."""
    box = QMessageBox(icon, title, "", QMessageBox.StandardButton.Ok, parent)
    shown, details = split_message(text)
    box.setText(shown)
    if details:
        box.setDetailedText(details)
    return box


def show_message(
    parent: QWidget | None, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Critical
) -> None:
    """Show a message that fits the screen (modal, like ``QMessageBox.critical``)."""
    message_box(parent, title, text, icon).exec()


RULE_HELP = (  # shown in a fixed-pitch font (Help ▸ Rule syntax): the columns line up
    "Search and rule patterns address dotted module paths by whole segments:\n\n"
    "  fc                          fc.weight, fc.bias — never fc1 or head.fc\n"
    "  encoder.layer.1[01]         layers 10 and 11\n"
    "  encoder.layer.*.attention   * = one segment\n"
    "  **.bn*                      ** = any number of segments\n"
    "  re:layer[12]\\..*            a regular expression on the whole path\n\n"
    "Paths start at the model's root, as named_parameters() names them:\n"
    "BERT's encoder is bert.encoder, not encoder.\n\n"
    "In a rule file every parameter starts at `default`; the last matching rule wins."
)
