"""`python -m availability.openapi [--check] [DIR]`: write (or, with `--check`, compare) the connector files in DIR
(default: the repository's `connector/` folder).

`python -m availability.openapi --release DIR --publisher NAME --website URL --privacy-policy URL --support-email
EMAIL [...]`: write a certification submission to DIR: the definition and properties with the publisher's facts,
the icon, and the readme naming the publisher. Facts that are missing or read like placeholders are refused, each
naming its option."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .publisher import CATEGORIES, Publisher
from .swagger import CONNECTOR_DIR, ICON_FILE, README_FILE, connector_files

REGENERATE = "python -m availability.openapi"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 when the files were written or are up to date, 1 when `--check` finds drift, 2 when
    a release lacks the publisher's facts."""
    parser = argparse.ArgumentParser(
        prog=REGENERATE,
        description="Write (or check) the Power Platform custom connector files built from the API definition.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=CONNECTOR_DIR,
                        help="where the connector files go (default: the repository's connector/ folder)")
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 when a file is missing or out of date")
    release = parser.add_argument_group(
        "certification submission", "With --release DIR, the files for a submission are written to DIR with the "
        "publisher's own facts; the checked-in connector names no publisher.")
    release.add_argument("--release", type=Path, metavar="DIR", help="write a certification submission to DIR")
    release.add_argument("--publisher", help="the publishing company or organisation")
    release.add_argument("--stack-owner", help="the owner of the service behind the connector (default: the "
                                               "publisher)")
    release.add_argument("--website", help="the publisher's website (https)")
    release.add_argument("--privacy-policy", help="the publisher's privacy policy (https)")
    release.add_argument("--support-email", help="the support contact's email address")
    release.add_argument("--support-url", help="the support contact's page (https; default: the website)")
    release.add_argument("--categories", default="Communication;Sales and CRM",
                         help=f"';'-separated among: {', '.join(CATEGORIES)} (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.release is not None:
        publisher = Publisher(name=args.publisher, stack_owner=args.stack_owner, website=args.website,
                              privacy_policy=args.privacy_policy, support_email=args.support_email,
                              support_url=args.support_url,
                              categories=tuple(c.strip() for c in args.categories.split(";") if c.strip()))
        return write_release(publisher, args.release, args.directory)

    files = connector_files()
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
            _say("\n".join(stale) + f"\nRegenerate with: {REGENERATE}", error=True)
            return 1
        _say(f"{', '.join(files)} in {args.directory} are up to date.")
        return 0

    for name, text in files.items():
        path = args.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    _say(f"Wrote {', '.join(files)} to {args.directory}.")
    return 0


def write_release(publisher: Publisher, target: Path, source: Path = CONNECTOR_DIR) -> int:
    """Write the submission for `publisher` to `target` from the connector in `source`; 2 (and why, on stderr)
    when the publisher's facts cannot go into one."""
    problems = publisher.problems()
    if problems:
        _say("Not a release: " + "; ".join(problems) + ".", error=True)
        return 2
    assert publisher.name
    target.mkdir(parents=True, exist_ok=True)
    for name, text in connector_files(publisher).items():
        if "/" in name:  # the MCP server's connector and the topic are not part of this connector's submission
            continue
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    (target / ICON_FILE).write_bytes((source / ICON_FILE).read_bytes())
    readme = (source / README_FILE).read_text(encoding="utf-8")
    # The certified template's heading names the publisher; the checked-in readme says who that is instead.
    readme = re.sub(r"^## Publisher\b.*?(?=^## )", f"## Publisher: {publisher.name}\n\n", readme, count=1,
                    flags=re.MULTILINE | re.DOTALL)
    (target / README_FILE).write_text(readme, encoding="utf-8", newline="\n")
    _say(f"Wrote a certification submission for {publisher.name} to {target}.")
    return 0


def _say(text: str, *, error: bool = False) -> None:
    (sys.stderr if error else sys.stdout).write(text + "\n")
