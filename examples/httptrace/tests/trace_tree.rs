//! The example end to end: a local HTTPS server (a certificate made now), the example binary
//! requesting from it, and `tickspan tree` / `dump --json` on what it recorded.

mod support;

use std::process::Command;

#[test]
fn probe() {
    let server = support::start(true);
    let dir = tickspan_tests::scratch("httptrace");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem.as_ref().unwrap()).unwrap();
    let trace = dir.join("trace.tspn");
    let p = server.port;
    let closed = support::closed_port();
    let out = Command::new(env!("CARGO_BIN_EXE_httptrace"))
        .arg("-o").arg(&trace).arg("--ca").arg(&ca)
        .args([format!("https://localhost:{p}/"), format!("https://localhost:{p}/size/1000"), format!("https://127.0.0.1:{p}/"), format!("http://127.0.0.1:{closed}/")])
        .output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let t = trace.to_str().unwrap();
    eprintln!("{}", tickspan_tests::run_ok(&["tree", t]));
    eprintln!("{}", tickspan_tests::run_ok(&["tree", "--json", t]));
    panic!();
}
