"""A private Varnish in front of a local host: a real shared cache, as a CDN would be, for tests and the bench.

Debian's `varnish` package, as it comes: the builtin VCL with only a backend, so what it keeps, coalesces and
passes through is decided by the answers' own headers. Each instance listens on a free loopback port (`-a :0`,
read back through `varnishadm`), keeps its working directory in a fresh temporary folder and runs without a
jail (`-j none`: no dependency on the package's users), so several can run beside a system service on :6081.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

START_SECONDS = 20  # start-up compiles the VCL with gcc: about half a second on an idle machine


def varnishd_path() -> str | None:
    """Where `varnishd` is: on PATH, or in /usr/sbin, which a user's PATH often lacks."""
    return shutil.which("varnishd") or shutil.which("varnishd", path="/usr/sbin:/usr/local/sbin")


class Varnish:
    """`varnishd` in front of `backend` (`host:port`) until `stop()`; `url` is where callers ask it."""

    def __init__(self, backend: str, *, storage_mb: int = 32) -> None:
        program = varnishd_path()
        if program is None:
            raise FileNotFoundError("varnishd is not installed (on Debian: apt-get install --no-install-recommends "
                                    "varnish)")
        host, port = backend.rsplit(":", 1)
        self.workdir = Path(tempfile.mkdtemp(prefix="varnish-"))
        self.name = self.workdir / "n"
        vcl = self.workdir / "backend.vcl"
        vcl.write_text(f'vcl 4.1;\nbackend default {{ .host = "{host}"; .port = "{port}"; }}\n', encoding="utf-8")
        self._admin = shutil.which("varnishadm") or "varnishadm"
        self._stat = shutil.which("varnishstat") or "varnishstat"
        self._log = (self.workdir / "varnishd.log").open("w")  # a file, not a pipe: nobody reads it meanwhile
        self.process = subprocess.Popen(
            [program, "-F", "-n", str(self.name), "-j", "none", "-a", "127.0.0.1:0", "-T", "127.0.0.1:0",
             "-f", str(vcl), "-s", f"malloc,{storage_mb}m"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.port = self._listening_port()
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{self.port}"

    def _listening_port(self) -> int:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("varnishd stopped at start-up:\n" + self.log())
            asked = subprocess.run([self._admin, "-n", str(self.name), "-t", "2", "debug.listen_address"],
                                   capture_output=True, text=True, check=False)
            words = asked.stdout.split()  # "a0 127.0.0.1 <port>"
            if asked.returncode == 0 and len(words) >= 3:
                return int(words[2])
            if time.monotonic() > deadline:
                raise TimeoutError(f"varnishd did not listen within {START_SECONDS} s:\n" + self.log())
            time.sleep(0.05)

    def counters(self) -> dict[str, int]:
        """Varnish's MAIN counters (`cache_hit`, `cache_miss`, `backend_req`, ...), for diagnosis: workers batch
        them, so exact counts are taken at the backend."""
        out = subprocess.run([self._stat, "-n", str(self.name), "-1", "-j", "-f", "MAIN.*"], capture_output=True,
                             text=True, check=True, timeout=10).stdout
        return {name.removeprefix("MAIN."): entry["value"] for name, entry in json.loads(out)["counters"].items()}

    def log(self) -> str:
        try:
            return (self.workdir / "varnishd.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop it (the manager stops its child first) and remove its working directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:  # the manager and its child, which has its session
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Varnish:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
