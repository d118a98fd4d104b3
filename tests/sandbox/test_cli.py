"""`python -m sandbox` as a process: the ready-file, one log line per request, SIGTERM, and exit code 2 errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.sandbox.conftest import CLIENT, SCENARIOS, SECRET, TENANT

pytestmark = pytest.mark.subprocess  # starts processes of its own

ROOT = Path(__file__).resolve().parents[2]


def run_sandbox(*args: str) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "sandbox", *args], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    raise AssertionError("the sandbox never wrote its ready-file")


def test_serves_until_sigterm(tmp_path):
    ready = tmp_path / "state" / "ready.json"
    process = run_sandbox("--scenario", str(SCENARIOS / "basic.toml"), "--cert-dir", str(tmp_path / "certs"),
                          "--identity-header", "let-me-in", "--ready-file", str(ready))
    try:
        info = wait_for(ready, process)
        assert set(info) == {"url", "caBundle", "identityEndpoint", "identityHeader", "userAssignedIdentityClientId",
                             "tenantId", "clientId", "secretName", "workstreams", "queues", "conversations"}
        assert info["url"].startswith("https://127.0.0.1:")
        assert info["caBundle"] == str(tmp_path / "certs" / "sandbox-ca.pem")
        assert info["identityEndpoint"] == info["url"] + "/msi/token"
        assert info["identityHeader"] == "let-me-in"
        assert (info["tenantId"], info["clientId"]) == (TENANT, CLIENT)
        assert len(info["workstreams"]) == 4 and {"id", "workstreamId"} == set(info["conversations"][0])
        token = requests.post(f"{info['url']}/{TENANT}/oauth2/v2.0/token", verify=info["caBundle"], timeout=10, data={
            "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET,
            "scope": f"{info['url']}/.default"}).json()["access_token"]
        who = requests.get(f"{info['url']}/api/data/v9.2/WhoAmI?$select=UserId", verify=info["caBundle"],
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert who.status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert not ready.exists()
    lines = stderr.splitlines()
    assert any(f"POST /{TENANT}/oauth2/v2.0/token 200" in line for line in lines)
    assert any("GET /api/data/v9.2/WhoAmI 200" in line for line in lines)
    for secret in (SECRET, token, "let-me-in", "$select"):
        assert secret not in stderr


def test_bad_toml_exits_2_naming_the_line(tmp_path):
    scenario = tmp_path / "broken.toml"
    scenario.write_text('[org]\ntenant_id = "unterminated\n', encoding="utf-8")
    process = run_sandbox("--scenario", str(scenario))
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert stderr.strip().count("\n") == 0
    assert "line 2" in stderr and str(scenario) in stderr


def test_unknown_queue_id_exits_2_naming_it(tmp_path):
    scenario = tmp_path / "unknown.toml"
    text = (SCENARIOS / "basic.toml").read_text(encoding="utf-8")
    scenario.write_text(text.replace('default_queue = "00000004-0000-0000-0000-00000000000a"',
                                     'default_queue = "00000099-0000-0000-0000-00000000000a"'), encoding="utf-8")
    process = run_sandbox("--scenario", str(scenario))
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "unknown queue id '00000099-0000-0000-0000-00000000000a'" in stderr
    assert "workstreams[1].default_queue" in stderr


def test_a_busy_port_exits_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = run_sandbox("--scenario", str(SCENARIOS / "basic.toml"), "--port", str(port),
                              "--cert-dir", str(tmp_path))
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert stderr.strip() == f"sandbox: port {port} on 127.0.0.1 is already in use"
