"""Run by test_outgoing_spans.py in a process of its own (the distro configures OpenTelemetry for the process):
the Azure Monitor distro set up as the Functions worker sets it up in Azure, with an in-memory exporter beside
its own, then the app's outgoing requests of every kind, against the sandbox, Azurite and a webhook receiver on
loopback. Prints every span (name, attributes, events, resource) and the values no span may hold, as JSON.

Input (stdin, JSON): {"settings": the app settings, "workstreamId": a workstream of the sandbox's scenario}.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Receiver(BaseHTTPRequestHandler):
    """A flow's callback: takes every delivery."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    given = json.loads(sys.stdin.read())
    settings, workstream = given["settings"], given["workstreamId"]
    # As the worker does with PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: the distro with its defaults (every
    # instrumentation it ships on), sending to an ingestion endpoint nobody listens on; every span sampled.
    os.environ.update({"OTEL_TRACES_SAMPLER": "always_on", "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"})
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    configure_azure_monitor(
        connection_string="InstrumentationKey=00000000-0000-4000-8000-000000000000;"
                          "IngestionEndpoint=http://127.0.0.1:9/",
        span_processors=[SimpleSpanProcessor(memory)], enable_live_metrics=False, disable_offline_storage=True)

    from availability.checks import parse_before_conversation
    from availability.notifications.delivery import CallbackSender, sign
    from availability.notifications.subscriptions import create_subscription
    from devtools.sandbox_client import sandbox_app

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    flow, signature = uuid.uuid4().hex, secrets.token_urlsafe(32)
    query = f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={signature}"
    callback = f"http://127.0.0.1:{receiver.server_address[1]}/workflows/{flow}/triggers/manual/paths/invoke?{query}"
    context = {"CustomerEmail": f"{uuid.uuid4().hex}@contoso.example"}

    app = sandbox_app(settings)
    # A check: the client secret from Key Vault, a token from Entra ID, the org's action.
    answer = app.service.check(parse_before_conversation({"workstreamId": workstream, "contextItems": context}))
    # The org's entity sets (a query string of its own).
    app.client.list_workstreams()
    # A subscription: Table Storage, with the callback stored.
    made, _ = create_subscription({"callbackUrl": callback, "workstreamId": workstream, "contextItems": context},
                                  accept_language=None, store=app.subscriptions, service=app.service,
                                  allow_private=True)
    # A delivery to the callback, as the notifier sends each.
    body = json.dumps({"subscriptionId": made.id, "status": answer.status}).encode()
    attempt = CallbackSender(allow_private=True).post(callback, body, secret=made.secret, delivery_id=str(uuid.uuid4()))
    app.subscriptions.delete(made.id)

    spans = [{"name": span.name, "attributes": dict(span.attributes or {}),
              "events": [dict(event.attributes or {}) for event in span.events],
              "resource": dict(span.resource.attributes)} for span in memory.get_finished_spans()]
    forbidden = {
        "callback URL": callback, "callback query": query, "callback path": f"/workflows/{flow}",
        "callback signature": signature, "subscription secret": made.secret,
        "delivery signature": sign(made.secret, body), "org token": app.credential.token(),
        "caller context": context["CustomerEmail"], "identity header": settings["IDENTITY_HEADER"],
    }
    print(json.dumps({"delivered": attempt.outcome, "spans": spans, "forbidden": forbidden}, default=str))
    sys.stdout.flush()
    os._exit(0)  # the distro's exporters would wait at exit on an endpoint nobody answers


if __name__ == "__main__":
    main()
