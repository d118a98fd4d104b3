"""`python -m sandbox --scenario FILE [--port N] [--cert-dir DIR] [--identity-header H] [--ready-file PATH]`."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from sandbox.files import write_private
from sandbox.lifeline import watch_parent
from sandbox.scenario import ScenarioError, load_scenario
from sandbox.server import SandboxServer

DEMO = Path(__file__).parent / "scenarios" / "demo.toml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--scenario", type=Path, default=DEMO, help="scenario TOML (default: the demo)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--cert-dir", type=Path, help="where to write sandbox-ca.pem (default: a temporary folder)")
    parser.add_argument("--identity-header", help="value expected in X-IDENTITY-HEADER (default: the variable "
                        "SANDBOX_IDENTITY_HEADER, else random); the variable keeps it off the process list")
    parser.add_argument("--ready-file", type=Path, help="write the sandbox's info JSON here once it listens")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s sandbox %(message)s")

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"sandbox: --port {args.port} is not a port number", file=sys.stderr)
        return 2

    own_cert_dir = args.cert_dir is None
    cert_dir = Path(tempfile.mkdtemp(prefix="sandbox-")) if own_cert_dir else args.cert_dir
    server = SandboxServer(scenario, port=args.port, cert_dir=cert_dir,
                           identity_header=args.identity_header or os.environ.get("SANDBOX_IDENTITY_HEADER"))
    try:
        server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"sandbox: port {args.port} on 127.0.0.1 is already in use", file=sys.stderr)
        else:
            print(f"sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    watch_parent(stopping.set)  # a stack that died without stopping us must not leave us running
    try:
        if args.ready_file:
            try:
                write_private(args.ready_file, json.dumps(server.info(), indent=2) + "\n")
            except OSError as exc:
                print(f"sandbox: cannot write the ready-file {args.ready_file}: {exc.strerror or exc}",
                      file=sys.stderr)
                return 2
        logging.getLogger("sandbox").info("listening on %s (scenario %s)", server.url, args.scenario)
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
        if own_cert_dir:
            shutil.rmtree(cert_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
