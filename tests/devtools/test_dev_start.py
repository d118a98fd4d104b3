"""`python3 dev.py start`: brings the stack up, answers, and leaves nothing behind on Ctrl-C."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.stack import free_port

pytestmark = pytest.mark.subprocess  # starts processes of its own

ROOT = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_start_runs_the_stack_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_"))}
    process = subprocess.Popen([sys.executable, "dev.py", "start", "--port", str(port), "--state-dir", str(tmp_path)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None  # piped
    stack_file = tmp_path / "stack.json"
    try:
        deadline = time.monotonic() + 90
        while not stack_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert stack_file.exists(), process.stdout.read() if process.poll() is not None else "no stack.json"
        info = json.loads(stack_file.read_text())
        assert stat.S_IMODE(stack_file.stat().st_mode) == 0o600  # it holds the keys: the owner's eyes only
        assert info["hostUrl"] == f"http://127.0.0.1:{port}"
        assert info["workstreams"] and info["conversations"] and info["queues"]
        assert Path(info["caBundle"]).is_file()
        for name in ("DATAVERSE_URL", "KEY_VAULT_URL", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "REQUESTS_CA_BUNDLE",
                     "AzureWebJobsStorage", "AZURE_AUTHORITY_HOST", "DATAVERSE_TENANT_ID", "DATAVERSE_CLIENT_ID"):
            assert info["appSettings"][name], name
        assert requests.get(f"{info['hostUrl']}/api/health", timeout=5).json()["status"] == "ok"
        answer = requests.post(f"{info['hostUrl']}/api/availability/before-conversation",
                               headers={"x-functions-key": info["functionKey"]},
                               json={"workstreamId": info["workstreams"][0]["id"]}, timeout=30)
        assert answer.status_code == 200, answer.text
        # the demo web page, on an origin of its own, may read the demo's published check
        page_url = info["demoPageUrl"]
        assert page_url and page_url != info["hostUrl"]
        page = requests.get(page_url, timeout=5)
        assert page.status_code == 200 and f"{info['hostUrl']}/api/public/widget.js" in page.text
        public = requests.get(f"{info['hostUrl']}/api/public/availability/support", headers={"Origin": page_url},
                              timeout=30)
        assert public.status_code == 200 and public.headers["Access-Control-Allow-Origin"] == page_url
        # the demo's week of history was backfilled before the host started
        history = requests.get(f"{info['hostUrl']}/api/snapshots", params={"from": "2020-01-01", "limit": "5000"},
                               headers={"x-functions-key": info["functionKey"]}, timeout=30).json()["snapshots"]
        assert len({row["workstreamId"] for row in history}) >= 3
        oldest = min(row["capturedAt"] for row in history)
        assert oldest < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 6 * 86400))
        sandbox_port = int(info["sandboxUrl"].rsplit(":", 1)[1])
        table_port = int(info["tableEndpoint"].split(":")[2].split("/")[0])
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        output = process.stdout.read()
        assert "function key" in output and "curl" in output and "Stopped." in output
        assert f"{info['hostUrl']}/api/dashboard?code={info['functionKey']}" in output
        assert page_url in output
        assert not stack_file.exists()
        for listened in (port, sandbox_port, table_port, int(page_url.rsplit(":", 1)[1])):
            assert not _listening(listened), listened
    finally:
        if process.poll() is None:
            process.kill()


def test_start_with_local_settings_runs_against_that_org_without_a_sandbox(stack, tmp_path):
    # The session's sandbox plays the "real org": its settings pasted into a local.settings.json, as
    # Any Functions host can be pointed at it.
    values = {k: v for k, v in stack.app_settings().items()}
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    port = free_port()
    # The environment wins over local.settings.json: this machine's own CA bundle must not replace the file's.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_"))
           and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    process = subprocess.Popen([sys.executable, "-m", "devtools.stack", "start", "--port", str(port), "--state-dir",
                                str(tmp_path / "state"), "--local-settings", str(settings_file)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None  # piped
    stack_file = tmp_path / "state" / "stack.json"
    try:
        deadline = time.monotonic() + 60
        while not stack_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert stack_file.exists(), process.stdout.read() if process.poll() is not None else "no stack.json"
        info = json.loads(stack_file.read_text())
        assert info["sandboxUrl"] is None and info["workstreams"] == []
        assert info["appSettings"]["DATAVERSE_URL"] == values["DATAVERSE_URL"]
        answer = requests.post(f"{info['hostUrl']}/api/availability/before-conversation",
                               headers={"x-functions-key": info["functionKey"]},
                               json={"workstreamId": "22222222-0000-4000-8000-000000000001"}, timeout=30)
        assert answer.status_code == 200, answer.text
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        output = process.stdout.read()
        assert "running against the org it names (no sandbox)" in output
        assert "Starting the sandbox" not in output
    finally:
        if process.poll() is None:
            process.kill()


def test_start_refuses_a_broken_local_settings_file_clearly(tmp_path):
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text("{not json")
    out = subprocess.run([sys.executable, "-m", "devtools.stack", "start", "--local-settings", str(settings_file),
                          "--state-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "local.settings.json is not valid JSON" in out.stderr
    assert "Traceback" not in out.stderr


def test_start_reads_relative_paths_from_where_it_is_run(tmp_path):
    (tmp_path / "mine.toml").write_text('[org]\ntenant_id = "11111111-1111-1111-1111-111111111111"\n')
    start = [sys.executable, str(ROOT / "dev.py"), "start", "--port", str(free_port())]
    out = subprocess.run([*start, "--scenario", "mine.toml", "--local-settings=absent.json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    # A settings file named but missing is refused, never replaced by the demo org.
    assert out.returncode == 2 and f"settings file not found: {tmp_path / 'absent.json'}" in out.stderr
    out = subprocess.run([*start, "--scenario", "mine.toml", "--state-dir=state"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    # The scenario was found where it was named (and refused for what is in it, not for being missing).
    assert f"{tmp_path / 'mine.toml'}: [org]: missing field 'client_id'" in out.stdout + out.stderr
    assert (tmp_path / "state").is_dir()
    (tmp_path / "org.json").write_text("{not json")
    out = subprocess.run([*start, "--local-settings", "org.json", "--state-dir=state"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and f"{tmp_path / 'org.json'} is not valid JSON" in out.stderr
