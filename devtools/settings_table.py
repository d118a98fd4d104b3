"""The settings table of docs/settings.md, written from the settings' one declaration (`availability.settings`).

    python -m devtools.settings_table          rewrite the table in docs/settings.md
    python -m devtools.settings_table --check  exit 1 when the table is not what the declarations say
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from availability.settings import Declared, declarations

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "settings.md"
BEGIN, END = "<!-- settings table: written by python -m devtools.settings_table -->", "<!-- end of settings table -->"


def rows(platform: bool) -> list[str]:
    lines = ["| name | meaning | default |", "|---|---|---|"]
    for declared in declarations():
        if declared.platform == platform:
            lines.append(row(declared))
    return lines


def row(declared: Declared) -> str:
    secret = " (a secret: never shown)" if declared.secret else ""
    return f"| `{declared.name}` | {declared.about}{secret} | {declared.default} |"


def table() -> str:
    """Every app setting, then what the app reads from the platform."""
    return "\n".join([BEGIN, "", *rows(platform=False), "", "Read from the platform or the operating system, not set "
                      "as app settings:", "", *rows(platform=True), "", END])


def rewritten(page: str) -> str:
    """`page` with its table replaced by the one the declarations give."""
    start, end = page.index(BEGIN), page.index(END) + len(END)
    return page[:start] + table() + page[end:]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the table is current")
    args = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    wanted = rewritten(page)
    if args.check:
        if wanted != page:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python -m devtools.settings_table", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
