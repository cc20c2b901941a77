//! Formatted events and spans recorded by a std program (src/bin/format.rs): the host renders
//! each message from the format string (a callsite name, never on the wire) and its argument
//! records, in the tree, dump (text and JSON) and the Chrome and OTLP exports.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use tickspan_tests::{record, run_ok as ok};

fn trace() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| record(env!("CARGO_BIN_EXE_format"), "format", "format.tspn"))
}

const MESSAGES: [&str; 10] = [
    "request 7",
    "handle 0x7",
    "retry 1 of 2",
    "retry 2 of 2",
    "slow 840ms on disk",
    "ratio 0.12 ok=true",
    "request 8",
    "handle 0x8",
    "retry 1 of 1",
    "slow 960ms on disk",
];

#[test]
fn tree_shows_rendered_messages() {
    let out = ok(&["tree", trace().to_str().unwrap()]);
    for m in
        ["handle 0x7  ", "• retry 1 of 2 (+", "• retry 2 of 2 (+", "• slow 840ms on disk (+", "• ratio 0.12 ok=true (+"]
    {
        assert!(out.contains(m), "{m:?} in {out}");
    }
    // Each request's `io` is its child: the first manual span of the first ring has an id too.
    for id in [7, 8] {
        let at = out.find(&format!("request {id} #")).unwrap_or_else(|| panic!("request {id} in {out}"));
        let next = out[at..].lines().nth(1).unwrap_or("");
        assert!(next.starts_with("└─ io #") && next.contains("bytes=4096"), "{next:?} in {out}");
    }
    assert!(!out.contains('{'), "no format string left unrendered: {out}");
}

#[test]
fn dump_has_the_format_the_arguments_and_the_message() {
    let t = trace().to_str().unwrap();
    let lines: Vec<Value> = ok(&["dump", "--json", t]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let msgs: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "message").map(|l| l["message"].as_str().unwrap()).collect();
    // In stream order: each request's messages, the last event's included.
    let mut want = MESSAGES.to_vec();
    want.push("ratio 0.12 ok=true");
    assert_eq!(msgs, want);
    assert!(lines.iter().filter(|l| l["type"] == "message").all(|l| l.get("missing").is_none()));
    let fmt = lines.iter().find(|l| l["type"] == "message" && l["message"] == "slow 840ms on disk").unwrap();
    assert_eq!(fmt["format"], "slow {}ms on {}");
    // The arguments: typed, positional, records of the format's callsite.
    let args: Vec<(&Value, &Value)> = lines
        .iter()
        .filter(|l| l["name"] == "slow {}ms on {}" && l.get("arg").is_some())
        .map(|l| (&l["arg"], &l["value"]))
        .take(2)
        .collect();
    assert_eq!(args, [(&0.into(), &840.into()), (&1.into(), &"disk".into())]);
    let callsites: Vec<&Value> = lines.iter().filter(|l| l["type"] == "callsite" && l["kind"] == "Format").collect();
    assert_eq!(callsites.len(), 5, "{callsites:?}");
    let text = ok(&["dump", t]);
    assert!(text.contains("message    \"retry 2 of 2\""), "{text}");
}

#[test]
fn tree_json_nodes_carry_format_and_message() {
    let mut all = Vec::new();
    fn nodes(v: &Value, out: &mut Vec<Value>) {
        out.push(v.clone());
        for c in v["children"].as_array().into_iter().flatten() {
            nodes(c, out);
        }
    }
    for l in ok(&["tree", "--json", trace().to_str().unwrap()]).lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["type"] == "tree" {
            nodes(&v["root"], &mut all);
        }
    }
    let msgs: Vec<&str> = all.iter().filter_map(|n| n["message"].as_str()).collect();
    for m in MESSAGES {
        assert!(msgs.contains(&m), "{m} in {msgs:?}");
    }
    let h = all.iter().find(|n| n["message"] == "handle 0x7").unwrap();
    assert_eq!((&h["format"], &h["type"]), (&"handle {:#x}".into(), &"span".into()));
    assert!(h.get("fields").is_none(), "arguments are not fields: {h}");
}

#[test]
fn chrome_and_otlp_carry_the_message() {
    let t = trace().to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(&["export", t, "--format", "chrome"])).unwrap();
    let ev = doc["traceEvents"].as_array().unwrap();
    let msgs: Vec<&str> = ev.iter().filter_map(|e| e["args"]["message"].as_str()).collect();
    for m in MESSAGES {
        assert!(msgs.contains(&m), "{m} in {msgs:?}");
    }
    let slow = ev.iter().find(|e| e["args"]["message"] == "slow 840ms on disk").unwrap();
    assert_eq!(slow["name"], "slow {}ms on {}", "names stay the format: {slow}");
    let doc: Value = serde_json::from_str(&ok(&["export", t, "--format", "otlp"])).unwrap();
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap();
    let message = |v: &Value| -> Option<String> {
        let a = v["attributes"].as_array()?.iter().find(|a| a["key"] == "message")?;
        a["value"]["stringValue"].as_str().map(str::to_owned)
    };
    let mut seen: Vec<String> = spans.iter().filter_map(message).collect();
    seen.extend(spans.iter().flat_map(|s| s["events"].as_array().into_iter().flatten()).filter_map(message));
    for m in MESSAGES {
        assert!(seen.iter().any(|s| s == m), "{m} in {seen:?}");
    }
}
