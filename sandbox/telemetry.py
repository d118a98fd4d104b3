"""The OTLP/HTTP receiver: what the local hosts' OpenTelemetry SDK exports (metrics, spans, logs), summed up.

`POST /v1/metrics`, `/v1/traces` and `/v1/logs` take protobuf (what the Python exporter sends) or JSON.
`summary()` is what `GET /_sandbox/telemetry` shows (docs/sandbox.md): per metric name, a counter's latest
cumulative value summed over its attribute sets and exporters (a delta counter's sum), a histogram's count;
and the numbers of spans and log records received, all since the last reset. With `?attributes=true` it adds
every attribute value seen on data points and spans, by attribute name, so a test can prove what telemetry never
carries.
"""

from __future__ import annotations

import threading
from typing import Any

from sandbox.wire import Reply, Request

PATHS = ("/v1/metrics", "/v1/traces", "/v1/logs")
_CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class Telemetry:
    """What was received since the last reset. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple, float] = {}  # (exporter, metric, attributes) -> latest cumulative value
        # Cumulative values at the last reset: exporters keep counting from their start, so what happened since
        # the reset is the latest value less this.
        self._baseline: dict[tuple, float] = {}
        self._deltas: dict[str, float] = {}
        self._spans = 0
        self._logs = 0
        self._attributes: dict[str, set[str]] = {}

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply(405, {"error": {"code": "MethodNotAllowed", "message": "OTLP takes POST."}})
        kind = request.path.rsplit("/", 1)[1]
        protobuf = "protobuf" in (request.header("content-type") or "")
        try:
            message = _decode(kind, request.body, protobuf)
        except Exception as exc:  # a malformed export is the exporter's 400, as a collector answers
            return Reply(400, {"error": {"code": "BadRequest", "message": f"Not an OTLP {kind} export: "
                                                                            f"{type(exc).__name__}"}})
        with self._lock:
            if kind == "metrics":
                self._add_metrics(message)
            elif kind == "traces":
                for resource in message.resource_spans:
                    for scope in resource.scope_spans:
                        self._spans += len(scope.spans)
                        for span in scope.spans:
                            self._note(span.attributes, span.name)
            else:
                self._logs += sum(len(scope.log_records) for resource in message.resource_logs
                                  for scope in resource.scope_logs)
        if protobuf:
            return Reply(200, _response(kind).SerializeToString(), content_type="application/x-protobuf")
        return Reply(200, {})

    def summary(self, attributes: bool = False) -> dict[str, Any]:
        with self._lock:
            metrics: dict[str, float] = dict(self._deltas)
            for key, value in self._latest.items():
                since = value - self._baseline.get(key, 0)
                if since or key not in self._baseline:
                    metrics[key[1]] = metrics.get(key[1], 0) + since
            summary: dict[str, Any] = {"metrics": {name: _number(value) for name, value in sorted(metrics.items())},
                                       "spans": self._spans, "logs": self._logs}
            if attributes:
                summary["attributes"] = {name: sorted(values) for name, values in sorted(self._attributes.items())}
            return summary

    def reset(self) -> None:
        with self._lock:
            self._baseline = dict(self._latest)
            self._deltas.clear()
            self._spans = self._logs = 0
            self._attributes.clear()

    def _add_metrics(self, message: Any) -> None:
        for resource in message.resource_metrics:
            exporter = _attributes(resource.resource.attributes)
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    data = metric.WhichOneof("data")
                    if data == "sum":
                        points = [(p.attributes, p.as_int if p.WhichOneof("value") == "as_int" else p.as_double)
                                  for p in metric.sum.data_points]
                        cumulative = metric.sum.aggregation_temporality == _CUMULATIVE
                    elif data in ("histogram", "exponential_histogram"):
                        points = [(p.attributes, p.count) for p in getattr(metric, data).data_points]
                        cumulative = getattr(metric, data).aggregation_temporality == _CUMULATIVE
                    else:
                        continue  # gauges and summaries: nothing the contract counts
                    for attributes, value in points:
                        self._note(attributes)
                        if cumulative:
                            self._latest[(exporter, metric.name, _attributes(attributes))] = value
                        else:
                            self._deltas[metric.name] = self._deltas.get(metric.name, 0) + value


    def _note(self, pairs: Any, span_name: str | None = None) -> None:
        for pair in pairs:
            value = pair.value
            text = str(getattr(value, value.WhichOneof("value"))) if value.WhichOneof("value") else ""
            self._attributes.setdefault(pair.key, set()).add(text)
        if span_name is not None:
            self._attributes.setdefault("span.name", set()).add(span_name)


def _attributes(pairs: Any) -> tuple:
    return tuple(sorted((pair.key, str(pair.value).strip()) for pair in pairs))


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _messages(kind: str) -> tuple[type, type]:
    # opentelemetry-proto is a development dependency: imported when a host first exports.
    if kind == "metrics":
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        return metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse
    if kind == "traces":
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        return trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    return logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse


def _decode(kind: str, body: bytes, protobuf: bool) -> Any:
    request_type, _ = _messages(kind)
    message = request_type()
    if protobuf:
        message.ParseFromString(body)
    else:
        from google.protobuf import json_format

        # OTLP/JSON writes trace and span ids in hex where protobuf's JSON expects base64: not needed to count.
        json_format.Parse(body.decode("utf-8"), message, ignore_unknown_fields=True)
    return message


def _response(kind: str) -> Any:
    return _messages(kind)[1]()
