//! Live inputs of the CLI: standard input, TCP (listen and connect) and `--follow` on a file
//! that is still being written.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tickspan_tests::{cli, scratch};

fn chain(out: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_chain")).arg(out).status().expect("run chain");
    assert!(status.success());
}

fn recorded() -> &'static [u8] {
    static TRACE: OnceLock<Vec<u8>> = OnceLock::new();
    TRACE.get_or_init(|| {
        let path = scratch("live").join("chain.tspn");
        chain(path.to_str().unwrap());
        std::fs::read(path).unwrap()
    })
}

fn request_count(stats_json: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(stats_json).expect("stats JSON");
    v["spans"].as_array().unwrap().iter().find(|r| r["name"] == "request").map_or(0, |r| r["count"].as_u64().unwrap())
}

#[test]
fn reads_standard_input() {
    let trace = recorded();
    let mut child = Command::new(cli())
        .args(["stats", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(trace).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(request_count(&out.stdout), 3);
}

#[test]
fn listens_for_a_drain_over_tcp() {
    let mut child = Command::new(cli())
        .args(["stats", "--json", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("tickspan: listening on ").unwrap_or_else(|| panic!("{line}")).to_string();
    chain(&format!("tcp:{addr}"));
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(request_count(&stdout), 3);
}

#[test]
fn connects_to_a_tcp_stream() {
    let trace = recorded();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let child = Command::new(cli()).args(["tree", "--tcp", &addr]).stdout(Stdio::piped()).spawn().unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    // In two pieces, the cut inside a frame: the decoder takes a stream in any chunks.
    conn.write_all(&trace[..trace.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(&trace[trace.len() / 2..]).unwrap();
    drop(conn);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("├─ decode  ").count(), 3, "{text}");
}

#[test]
fn follows_a_growing_file_until_ctrl_c() {
    let trace = recorded();
    let path = scratch("follow").join("growing.tspn");
    let cut = trace.len() / 3;
    std::fs::write(&path, &trace[..cut]).unwrap();
    let mut child = Command::new(cli())
        .args(["tree", "--follow", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&trace[cut..]).unwrap();
    // Trees are printed while following, before the input ends.
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while text.matches("└─ store  ").count() < 3 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => text.push_str(&(line + "\n")),
            Err(_) => break,
        }
    }
    let shown = text.matches("└─ store  ").count();
    if shown < 3 {
        let _ = child.kill();
    }
    assert_eq!(shown, 3, "no live output: {text}");
    assert!(child.try_wait().unwrap().is_none(), "--follow must keep reading");
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    // Ctrl-C: the trees so far are shown, and the status says the run was interrupted.
    assert_eq!(status.code(), Some(130));
}
