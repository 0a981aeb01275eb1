"""Entry script of the frozen app: the same command line as `station-app`, plus the `--self-check` flag."""

from __future__ import annotations

import multiprocessing
import os
import sys


def _argv() -> list[str]:
    # The installer and its docs speak of `station-app --self-check`; until the CLI has the flag
    # itself, map it onto the `self-check` subcommand here.
    args = sys.argv[1:]
    return ["self-check" if a == "--self-check" else a for a in args]


def _streams() -> None:
    # A windowed Windows build has no console: stdout/stderr are None, and the first print
    # (argparse, a warning) would crash the app before any window shows.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


if __name__ == "__main__":
    multiprocessing.freeze_support()
    _streams()
    from station_app.cli.main import main

    raise SystemExit(main(_argv()))
