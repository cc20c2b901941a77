#!/usr/bin/env python3
"""A strict OTLP/HTTP trace receiver for tests, built on OpenTelemetry's protobuf schema.

Usage: otlp_receiver.py --port-file FILE --log FILE [--port N] [--fail N:CODE[:RETRY_AFTER]]
                        [--delay SECONDS] [--partial K]

Serves `POST /v1/traces` on 127.0.0.1, one request at a time (HTTP/1.1, keep-alive). A body
is gunzipped when `Content-Encoding: gzip` says so, then parsed as the official
`ExportTraceServiceRequest` (PyPI `opentelemetry-proto`): `application/x-protobuf` strictly
(a parse error, or any unknown field anywhere in the message, is a 400), `application/json`
as OTLP/JSON (hex ids checked and converted as tests/tools/check_otlp.py does, unknown fields
refused). Every request is logged as one JSON line in --log: its number, arrival time, answer
status, encoding, body sizes, resource attributes and spans (hex ids, parent, name, times,
attribute and event counts), written before the answer is sent.

Faults: --fail answers the first N requests with CODE (and `Retry-After: RETRY_AFTER`) without
accepting them; --delay sleeps before each answer (a slow collector); --partial answers the
first accepted request with `partial_success.rejected_spans = K`. The port (chosen by the
system unless --port) is written to --port-file once the socket listens.
"""

import argparse
import gzip
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from check_otlp import hex_ids_to_base64  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf.unknown_fields import UnknownFieldSet  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def unknown_fields(msg, path="request"):
    """Paths of messages inside `msg` that carry fields the schema does not know."""
    found = [path] if len(UnknownFieldSet(msg)) else []
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        items = value if field.is_repeated else [value]
        if field.message_type.GetOptions().map_entry:
            continue
        for i, item in enumerate(items):
            found += unknown_fields(item, f"{path}.{field.name}[{i}]")
    return found


def rpc_status(code, message):
    """google.rpc.Status as protobuf: code (field 1, varint) and message (field 2)."""
    text = message.encode()
    return bytes([0x08, code, 0x12, len(text)]) + text


def attr_value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in main

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        st = self.state
        st["n"] += 1
        n = st["n"]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        kind = self.headers.get("Content-Type", "")
        is_json = kind.startswith("application/json")
        entry = {"n": n, "t": time.time(), "path": self.path, "encoding": "json" if is_json else "protobuf",
                 "gzip": self.headers.get("Content-Encoding") == "gzip", "wire_bytes": len(raw),
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        status, problem, req = 200, None, ExportTraceServiceRequest()
        try:
            body = gzip.decompress(raw) if entry["gzip"] else raw
            entry["body_bytes"] = len(body)
            if self.path != "/v1/traces":
                status, problem = 404, f"no such path {self.path}"
            elif is_json:
                doc = json.loads(body)
                problems = []
                hex_ids_to_base64(doc, problems)
                if problems:
                    raise ValueError("; ".join(problems))
                json_format.ParseDict(doc, req, ignore_unknown_fields=False)
            elif kind == "application/x-protobuf":
                req.ParseFromString(body)
                extra = unknown_fields(req)
                if extra:
                    raise ValueError(f"unknown fields in {', '.join(extra)}")
            else:
                status, problem = 415, f"unsupported Content-Type {kind!r}"
        except Exception as e:  # any parse failure is the client's fault: 400
            status, problem = 400, f"{type(e).__name__}: {e}"
        spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
        entry["resource"] = [{kv.key: attr_value(kv.value) for kv in rs.resource.attributes} for rs in req.resource_spans]
        entry["spans"] = [{"trace": s.trace_id.hex(), "id": s.span_id.hex(), "parent": s.parent_span_id.hex(),
                           "name": s.name, "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                           "attributes": len(s.attributes), "events": len(s.events)} for s in spans]
        headers = []
        if status == 200 and st["fail_left"] > 0:
            st["fail_left"] -= 1
            status, problem = st["fail_code"], "injected failure"
            if st["retry_after"] is not None:
                headers.append(("Retry-After", str(st["retry_after"])))
        rejected = 0
        if status == 200 and st["partial"]:
            rejected, st["partial"] = st["partial"], 0
        entry["status"], entry["problem"], entry["rejected"] = status, problem, rejected
        with open(st["log"], "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        if st["delay"]:
            time.sleep(st["delay"])
        if status == 200:
            resp = ExportTraceServiceResponse()
            if rejected:
                resp.partial_success.rejected_spans = rejected
                resp.partial_success.error_message = "rejected by the test receiver"
            if is_json:
                self.answer(200, json_format.MessageToJson(resp).encode(), "application/json")
            else:
                self.answer(200, resp.SerializeToString(), "application/x-protobuf")
        elif is_json:
            self.answer(status, json.dumps({"code": 3, "message": problem}).encode(), "application/json", headers)
        else:
            self.answer(status, rpc_status(3, problem), "application/x-protobuf", headers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fail", default="0:503")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--partial", type=int, default=0)
    a = p.parse_args()
    fail = a.fail.split(":")
    Handler.state = {"n": 0, "log": a.log, "delay": a.delay, "partial": a.partial, "fail_left": int(fail[0]),
                     "fail_code": int(fail[1]), "retry_after": int(fail[2]) if len(fail) > 2 else None}
    HTTPServer.allow_reuse_address = True
    server = HTTPServer(("127.0.0.1", a.port), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
