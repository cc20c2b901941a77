//! Fields and span status recorded by a std program (src/bin/fields.rs), as the CLI shows
//! them: dump, tree, stats and the exports.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use tickspan_tests::{record, run, run_ok as ok};

fn trace() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| record(env!("CARGO_BIN_EXE_fields"), "fields", "fields.tspn"))
}

#[test]
fn dump_json_has_typed_fields_and_status() {
    let t = trace().to_str().unwrap();
    let lines: Vec<Value> = ok(&["dump", "--json", t]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let fields: Vec<(&str, &Value)> =
        lines.iter().filter(|l| l["field"] == true).map(|l| (l["name"].as_str().unwrap(), &l["value"])).collect();
    let want: [(&str, Value); 5] = [
        ("id", 7.into()),
        ("ok", true.into()),
        ("load", 0.25.into()),
        ("attempt", (-2).into()),
        ("mode", "fast".into()),
    ];
    for (k, v) in &want {
        assert!(fields.contains(&(k, v)), "{k} = {v} in {fields:?}");
    }
    assert_eq!(fields.len(), 15, "five fields per request: {fields:?}");
    let status: Vec<&Value> = lines.iter().filter(|l| l.get("status").is_some()).collect();
    assert_eq!(status.len(), 2);
    assert!(status.iter().all(|s| s["status"] == "error" && s["name"] == "timeout"), "{status:?}");
    let header = lines.iter().find(|l| l["type"] == "header").unwrap();
    assert_eq!(header["version"], tickspan::wire::FORMAT_VERSION);
}

#[test]
fn tree_shows_fields_and_marks_failed_spans() {
    let t = trace().to_str().unwrap();
    let out = ok(&["tree", t]);
    assert!(out.contains("handle id=7 ok=true load=0.25  "), "{out}");
    assert!(out.contains("handle id=8 ok=false load=0.25 ✗ error: timeout  "), "{out}");
    assert!(out.contains("• retry attempt=-2 mode=\"fast\" (+"), "{out}");
    assert_eq!(out.matches("✗ error").count(), 2, "{out}");
    assert!(!out.contains("query id="), "fields stay with their span: {out}");
}

#[test]
fn stats_count_errors_per_span_name() {
    let t = trace().to_str().unwrap();
    let v: Value = serde_json::from_str(&ok(&["stats", t, "--json"])).unwrap();
    let row = |n: &str| v["spans"].as_array().unwrap().iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!((row("handle")["count"].clone(), row("handle")["errors"].clone()), (3.into(), 2.into()));
    assert_eq!(row("query")["errors"], 0);
    let table = ok(&["stats", t]);
    assert!(table.lines().next().unwrap().contains("errors"), "{table}");
}

/// Every node of every tree line, depth first.
fn nodes(v: &Value, out: &mut Vec<Value>) {
    out.push(v.clone());
    for c in v["children"].as_array().into_iter().flatten() {
        nodes(c, out);
    }
}

#[test]
fn tree_json_has_typed_fields_and_status() {
    let t = trace().to_str().unwrap();
    let mut all = Vec::new();
    for l in ok(&["tree", "--json", t]).lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["type"] == "tree" {
            nodes(&v["root"], &mut all);
        }
    }
    let handles: Vec<&Value> = all.iter().filter(|n| n["name"] == "handle").collect();
    assert_eq!(handles.len(), 3, "{all:?}");
    let ids: Vec<&Value> = handles.iter().map(|h| &h["fields"]["id"]).collect();
    assert_eq!(ids, [&Value::from(7), &Value::from(8), &Value::from(9)]);
    assert_eq!(handles[0]["fields"]["ok"], true);
    assert_eq!(handles[0]["fields"]["load"], 0.25);
    assert!(handles[0].get("status").is_none(), "{:?}", handles[0]);
    for h in &handles[1..] {
        assert_eq!((&h["status"], &h["status_message"]), (&"error".into(), &"timeout".into()), "{h:?}");
        assert_eq!(h["fields"]["ok"], false);
    }
    let retries: Vec<&Value> = all.iter().filter(|n| n["name"] == "retry").collect();
    assert_eq!(retries.len(), 3);
    assert!(retries.iter().all(|r| r["fields"]["attempt"] == -2 && r["fields"]["mode"] == "fast"), "{retries:?}");
    assert!(all.iter().filter(|n| n["name"] == "query").all(|q| q.get("fields").is_none()));
}

