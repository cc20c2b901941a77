//! Fields and span status recorded by a std program (src/bin/fields.rs), as the CLI shows
//! them: dump, tree, stats and the exports.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use tickspan_tests::{record, run_ok as ok};

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
    assert_eq!(header["version"], 4);
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
