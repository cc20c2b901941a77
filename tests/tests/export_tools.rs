//! The exports checked by their formats' own tools rather than by our parsers: OTLP/JSON by
//! OpenTelemetry's protobuf schema (tests/tools/check_otlp.py, PyPI `opentelemetry-proto` and
//! `protobuf`), Chrome JSON by Perfetto's trace processor (tests/tools/check_chrome.mjs, run by
//! Node.js on the WebAssembly build that .ci/run unpacks).
//!
//! Where the tools are: the Python interpreter is `$TICKSPAN_PYTHON` (set by .ci/run to its
//! venv), else `python3`; the trace processor is in `$TICKSPAN_PERFETTO_TP`. Without them the
//! tests skip with a `TICKSPAN-SKIP:` line, except under CI (`CI` set), where that is a failure.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tickspan_tests::{python_with, run, scratch, skip, workspace};

/// Skips (or, under CI, fails) with `msg` ([`skip`]).
fn missing(msg: String) -> Option<PathBuf> {
    skip(&msg);
    None
}

/// The trace processor's directory, if it and `node` are there.
fn perfetto() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("TICKSPAN_PERFETTO_TP").map(PathBuf::from) else {
        return missing("TICKSPAN_PERFETTO_TP is not set (.ci/run sets it)".into());
    };
    if !dir.join("trace_processor.wasm").is_file() {
        return missing(format!("no trace_processor.wasm in {}", dir.display()));
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Some(dir),
        _ => missing("node is not on PATH".into()),
    }
}

fn otlp_python() -> Option<PathBuf> {
    python_with("google.protobuf.json_format, opentelemetry.proto.collector.trace.v1.trace_service_pb2")
}

/// The recording `exe` (a program of tests/src/bin) writes to `file` in this file's scratch
/// directory.
fn recorded(exe: &str, file: &str) -> PathBuf {
    let path = scratch("export-tools").join(file);
    let status = Command::new(exe).arg(&path).status().expect("run the recording program");
    assert!(status.success(), "{exe}");
    path
}

/// The chain recording (tests/src/bin/chain.rs), made once for this file.
fn chain() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| recorded(env!("CARGO_BIN_EXE_chain"), "chain.tspn"))
}

/// The std demo's recording kept as a fuzz seed (examples/std-demo), copied once into this
/// file's scratch directory (exports are written beside the trace).
fn std_demo() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let path = scratch("export-tools").join("std-demo.tspn");
        std::fs::copy(workspace().join("fuzz/seeds/std-demo.tspn"), &path).expect("copy the std demo's recording");
        path
    })
}

