"""Telemetry as Azure records it: with the Azure Monitor distro the worker configures (its requests, urllib3 and
urllib instrumentations and the Azure SDKs' tracing, which record the full URL of every outgoing request), no span
holds a callback URL or any part of one, a secret, a token or what a caller sent. The spans are taken by an
in-memory exporter in a process of its own (tests/telemetry_probe.py) that makes the app's outgoing requests of
every kind against the sandbox, Azurite and a webhook receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

from devtools.stack import AZURITE_KEY
from tests.availability.scenario import CHAT
from tests.conftest import SCENARIO

ROOT = Path(__file__).resolve().parents[1]


def test_no_span_of_an_outgoing_request_holds_a_callback_url_a_secret_or_a_token(stack, clean_sandbox):
    settings = stack.app_settings({"AVAILABILITY_SHARED_STATE": "off", "AVAILABILITY_CACHE_SECONDS": "0",
                                   "SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:16]}"})
    run = subprocess.run([sys.executable, "-m", "tests.telemetry_probe"], cwd=ROOT, timeout=120,
                         input=json.dumps({"settings": settings, "workstreamId": CHAT}), capture_output=True,
                         text=True, env={**os.environ, "REQUESTS_CA_BUNDLE": settings["REQUESTS_CA_BUNDLE"]})
    assert run.returncode == 0, run.stderr[-5000:]
    seen = json.loads(run.stdout)
    assert seen["delivered"] == "delivered"
    forbidden = {**seen["forbidden"], "client secret": tomllib.loads(SCENARIO.read_text())["org"]["client_secret"],
                 "storage account key": AZURITE_KEY}
    values = [(span["name"], where, str(value)) for span in seen["spans"]
              for where, attributes in (("attributes", span["attributes"]), ("resource", span["resource"]),
                                        *(("event", event) for event in span["events"]))
              for value in (*attributes.values(), *attributes.keys(), span["name"])]
    leaks = [f"{what} in span {name!r} ({where}): {value[:200]}" for what, secret in forbidden.items()
             for name, where, value in values if secret in value]
    assert leaks == []
    # The instrumentations were on: the org's action, Key Vault and Table Storage were each recorded with their URL.
    urls = {str(span["attributes"].get("url.full") or span["attributes"].get("http.url") or "")
            for span in seen["spans"]}
    assert any("/api/data/v9.2/" in url for url in urls), urls
    assert any("/secrets/" in url for url in urls), urls
    assert any("/devstoreaccount1/" in url for url in urls), urls