#[test]
fn chrome_args_carry_fields_and_status() {
    let t = trace().to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(&["export", t, "--format", "chrome"])).expect("chrome JSON");
    let ev = doc["traceEvents"].as_array().unwrap();
    let handles: Vec<&Value> = ev.iter().filter(|e| e["name"] == "handle" && e["ph"] == "X").collect();
    assert_eq!(handles.len(), 3);
    assert_eq!(handles[0]["args"]["id"], 7);
    assert_eq!(handles[0]["args"]["ok"], true);
    assert_eq!(handles[2]["args"]["status"], "error");
    assert_eq!(handles[2]["args"]["status_message"], "timeout");
    let retry = ev.iter().find(|e| e["name"] == "retry").unwrap();
    assert_eq!(
        (&retry["args"]["attempt"], &retry["args"]["mode"]),
        (&Value::from(-2), &Value::from("fast")),
        "{retry}"
    );
}

#[test]
fn otlp_attributes_are_typed_and_failed_spans_have_error_status() {
    let t = trace().to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(&["export", t, "--format", "otlp"])).expect("OTLP JSON");
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap();
    let attr = |s: &Value, k: &str| -> Value {
        s["attributes"].as_array().unwrap().iter().find(|a| a["key"] == k).map_or(Value::Null, |a| a["value"].clone())
    };
    let mut handles: Vec<&Value> = spans.iter().filter(|s| s["name"] == "handle").collect();
    handles.sort_by_key(|s| s["startTimeUnixNano"].as_str().unwrap().parse::<u64>().unwrap());
    assert_eq!(handles.len(), 3);
    // OTLP/JSON: 64-bit ints as decimal strings, doubles as numbers, bools as bools.
    assert_eq!(attr(handles[0], "id"), serde_json::json!({"intValue": "7"}));
    assert_eq!(attr(handles[0], "ok"), serde_json::json!({"boolValue": true}));
    assert_eq!(attr(handles[0], "load"), serde_json::json!({"doubleValue": 0.25}));
    assert!(handles[0].get("status").is_none_or(|s| s["code"] != 2), "{}", handles[0]);
    for h in &handles[1..] {
        // STATUS_CODE_ERROR = 2.
        assert_eq!(h["status"], serde_json::json!({"code": 2, "message": "timeout"}), "{h}");
    }
    let retry = handles[0]["events"].as_array().unwrap().iter().find(|e| e["name"] == "retry").expect("retry event");
    assert_eq!(attr(retry, "attempt"), serde_json::json!({"intValue": "-2"}));
    assert_eq!(attr(retry, "mode"), serde_json::json!({"stringValue": "fast"}));
}

/// `tickspan ARGS` (exit 0): its standard output and error.
fn both(args: &[&str]) -> (String, String) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
    (String::from_utf8(o.stdout).unwrap(), err)
}

/// `--level`: the warn-level retry events (and their fields) are hidden below error, shown at
/// warn, and every view says how many it hid; spans, their fields and status stay.
#[test]
fn level_hides_events_below_it_and_says_how_many() {
    let t = trace().to_str().unwrap();
    let hid = |n: u32, l: &str| format!("--level {l} hid {n} event or value record");
    let (out, err) = both(&["tree", t, "--level", "error"]);
    assert!(!out.contains("retry"), "{out}");
    assert!(out.contains("handle id=8 ok=false load=0.25 ✗ error: timeout  "), "{out}");
    assert!(err.contains(&hid(3, "error")), "{err}");
    let (out, err) = both(&["tree", t, "--level", "warn"]);
    assert_eq!(out.matches("• retry attempt=-2").count(), 3, "{out}");
    assert!(err.contains(&hid(0, "warn")), "{err}");

    let (out, err) = both(&["dump", "--json", t, "--level", "error"]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let named = |n: &str| lines.iter().filter(|l| l["name"] == n && l["type"] != "callsite").count();
    assert_eq!((named("retry"), named("attempt"), named("mode")), (0, 0, 0), "{out}");
    assert_eq!((named("id"), named("timeout")), (3, 2), "span fields and status stay: {out}");
    assert!(err.contains(&hid(3, "error")), "{err}");

    let (_, err) = both(&["stats", t, "--level", "error"]);
    assert!(err.contains(&hid(3, "error")), "{err}");
    let (out, err) = both(&["export", t, "-f", "chrome", "--level", "error"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let ev = doc["traceEvents"].as_array().unwrap();
    assert!(!ev.iter().any(|e| e["name"] == "retry"), "{out}");
    assert_eq!(ev.iter().filter(|e| e["name"] == "handle" && e["ph"] == "X").count(), 3);
    assert!(err.contains(&hid(3, "error")), "{err}");

    // Not taken where it would be ignored, nor misspelt.
    let o = run(&["tree", t, t, "--level", "error"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--level filters one node's trace"));
    let o = run(&["tree", t, "--level", "loud"]);
    assert_ne!(o.status.code(), Some(0));
}
