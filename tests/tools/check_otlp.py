#!/usr/bin/env python3
"""Checks a `tickspan export -f otlp` document against OpenTelemetry's own protobuf schema.

Usage: check_otlp.py EXPORT.json [NAME=COUNT ...]

The document is parsed with protobuf's JSON parser into the official
`ExportTraceServiceRequest` (PyPI `opentelemetry-proto`), refusing unknown fields, so a
misspelt field name, a value of the wrong type or a malformed id fails. OTLP/JSON writes ids
as hex where protobuf's JSON mapping expects base64, so the ids are converted first (after
checking that they are lowercase hex of the OTLP length). The parsed message is written back
to JSON and must equal the input but for fields at their default value: nothing was dropped,
renamed or coerced. Then the span facts:
ids of 16 and 8 bytes, unique span ids, parents that resolve within the same trace and
contain their children in time, one root per trace, end >= start, named spans of kind
INTERNAL, events inside their span, event values typed (`intValue`, `doubleValue`, `boolValue`;
a string only for an unsigned integer beyond int64), and, if given, the number of spans of
each name.

Prints one line of totals and exits 0, or prints the problems and exits 1.
"""

import base64
import json
import re
import sys
from collections import Counter

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

HEX_LEN = {"traceId": 32, "spanId": 16, "parentSpanId": 16}


def hex_ids_to_base64(doc, problems):
    """Rewrites hex ids in place as protobuf's JSON mapping expects them (base64 of the bytes)."""
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key, n in HEX_LEN.items():
                    if key not in span:
                        continue
                    v = span[key]
                    if not (isinstance(v, str) and len(v) == n and re.fullmatch("[0-9a-f]*", v)):
                        problems.append(f"{key} {v!r}: not {n} lowercase hex digits")
                        continue
                    span[key] = base64.b64encode(bytes.fromhex(v)).decode()


DEFAULTS = (0, "0", "", False, [])


def round_trip_diff(doc, back, path, problems):
    """Reports where `back` (the parsed message printed again) differs from `doc`."""
    if isinstance(doc, dict) and isinstance(back, dict):
        for k, v in doc.items():
            if k in back:
                round_trip_diff(v, back[k], f"{path}.{k}", problems)
            elif not any(v == d and type(v) is type(d) for d in DEFAULTS):
                problems.append(f"round trip: {path}.{k} = {v!r} was dropped")
        for k in back.keys() - doc.keys():
            problems.append(f"round trip: {path}.{k} = {back[k]!r} appeared")
    elif isinstance(doc, list) and isinstance(back, list) and len(doc) == len(back):
        for i, (a, b) in enumerate(zip(doc, back)):
            round_trip_diff(a, b, f"{path}[{i}]", problems)
    elif isinstance(doc, int) and not isinstance(doc, bool) and back == str(doc):
        pass  # a 64-bit integer written as a number, which OTLP/JSON allows; protobuf prints a string
    elif doc != back or type(doc) is not type(back):
        problems.append(f"round trip: {path} = {doc!r} became {back!r}")


def check(doc, expect):
    problems = []
    hex_ids_to_base64(doc, problems)
    if problems:
        return problems, None
    req = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(doc, req, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        return [f"protobuf rejects the document: {e}"], None
    # Round trip: the message written back must be the document itself (our int64/fixed64
    # values are decimal strings and `kind` an integer, as protobuf's JSON printer writes them),
    # except for fields written with their default value, which the printer leaves out.
    round_trip_diff(doc, json_format.MessageToDict(req, use_integers_for_enums=True), "", problems)

    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    if not req.resource_spans:
        problems.append("no resourceSpans")
    for rs in req.resource_spans:
        keys = {kv.key: kv.value for kv in rs.resource.attributes}
        if not keys.get("service.name") or not keys["service.name"].string_value:
            problems.append("resource has no service.name")
        for ss in rs.scope_spans:
            if not ss.scope.name:
                problems.append("scope has no name")

    by_id = {}
    for s in spans:
        tag = f"span {s.name!r} {s.span_id.hex()}"
        if len(s.trace_id) != 16 or not any(s.trace_id):
            problems.append(f"{tag}: trace id has {len(s.trace_id)} bytes or is zero")
        if len(s.span_id) != 8 or not any(s.span_id):
            problems.append(f"{tag}: span id has {len(s.span_id)} bytes or is zero")
        if s.parent_span_id and len(s.parent_span_id) != 8:
            problems.append(f"{tag}: parent span id has {len(s.parent_span_id)} bytes")
        if s.span_id in by_id:
            problems.append(f"{tag}: span id used twice")
        by_id[s.span_id] = s
        if not s.name:
            problems.append(f"{tag}: no name")
        if s.kind != Span.SPAN_KIND_INTERNAL:
            problems.append(f"{tag}: kind {s.kind}, expected SPAN_KIND_INTERNAL")
        if s.status.code not in Status.StatusCode.values():
            problems.append(f"{tag}: status code {s.status.code} is not a StatusCode")
        if s.start_time_unix_nano == 0 or s.end_time_unix_nano < s.start_time_unix_nano:
            problems.append(f"{tag}: start {s.start_time_unix_nano}, end {s.end_time_unix_nano}")
        for e in s.events:
            if not e.name:
                problems.append(f"{tag}: event without a name")
            if not s.start_time_unix_nano <= e.time_unix_nano <= s.end_time_unix_nano:
                problems.append(f"{tag}: event {e.name!r} at {e.time_unix_nano} lies outside the span")
            for kv in e.attributes:
                if kv.key == "value" and kv.value.WhichOneof("value") == "string_value":
                    text = kv.value.string_value
                    if not (text.isdigit() and 2**63 <= int(text) < 2**64):
                        problems.append(f"{tag}: event {e.name!r} value {text!r} is a string, not typed")

    roots = Counter()
    for s in spans:
        tag = f"span {s.name!r} {s.span_id.hex()}"
        if not s.parent_span_id:
            roots[s.trace_id] += 1
            continue
        p = by_id.get(s.parent_span_id)
        if p is None:
            problems.append(f"{tag}: parent {s.parent_span_id.hex()} is not in the export")
            continue
        if p.trace_id != s.trace_id:
            problems.append(f"{tag}: trace id differs from its parent {p.name!r}")
        if not (p.start_time_unix_nano <= s.start_time_unix_nano and s.end_time_unix_nano <= p.end_time_unix_nano):
            problems.append(f"{tag}: not within its parent {p.name!r}")
    for t in {s.trace_id for s in spans}:
        if roots[t] != 1:
            problems.append(f"trace {t.hex()} has {roots[t]} root spans")

    names = Counter(s.name for s in spans)
    for name, n in expect.items():
        if names[name] != n:
            problems.append(f"{names[name]} spans named {name!r}, expected {n}")
    summary = f"{len(spans)} spans in {len(roots)} traces, {sum(len(s.events) for s in spans)} events"
    return problems, summary


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    expect = {}
    for arg in argv[2:]:
        name, _, n = arg.rpartition("=")
        expect[name] = int(n)
    problems, summary = check(doc, expect)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"OTLP ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
