"""Sends one trace (3 spans), a log inside a span, a counter and a histogram to Lookout with
the Python OpenTelemetry SDK, and prints the ids it used as JSON.

usage: emit.py --transport grpc|http-protobuf|http-json --grpc URL --http URL --service NAME
"""

import argparse
import json
import logging

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode


def exporters(transport, grpc_url, http_url):
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (
            OTLPSpanExporter(endpoint=grpc_url, insecure=True),
            OTLPLogExporter(endpoint=grpc_url, insecure=True),
            OTLPMetricExporter(endpoint=grpc_url, insecure=True),
        )
    if transport == "http-protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    elif transport == "http-json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
    else:
        raise SystemExit(f"unknown transport {transport}")
    # The HTTP exporters take the full per-signal URL.
    return (
        OTLPSpanExporter(endpoint=f"{http_url}/v1/traces"),
        OTLPLogExporter(endpoint=f"{http_url}/v1/logs"),
        OTLPMetricExporter(endpoint=f"{http_url}/v1/metrics"),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--http", required=True)
    parser.add_argument("--service", required=True)
    args = parser.parse_args()

    span_exporter, log_exporter, metric_exporter = exporters(args.transport, args.grpc, args.http)
    resource = Resource.create({"service.name": args.service, "deployment.environment": "test"})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])

    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    log = logging.getLogger(f"emit.{args.service}")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False

    tracer = tracer_provider.get_tracer("emit")
    meter = meter_provider.get_meter("emit")
    orders = meter.create_counter("py_orders", unit="1", description="orders placed")
    latency = meter.create_histogram("py_latency", unit="ms")

    with tracer.start_as_current_span("GET /cart", kind=trace.SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/cart")
        root.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("SELECT carts", kind=trace.SpanKind.CLIENT) as db:
            db.set_attribute("db.system", "postgresql")
        with tracer.start_as_current_span("price items") as child:
            child.add_event("cache miss", {"cache.key": "cart:42"})
            child.set_status(Status(StatusCode.ERROR, "price service timeout"))
            log.warning("pricing slow for cart %s", 42)
            context = child.get_span_context()
            ids = {
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
            }
        orders.add(2, {"outcome": "ok"})
        latency.record(12.5, {"route": "/cart"})

    tracer_provider.force_flush()
    logger_provider.force_flush()
    meter_provider.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
