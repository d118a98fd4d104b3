"""`python -m availability.openapi [--check] [--host HOST] [DIR]`: write (or, with `--check`, compare) the
connector files in DIR (default: the repository's `connector/` folder)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .swagger import CONNECTOR_DIR, DEFAULT_HOST, connector_files

REGENERATE = "python -m availability.openapi"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 when the files were written or are up to date, 1 when `--check` finds drift."""
    parser = argparse.ArgumentParser(
        prog=REGENERATE,
        description="Write (or check) the Power Platform custom connector files built from the API definition.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=CONNECTOR_DIR,
                        help="where the connector files go (default: the repository's connector/ folder)")
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 when a file is missing or out of date")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"host name of the function app in the connector (default: {DEFAULT_HOST})")
    args = parser.parse_args(argv)

    files = connector_files(args.host)
    if args.check:
        stale = []
        for name, text in files.items():
            path = args.directory / name
            try:
                current = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(f"{path} is {'missing' if current is None else 'out of date'}")
        if stale:
            print("\n".join(stale) + f"\nRegenerate with: {REGENERATE}", file=sys.stderr)
            return 1
        print(f"{', '.join(files)} in {args.directory} are up to date.")
        return 0

    for name, text in files.items():
        path = args.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    print(f"Wrote {', '.join(files)} to {args.directory}.")
    return 0
