"""A client nobody here wrote: the OpenTelemetry Python SDK starts a span, injects it with
OpenTelemetry's own W3C propagator and calls the gateway (three-node example). Then it parses,
with the same propagator, the traceparent the gateway sent on to its backend. Prints JSON.

usage: otel_client.py URL
"""
import json
import sys
import urllib.request

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

url = sys.argv[1]
trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("tickspan-interop")
propagator = TraceContextTextMapPropagator()
with tracer.start_as_current_span("python client") as span:
    headers = {}
    propagator.inject(headers)
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
        body = json.load(r)
ours = span.get_span_context()
onward = propagator.extract({"traceparent": body["backend"]["traceparent"]})
seen = trace.get_current_span(onward).get_span_context()
print(json.dumps({
    "trace_id": f"{ours.trace_id:032x}",
    "span_id": f"{ours.span_id:016x}",
    "sent": headers["traceparent"],
    "onward_valid": seen.is_valid,
    "onward_trace_id": f"{seen.trace_id:032x}",
    "onward_span_id": f"{seen.span_id:016x}",
    "gateway": body,
}))
