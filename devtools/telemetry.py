"""OpenTelemetry for the local host, configured the way the Functions worker configures the Azure Monitor distro:
the SDK's meter and tracer providers, exporting over OTLP/HTTP to the sandbox's receiver.

The app only speaks the OpenTelemetry API; this is what gives it somewhere to send. Exports run every
`EXPORT_SECONDS`, so a test or a person reading `GET /_sandbox/telemetry` sees a change within about a second.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

EXPORT_SECONDS = 1.0


def configure(endpoint: str, *, instance: str, ca_bundle: str | None = None) -> None:
    """Send the app's metrics and spans to the OTLP/HTTP receiver at `endpoint` (e.g. the sandbox's root URL)."""
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    root = endpoint.rstrip("/")
    resource = Resource.create({"service.name": "availability", "service.instance.id": instance})
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{root}/v1/metrics", certificate_file=ca_bundle),
        export_interval_millis=int(EXPORT_SECONDS * 1000))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{root}/v1/traces", certificate_file=ca_bundle),
        schedule_delay_millis=int(EXPORT_SECONDS * 1000)))
    trace.set_tracer_provider(tracer_provider)
    log.info("Telemetry goes to %s (OTLP/HTTP)", root)


def shutdown() -> None:
    """Flush what is still buffered (the host is stopping)."""
    from opentelemetry import metrics, trace

    for provider in (metrics.get_meter_provider(), trace.get_tracer_provider()):
        stop = getattr(provider, "shutdown", None)
        if stop is not None:
            stop()
