"""The ``freezegui`` command: a subcommand runs the CLI, anything else opens the desktop app.

The only place that knows both front ends; each is imported only when chosen, so the CLI never
imports Qt and the app never imports the CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

CLI_FIRST_ARGS = ("-h", "--help", "--version")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from freezegui.cli.main import COMMANDS, unknown_command

    if args and (args[0] in COMMANDS or args[0] in CLI_FIRST_ARGS):
        from freezegui.cli.main import main as cli_main

        return cli_main(args)
    if args and (message := unknown_command(args[0])) is not None:
        # A mistyped subcommand would open the window (or abort without a display).
        print(f"freezegui: error: {message}", file=sys.stderr)
        return 2
    from freezegui.app.main import run_app  # imports no Qt: it says what to install if Qt is missing

    return run_app(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
