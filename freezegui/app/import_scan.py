"""PySide6's check of every module imported after it, made cheap.

For its opt-in ``from __feature__ import snake_case`` switches, shiboken wraps ``__import__`` and
asks of each new module whether its source mentions "PySide6", through ``inspect.getsource``.
That reads and decodes every file torch and the model library import and keeps them all in
``linecache``: about 1,800 files and 40 MB of text for torch + torchvision, ~0.9 s of CPU on the
loader's thread (a quarter of the app's filled-tree time on 2 cores; a bare script never pays it).
:func:`cheapen` gives shiboken the same answer from the file's bytes: a few ms, nothing cached.
"""

from __future__ import annotations

import sys
from types import ModuleType

_FEATURE_MODULE = "shibokensupport.feature"
_CHECK = "_mod_uses_pyside"  # shiboken's private name; absent in another PySide6: nothing is changed


def mentions_pyside(module: ModuleType) -> bool:
    """Whether the module's source file says "PySide6" (shiboken's question, without ``linecache``).

    Modules without a ``.py`` source (built-in, extension, bytecode-only) answer False, as
    ``inspect.getsource`` failing does for shiboken."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if not isinstance(origin, str) or not origin.endswith(".py"):
        return False
    try:
        with open(origin, "rb") as source:
            return b"PySide6" in source.read()
    except OSError:
        return False


def cheapen() -> bool:
    """Install :func:`mentions_pyside` as shiboken's check (once PySide6 is imported); whether it could."""
    feature = sys.modules.get(_FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, _CHECK, None)):
        return False
    setattr(feature, _CHECK, mentions_pyside)
    return True


__all__ = ["cheapen", "mentions_pyside"]
