#!/usr/bin/env python3
"""Developer commands. Standard library only; works on Linux, macOS and Windows.

    python3 dev.py start [--port N] [--instances N] [--scenario FILE] [--no-backfill] [--state-dir DIR]
                         [--local-settings FILE]        set up, then run the local stack until Ctrl-C
    python3 dev.py test [--fast] [pytest args]          set up, then ruff and mypy, then the test suite; --fast:
                                                        only the tests that start no process (no Node); with
                                                        test paths, those tests alone (no ruff nor mypy)
    python3 dev.py lint                                 set up, then ruff and mypy alone
    python3 dev.py bench [--only GROUPS] [args]         set up, then run the benchmarks (--only best-times: those
                                                        alone, merged into the last results)

Set-up (first use, and again whenever a requirements file changes): a `.venv` with
requirements-dev.txt, and Azurite from npm under `.tools/azurite`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools"
AZURITE_VERSION = "3.37.0"
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
MIN_PYTHON = (3, 11)
WORKERS = 2  # test processes for the whole suite: one per core, so that no timing test waits on a third for CPU


def say(text: str) -> None:
    print(f"[dev] {text}", flush=True)


def fail(text: str) -> NoReturn:
    print(f"[dev] error: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    """Create .venv and install the pinned requirements when they changed since the last install."""
    if sys.version_info < MIN_PYTHON:
        fail(f"Python {'.'.join(map(str, MIN_PYTHON))} or newer is needed (this is {sys.version.split()[0]}).")
    python = venv_python()
    if not python.exists():
        say(f"Creating the virtual environment in {VENV.name}/ ...")
        try:
            venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
        except Exception as exc:  # e.g. Debian without python3-venv
            fail(f"could not create {VENV}: {exc}. On Debian/Ubuntu install python3-venv first.")
    digest = hashlib.sha256()
    for name in REQUIREMENTS:
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / ".requirements.sha256"
    if not stamp.exists() or stamp.read_text().strip() != digest.hexdigest():
        say("Installing Python requirements (requirements-dev.txt) ...")
        command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                   "-r", str(ROOT / "requirements-dev.txt")]
        if subprocess.call(command, cwd=ROOT) != 0:
            fail("pip could not install requirements-dev.txt (see above).")
        stamp.write_text(digest.hexdigest())
    return python


def ensure_azurite() -> None:
    """Install Azurite from npm into .tools/azurite (git-ignored) unless the pinned version is there."""
    target = TOOLS / "azurite"
    marker = target / "node_modules" / "azurite" / "package.json"
    if marker.exists() and f'"version": "{AZURITE_VERSION}"' in marker.read_text(encoding="utf-8"):
        return
    npm = shutil.which("npm")
    if not npm:
        fail("npm is needed to install Azurite (Table Storage emulator). Install Node.js 18+ with npm.")
    say(f"Installing Azurite {AZURITE_VERSION} from npm into {target.relative_to(ROOT)}/ ...")
    target.mkdir(parents=True, exist_ok=True)
    package = target / "package.json"
    if not package.exists():
        package.write_text('{"name": "local-tools", "private": true}\n', encoding="utf-8")
    command = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"azurite@{AZURITE_VERSION}"]
    if subprocess.call(command, cwd=target) != 0:
        fail("npm could not install Azurite (see above).")


def lint(python: Path) -> int:
    """ruff, then mypy, as pyproject.toml configures them; 0 when both find nothing."""
    for name, args in (("ruff", ["check", "."]), ("mypy", [])):
        say(f"{name} ...")
        if subprocess.call([str(python), "-m", name, *args], cwd=ROOT) != 0:
            say(f"{name} found problems (above); fix them, then run this again.")
            return 1
    return 0


def has_paths(args: list[str]) -> bool:
    """True when pytest `args` name tests to run (anything not an option nor an option's value)."""
    return any(not arg.startswith("-") and (i == 0 or args[i - 1] not in ("-k", "-m", "-p", "--durations"))
               for i, arg in enumerate(args))


def run_in_venv(python: Path, args: list[str]) -> int:
    """Run the venv's python with args; Ctrl-C and SIGTERM reach the child, which shuts down itself."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if os.name != "nt":
        os.chdir(ROOT)
        os.execve(str(python), [str(python), *args], env)  # noqa: S606 - the venv's own python, no shell
    process = subprocess.Popen([str(python), *args], cwd=ROOT, env=env)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the child got the Ctrl-C too; wait for it to stop


PATH_OPTIONS = ("--scenario", "--state-dir", "--local-settings")


def absolute_paths(args: list[str], options: tuple[str, ...]) -> list[str]:
    """The values of path `options` made absolute here: the stack runs from the repository root."""
    result: list[str] = []
    wanted = False
    for arg in args:
        name, equals, value = arg.partition("=")
        if wanted:
            result.append(os.path.abspath(os.path.expanduser(arg)))
            wanted = False
        elif name in options and equals:
            result.append(f"{name}={os.path.abspath(os.path.expanduser(value))}")
        else:
            wanted = arg in options
            result.append(arg)
    return result


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in ("start", "test", "lint", "bench"):
        fail(f"unknown command '{command}'. Use start, test, lint or bench.")
    python = ensure_venv()
    fast = command == "test" and "--fast" in rest
    if command != "lint" and not fast:
        ensure_azurite()  # the fast layer starts no process: it needs no Node
    if command == "start":
        return run_in_venv(python, ["-m", "devtools.stack", "start", *absolute_paths(rest, PATH_OPTIONS)])
    if command == "lint":
        return lint(python)
    if command == "test":
        if has_paths(rest):
            return run_in_venv(python, ["-m", "pytest", *rest])
        # The whole suite (or its fast layer) is checked by ruff and mypy first: a new lint or type error fails it.
        if lint(python) != 0:
            return 1
        # The whole suite in WORKERS processes, a module each at a time: its tests mostly wait on timers and the
        # network, so even two cores run several at once.
        workers = [] if any(arg.startswith("-n") for arg in rest) or "--fast" in rest else ["-n", str(WORKERS),
                                                                                             "--dist", "loadfile"]
        return run_in_venv(python, ["-m", "pytest", *workers, *rest, "tests"])
    return run_in_venv(python, ["-m", "bench", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
