"""The sandbox's OTLP receiver, fed by the real OpenTelemetry SDK and its OTLP/HTTP exporters.

The exporters' requests trust REQUESTS_CA_BUNDLE over their own certificate file, so `sdk_environment` points it
at the sandbox's CA, as the local hosts' environment does.
"""

from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def exporting_meter(sandbox, instance: str) -> tuple[MeterProvider, Meter]:
    exporter = OTLPMetricExporter(endpoint=f"{sandbox.url}/v1/metrics", certificate_file=sandbox.ca)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader],
                             resource=Resource.create({"service.instance.id": instance}))
    return provider, provider.get_meter("test")


def test_counters_are_summed_over_attributes_and_exporters_and_histograms_counted(sandbox, sdk_environment):
    first, meter = exporting_meter(sandbox, "one")
    requests = meter.create_counter("availability.requests")
    duration = meter.create_histogram("availability.upstream.duration", unit="ms")
    requests.add(2, {"endpoint": "batch", "status_code": 200})
    requests.add(1, {"endpoint": "batch", "status_code": 503})
    duration.record(12.5, {"action": "A"})
    duration.record(40, {"action": "A"})
    first.force_flush()
    requests.add(1, {"endpoint": "batch", "status_code": 200})  # cumulative: the next export says 3 for it
    first.force_flush()
    second, other_meter = exporting_meter(sandbox, "two")
    other_meter.create_counter("availability.requests").add(5, {"endpoint": "batch", "status_code": 200})
    second.force_flush()
    seen = sandbox.control("GET", "telemetry")
    assert seen["metrics"]["availability.requests"] == 3 + 1 + 5
    assert seen["metrics"]["availability.upstream.duration"] == 2
    first.shutdown()
    second.shutdown()
    sandbox.control("POST", "reset")
    assert sandbox.control("GET", "telemetry") == {"metrics": {}, "spans": 0, "logs": 0}


def test_spans_are_counted_and_json_exports_are_taken_too(sandbox, sdk_environment):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"{sandbox.url}/v1/traces", certificate_file=sandbox.ca)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request"), tracer.start_as_current_span("upstream"):
        pass
    provider.shutdown()
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hello"}}]}]}]}
    answer = sandbox.post("/v1/logs", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert sandbox.post("/v1/metrics", data=b"\xff\xff", headers={
        "Content-Type": "application/x-protobuf"}).status_code == 400
    seen = sandbox.control("GET", "telemetry")
    assert (seen["spans"], seen["logs"]) == (2, 1)