/// `tickspan export TRACE -f FORMAT` written to a new file beside the trace (tests run in
/// parallel).
fn export(trace: &Path, format: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let out = run(&["export", trace.to_str().unwrap(), "--format", format]);
    assert_eq!(out.status.code(), Some(0), "export {format}: {}", String::from_utf8_lossy(&out.stderr));
    let stem = trace.file_stem().unwrap().to_str().unwrap();
    let path = trace.with_file_name(format!("{stem}.{}.{format}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

fn check_otlp(py: &Path, doc: &Path, expect: &[&str]) -> Output {
    let script = workspace().join("tests/tools/check_otlp.py");
    Command::new(py).arg(script).arg(doc).args(expect).output().expect("run check_otlp.py")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn otlp_export_parses_as_export_trace_service_request() {
    let Some(py) = otlp_python() else { return };
    // chain: 3 × request { decode store }, then job { job_io } ended on another thread.
    let doc = export(chain(), "otlp");
    let o = check_otlp(&py, &doc, &["request=3", "decode=3", "store=3", "job=1", "job_io=1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OTLP ok: 11 spans in 4 traces, 3 events"), "{}", text(&o));

    let doc = export(std_demo(), "otlp");
    let o = check_otlp(&py, &doc, &["handle_request=4", "parse=4", "checksum=4"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// One span holding an event of each value type (tests/src/bin/values.rs).
fn values() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| recorded(env!("CARGO_BIN_EXE_values"), "values.tspn"))
}

#[test]
fn otlp_event_values_keep_their_type() {
    let Some(py) = otlp_python() else { return };
    let doc = export(values(), "otlp");
    let o = check_otlp(&py, &doc, &["work=1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OTLP ok: 1 spans in 1 traces, 7 events"), "{}", text(&o));
    let v: Value = serde_json::from_slice(&std::fs::read(&doc).unwrap()).unwrap();
    let events = v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"].as_array().unwrap();
    let typed: Vec<(&str, &Value)> =
        events.iter().map(|e| (e["name"].as_str().unwrap(), &e["attributes"][0]["value"])).collect();
    assert_eq!(
        typed,
        [
            ("count", &json!({"intValue": "7"})),
            ("delta", &json!({"intValue": "-5"})),
            ("ratio", &json!({"doubleValue": 0.5})),
            ("whole", &json!({"doubleValue": 1.0})),
            // Beyond int64: exact, as the only type that holds it.
            ("huge", &json!({"stringValue": u64::MAX.to_string()})),
            ("nan", &json!({"doubleValue": "NaN"})),
            // The wire format has no bool kind: `true` is recorded as the unsigned 1.
            ("ready", &json!({"intValue": "1"})),
        ]
    );
}

/// The checker fails on the mistakes it is there to catch (so a pass above means something).
#[test]
fn otlp_checker_rejects_broken_documents() {
    let Some(py) = otlp_python() else { return };
    let good: Value = serde_json::from_slice(&std::fs::read(export(chain(), "otlp")).unwrap()).unwrap();
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 8] = [
        ("misspelt field", |s| rename(s, "spanId", "spanID"), "has no field named \"spanID\""),
        ("snake-case time", |s| rename(s, "endTimeUnixNano", "end_time_unix_nano"), "round trip"),
        ("kind as a float", |s| s["kind"] = "1.5".into(), "Invalid enum value 1.5"),
        ("kind out of range", |s| s["kind"] = 7.into(), "kind 7, expected SPAN_KIND_INTERNAL"),
        ("base64 id", |s| s["spanId"] = "AAAAAAAAAAE=".into(), "not 16 lowercase hex digits"),
        ("time as text", |s| s["startTimeUnixNano"] = "soon".into(), "Failed to parse startTimeUnixNano"),
        ("dangling parent", |s| s["parentSpanId"] = "00000000000000ff".into(), "is not in the export"),
        (
            "value as text",
            |s| s["events"][0]["attributes"][0]["value"] = json!({"stringValue": "0"}),
            "value '0' is a string, not typed",
        ),
    ];
    let dir = scratch("export-tools-bad");
    for (what, edit, expect) in cases {
        let mut doc = good.clone();
        edit(&mut doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]);
        let path = dir.join("bad.json");
        std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        let o = check_otlp(&py, &path, &[]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(text(&o).contains(expect), "{what}: expected {expect:?} in {}", text(&o));
    }
    // Wrong expectations fail too.
    let o = check_otlp(&py, &export(chain(), "otlp"), &["request=4"]);
    assert!(text(&o).contains("3 spans named 'request', expected 4"), "{}", text(&o));
}

fn rename(span: &mut Value, from: &str, to: &str) {
    let obj = span.as_object_mut().unwrap();
    let v = obj.remove(from).unwrap();
    obj.insert(to.into(), v);
}

fn check_chrome(tp: &Path, doc: &Path, expect: &[&str]) -> Output {
    let script = workspace().join("tests/tools/check_chrome.mjs");
    Command::new("node").arg(script).arg(tp).arg(doc).args(expect).output().expect("run check_chrome.mjs")
}

#[test]
fn chrome_export_imports_into_perfetto() {
    let Some(tp) = perfetto() else { return };
    let doc = export(chain(), "chrome");
    let o = check_chrome(&tp, &doc, &["request=3", "decode=3", "store=3", "bytes=3", "job=1", "job_io=1"]);
    assert!(o.status.success(), "{}", text(&o));
    // request > decode > bytes: depth 2; job and job_io as async slices.
    assert!(text(&o).contains("ok: 14 slices (2 async) on 1 threads, depth ≤ 2, 0 counter values"), "{}", text(&o));

    // The std demo: two threads, values as counters.
    let doc = export(std_demo(), "chrome");
    let o = check_chrome(&tp, &doc, &["handle_request=4", "parse=4", "checksum=4"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("on 2 threads, depth ≤ 2, 4 counter values"), "{}", text(&o));
}

/// Two processes of one trace (src/bin/node.rs), client and server, exported together as
/// `format` into the file `doc` of a fresh directory `dir`.
fn joined_export(dir: &str, format: &str, doc: &str) -> PathBuf {
    let dir = scratch(dir);
    let mut node = Command::new(env!("CARGO_BIN_EXE_node"));
    assert!(node.env("TICKSPAN_NODE", "client").arg("client").arg(&dir).status().unwrap().success());
    let doc = dir.join(doc);
    let (c, s) = (dir.join("client.tspn"), dir.join("server.tspn"));
    let out = run(&["export", "-f", format, c.to_str().unwrap(), s.to_str().unwrap(), "-o", doc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    doc
}

/// The client and server of one trace as one Chrome document: Perfetto imports both
/// processes and the flow from the caller's span to the callee's.
#[test]
fn joined_chrome_export_imports_into_perfetto_with_its_flow() {
    let Some(tp) = perfetto() else { return };
    let doc = joined_export("export-tools-join", "chrome", "joined.json");
    let o = check_chrome(&tp, &doc, &["request=1", "call server=1", "handle=1", "work=1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 flows (call server→handle)"), "{}", text(&o));
}

/// The same two processes as one Perfetto protobuf trace: a process per node, each node's
/// spans on its own tracks, and the flow from the caller's span to the callee's.
#[test]
fn joined_perfetto_export_has_a_process_per_node_and_the_flow() {
    let Some(tp) = perfetto() else { return };
    let doc = joined_export("export-tools-join-proto", "perfetto", "joined.pftrace");
    let o = check_perfetto(&tp, &doc, &["request=1", "call server=1", "handle=1", "work=1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 flows (call server→handle); processes: client, server"), "{}", text(&o));
}

/// Perfetto's importer and the checker object to what they should.
#[test]
fn chrome_checker_rejects_broken_documents() {
    let Some(tp) = perfetto() else { return };
    let good = std::fs::read_to_string(export(chain(), "chrome")).unwrap();
    let doc: Value = serde_json::from_str(&good).unwrap();
    let dir = scratch("export-tools-bad-chrome");
    let first_x =
        |v: &mut Value| -> usize { v["traceEvents"].as_array().unwrap().iter().position(|e| e["ph"] == "X").unwrap() };
    type Edit = fn(&mut Value, usize);
    let cases: [(&str, Edit, &str); 3] = [
        (
            "child outlives its parent",
            |v, i| v["traceEvents"][i]["dur"] = 1e7.into(),
            "slice_drop_overlapping_complete_event",
        ),
        ("ts as text", |v, i| v["traceEvents"][i]["ts"] = "soon".into(), "json_tokenizer_failure"),
        ("unknown phase", |v, i| v["traceEvents"][i]["ph"] = "Q".into(), "phase Q unchecked"),
    ];
    for (what, edit, expect) in cases {
        let mut bad = doc.clone();
        let i = first_x(&mut bad);
        edit(&mut bad, i);
        let path = dir.join("bad.json");
        std::fs::write(&path, serde_json::to_vec(&bad).unwrap()).unwrap();
        let o = check_chrome(&tp, &path, &[]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        assert!(text(&o).contains(expect), "{what}: expected {expect:?} in {}", text(&o));
    }
    // tickspan's exports before tids started at 1: Perfetto reads tid 0 as the pid (1), so the
    // std demo's main and worker threads became one.
    let mut old: Value = serde_json::from_slice(&std::fs::read(export(std_demo(), "chrome")).unwrap()).unwrap();
    for e in old["traceEvents"].as_array_mut().unwrap() {
        e["tid"] = e["tid"].as_u64().unwrap().saturating_sub(1).into();
    }
    let path = dir.join("tid0.json");
    std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
    let o = check_chrome(&tp, &path, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("thread 'main' missing in Perfetto's thread table"), "{}", text(&o));

    let cut = dir.join("cut.json");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let o = check_chrome(&tp, &cut, &[]);
    assert!(text(&o).contains("Perfetto refused the trace: JSON trace file is incomplete"), "{}", text(&o));
}

fn check_perfetto(tp: &Path, trace: &Path, args: &[&str]) -> Output {
    let script = workspace().join("tests/tools/check_perfetto.mjs");
    Command::new("node").arg(script).arg(tp).arg(trace).args(args).output().expect("run check_perfetto.mjs")
}

/// Spans per name, as `tickspan stats --json` counts them from the recording.
fn span_counts(trace: &Path) -> Vec<String> {
    let out = run(&["stats", trace.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["spans"].as_array().unwrap().iter().map(|s| format!("{}={}", s["name"].as_str().unwrap(), s["count"])).collect()
}

#[test]
fn perfetto_export_imports_into_perfetto() {
    let Some(tp) = perfetto() else { return };
    // chain: 3 × request { decode { • bytes } store } on main, then the manual span job and its
    // child job_io (ended on the io thread): two lanes, one parent → child flow.
    let doc = export(chain(), "perfetto");
    let mut expect = span_counts(chain());
    expect.push("bytes=3".into());
    let o = check_perfetto(&tp, &doc, &expect.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    assert!(expect.contains(&"job_io=1".to_string()), "{expect:?}");
    assert!(
        text(&o).contains("ok: 14 slices (2 manual) on 1 threads, depth ≤ 2, 0 counter values, 1 flows"),
        "{}",
        text(&o)
    );

    // The std demo: two threads, its values on counter tracks.
    let doc = export(std_demo(), "perfetto");
    let expect = span_counts(std_demo());
    assert!(expect.contains(&"handle_request=4".to_string()), "{expect:?}");
    let o = check_perfetto(&tp, &doc, &expect.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("on 2 threads, depth ≤ 2, 4 counter values, 0 flows"), "{}", text(&o));
}

/// What Perfetto makes of a Perfetto proto export: its dump (tests/tools/tp_engine.mjs
/// dumpTrace), times from the first slice or sample.
fn dump(tp: &Path, trace: &Path, checker: &str) -> Value {
    let out = trace.with_extension("dump.json");
    let script = workspace().join("tests/tools").join(checker);
    let o = Command::new("node").arg(script).arg(tp).arg(trace).arg("--dump").arg(&out).output().unwrap();
    assert!(o.status.success(), "{checker}: {}", text(&o));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let first = |k: &str, v: &Value| v[k].as_array().unwrap().iter().map(|e| e["ts"].as_i64().unwrap()).min();
    let t0 = first("slices", &v).into_iter().chain(first("counters", &v)).min().unwrap_or(0);
    for k in ["slices", "counters"] {
        for e in v[k].as_array_mut().unwrap() {
            e["ts"] = (e["ts"].as_i64().unwrap() - t0).into();
        }
    }
    v
}

/// The proto and the Chrome JSON export of one recording become the same slices (names,
/// categories, times, depths, threads) and counter samples in Perfetto: two encodings by
/// different code paths, read by two importers of Perfetto's.
#[test]
fn perfetto_and_chrome_exports_agree() {
    let Some(tp) = perfetto() else { return };
    let bench = scratch("export-tools").join("bench.tspn");
    let o = run(&["bench-gen", bench.to_str().unwrap(), "--records", "20000", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    for trace in [chain(), std_demo(), &bench] {
        let proto = dump(&tp, &export(trace, "perfetto"), "check_perfetto.mjs");
        let json = dump(&tp, &export(trace, "chrome"), "check_chrome.mjs");
        assert!(proto["slices"].as_array().unwrap().len() > 10, "{proto}");
        // Chrome JSON times are µs with three decimals: ±1 ns.
        let same = |a: &Value, b: &Value| {
            a.as_object().unwrap().iter().all(|(k, x)| match k.as_str() {
                "ts" | "dur" => (x.as_i64().unwrap() - b[k].as_i64().unwrap()).abs() <= 1,
                _ => *x == b[k],
            })
        };
        for k in ["slices", "counters"] {
            let (p, j) = (proto[k].as_array().unwrap(), json[k].as_array().unwrap());
            assert_eq!(p.len(), j.len(), "{}: {k}", trace.display());
            for (a, b) in p.iter().zip(j) {
                assert!(same(a, b), "{}: proto {a} vs JSON {b}", trace.display());
            }
        }
    }
}

/// The fields recording (tests/src/bin/fields.rs): 3 × handle { • retry query }, two of them
/// failed, made once for this file.
fn fields() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| recorded(env!("CARGO_BIN_EXE_fields"), "fields.tspn"))
}

/// Fields as typed attributes and the span status pass OpenTelemetry's schema (a status of the
/// wrong shape or an attribute of the wrong type fails the parse or the round trip).
#[test]
fn otlp_fields_and_status_parse_with_the_schema() {
    let Some(py) = otlp_python() else { return };
    let doc = export(fields(), "otlp");
    let o = check_otlp(&py, &doc, &["handle=3", "query=3"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("OTLP ok: 6 spans in 3 traces, 3 events"), "{}", text(&o));
}

/// Fields and the span status become typed arguments of the slices and instants in Perfetto's
/// trace processor: a span's on its slice (written on its end), an event's on its instant.
#[test]
fn perfetto_slices_carry_fields_and_status_as_args() {
    let Some(tp) = perfetto() else { return };
    let doc = export(fields(), "perfetto");
    let out = doc.with_extension("args.json");
    let o = check_perfetto(&tp, &doc, &["--args", out.to_str().unwrap(), "handle=3", "retry=3", "query=3"]);
    assert!(o.status.success(), "{}", text(&o));
    let slices: Vec<Value> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let args =
        |name: &str| -> Vec<&Value> { slices.iter().filter(|s| s["name"] == name).map(|s| &s["args"]).collect() };
    let handles = args("handle");
    assert_eq!(handles.len(), 3, "{slices:?}");
    for (h, id) in handles.iter().zip([7, 8, 9]) {
        assert_eq!((&h["debug.id"], &h["debug.load"]), (&Value::from(id), &Value::from(0.25)), "{h}");
        assert!(h["debug.self_ns"].is_number(), "the span's own args stay: {h}");
    }
    assert_eq!(handles[0]["debug.ok"], true);
    assert!(handles[0].get("debug.status").is_none(), "{}", handles[0]);
    for h in &handles[1..] {
        assert_eq!(h["debug.ok"], false);
        assert_eq!((&h["debug.status"], &h["debug.status_message"]), (&"error".into(), &"timeout".into()), "{h}");
    }
    for r in args("retry") {
        assert_eq!((&r["debug.attempt"], &r["debug.mode"]), (&Value::from(-2), &Value::from("fast")), "{r}");
    }
    assert!(args("query").iter().all(|q| q.get("debug.id").is_none()), "fields stay with their span");
}
