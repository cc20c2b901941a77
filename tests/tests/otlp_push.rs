//! OTLP/HTTP push (`tickspan export -f otlp --endpoint`, `tickspan relay`) against a real
//! receiver on loopback: tests/tools/otlp_receiver.py, built on PyPI `opentelemetry-proto`
//! (strict protobuf parsing, OTLP/JSON with hex ids), which logs every request it gets. The
//! spans it receives must be the file export's (ids, parents, names, times), each once; the
//! fault tests start it late, kill and restart it, make it answer 503 with `Retry-After`, 400,
//! a partial success, or slowly, and check the figures tickspan prints.
//!
//! The interpreter is `$TICKSPAN_PYTHON` (.ci/run's venv) or `python3`; without the modules
//! the tests skip, and fail under CI.

mod gdb_support;

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tickspan_tests::{cli, python_with, run, scratch, workspace};

fn python() -> Option<PathBuf> {
    python_with("google.protobuf.unknown_fields, opentelemetry.proto.collector.trace.v1.trace_service_pb2")
}

/// A receiver process and its request log.
struct Receiver {
    py: PathBuf,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    dir: PathBuf,
}

impl Receiver {
    /// Starts one in a new scratch directory (`args`: its fault options).
    fn start(py: &Path, name: &str, args: &[&str]) -> Receiver {
        let dir = scratch(&format!("otlp-{name}"));
        let mut r = Receiver { py: py.into(), child: None, port: 0, log: dir.join("requests.jsonl"), dir };
        let _ = std::fs::remove_file(&r.log);
        r.spawn(0, args);
        r
    }

    /// Starts the process on `port` (0: any), waits until it listens.
    fn spawn(&mut self, port: u16, args: &[&str]) {
        let port_file = self.dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(&self.py)
            .arg(workspace().join("tests/tools/otlp_receiver.py"))
            .args(["--port", &port.to_string(), "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&self.log)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("start otlp_receiver.py");
        self.child = Some(child);
        let t0 = Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                self.port = p.trim().parse().expect("port number");
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && t0.elapsed() < Duration::from_secs(20),
                "the receiver did not start: {exited:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request logged so far.
    fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("a log line")).collect()
    }

    /// The spans of accepted requests.
    fn accepted(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["status"] == 200)
            .flat_map(|r| r["spans"].as_array().unwrap().clone())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The chain recording (tests/src/bin/chain.rs): 11 spans.
fn chain() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let path = scratch("otlp-traces").join("chain.tspn");
        let status = Command::new(env!("CARGO_BIN_EXE_chain")).arg(&path).status().expect("run chain");
        assert!(status.success());
        path
    })
}

/// A synthetic trace of `records` records (`tickspan bench-gen`).
fn generated(records: u64) -> PathBuf {
    let path = scratch("otlp-traces").join(format!("gen-{records}.tspn"));
    if !path.exists() {
        let out = run(&["bench-gen", path.to_str().unwrap(), "--records", &records.to_string(), "--force"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    path
}

/// Spans of `tickspan export TRACE -f otlp` (the file export) in the receiver's log form.
fn file_spans(trace: &Path) -> Vec<Value> {
    let out = run(&["export", trace.to_str().unwrap(), "-f", "otlp", "-q"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap();
    spans
        .iter()
        .map(|s| {
            serde_json::json!({
                "trace": s["traceId"], "id": s["spanId"], "parent": s.get("parentSpanId").cloned().unwrap_or("".into()),
                "name": s["name"],
                "start": s["startTimeUnixNano"].as_str().unwrap().parse::<u64>().unwrap(),
                "end": s["endTimeUnixNano"].as_str().unwrap().parse::<u64>().unwrap(),
            })
        })
        .collect()
}

/// The facts compared: ids, parent, name, times.
fn key(s: &Value) -> (String, String, String, String, u64, u64) {
    let t = |k: &str| s[k].as_str().unwrap().to_string();
    (t("trace"), t("id"), t("parent"), t("name"), s["start"].as_u64().unwrap(), s["end"].as_u64().unwrap())
}

/// Asserts `got` holds each of `want`'s spans exactly once, and nothing else.
fn assert_exactly_once(got: &[Value], want: &[Value]) {
    let mut seen = HashMap::new();
    for s in got {
        *seen.entry(key(s)).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "spans received more than once: {twice:?}");
    let want: HashSet<_> = want.iter().map(key).collect();
    let got: HashSet<_> = seen.into_keys().collect();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}");
}

/// The closing figures printed on stderr.
#[derive(Debug, Default, PartialEq)]
struct Figures {
    queued: u64,
    sent: u64,
    requests: u64,
    retries: u64,
    dropped: u64,
    rejected: u64,
}

fn figures(stderr: &str) -> Figures {
    let line = stderr
        .lines()
        .find(|l| l.contains("otlp: ") && l.contains(" queued, "))
        .unwrap_or_else(|| panic!("no figures in {stderr}"));
    // otlp: N spans queued, S sent to URL in R requests, T retries (M spans), D dropped, J rejected by the collector
    let num = |before: &str| -> u64 {
        let head = &line[..line.find(before).unwrap_or_else(|| panic!("{before:?} in {line}"))];
        head.rsplit(|c: char| !c.is_ascii_digit()).find(|w| !w.is_empty()).unwrap().parse().unwrap()
    };
    Figures {
        queued: num(" span"),
        sent: num(" sent to"),
        requests: num(" request"),
        retries: num(" retr"),
        dropped: num(" dropped"),
        rejected: num(" rejected by"),
    }
}

fn tickspan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(cli());
    c.args(args);
    for v in
        ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"]
    {
        c.env_remove(v);
    }
    c.envs(env.iter().copied()).output().expect("run tickspan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn export_pushes_protobuf_with_gzip_exactly_once() {
    let Some(py) = python() else { return };
    let rx = Receiver::start(&py, "protobuf", &[]);
    let o = tickspan(
        &["export", chain().to_str().unwrap(), "-f", "otlp", "--endpoint", &rx.url()],
        &[
            ("OTEL_SERVICE_NAME", "gateway"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test%2Cci,service.name=ignored"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = &reqs[0];
    assert_eq!(
        (&r["status"], &r["encoding"], &r["gzip"], &r["path"]),
        (&200.into(), &"protobuf".into(), &true.into(), &"/v1/traces".into())
    );
    assert_eq!(r["headers"]["x-api-key"], "s3cret");
    assert!(r["wire_bytes"].as_u64() < r["body_bytes"].as_u64(), "gzip made it smaller: {r}");
    let res = &r["resource"][0];
    assert_eq!((&res["service.name"], &res["deployment.environment"]), (&"gateway".into(), &"test,ci".into()));
    assert!(res["tickspan.node"].is_i64() && res["tickspan.target"].is_string(), "{res}");
    assert_exactly_once(&rx.accepted(), &file_spans(chain()));
    assert_eq!(figures(&stderr(&o)), Figures { queued: 11, sent: 11, requests: 1, ..Figures::default() });
}

#[test]
fn export_pushes_json_and_respects_batch_limits() {
    let Some(py) = python() else { return };
    let trace = generated(20_000);
    let want = file_spans(&trace);
    let rx = Receiver::start(&py, "json", &[]);
    let o = tickspan(
        &[
            "export",
            trace.to_str().unwrap(),
            "-f",
            "otlp",
            "--endpoint",
            &format!("{}/v1/traces", rx.url()),
            "--protocol",
            "http/json",
            "--compression",
            "none",
            "--batch-spans",
            "300",
            "--max-body",
            "65536",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let reqs = rx.requests();
    for r in &reqs {
        assert_eq!(
            (&r["status"], &r["encoding"], &r["gzip"]),
            (&200.into(), &"json".into(), &false.into()),
            "{}",
            r["problem"]
        );
        assert!(r["spans"].as_array().unwrap().len() <= 300);
        assert!(r["body_bytes"].as_u64().unwrap() <= 65536, "{}", r["body_bytes"]);
    }
    // The body limit, not the count, cut most batches (JSON spans are ~700 bytes here).
    assert!(reqs.len() as u64 > want.len() as u64 / 300 + 1, "{} requests for {} spans", reqs.len(), want.len());
    assert_exactly_once(&rx.accepted(), &want);
    let f = figures(&stderr(&o));
    assert_eq!((f.sent, f.requests, f.dropped, f.rejected), (want.len() as u64, reqs.len() as u64, 0, 0));
}

#[test]
fn export_waits_for_a_receiver_that_starts_late() {
    let Some(py) = python() else { return };
    let port = free_port();
    let mut rx = Receiver::start(&py, "late", &[]);
    rx.kill();
    let url = format!("http://127.0.0.1:{port}");
    let mut push = Command::new(cli())
        .args(["export", chain().to_str().unwrap(), "-f", "otlp", "--endpoint", &url, "--retry-for", "30s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    rx.spawn(port, &[]);
    let o = wait_output(&mut push, Duration::from_secs(40));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("retrying for up to") && stderr(&o).contains("reached again after"), "{}", stderr(&o));
    assert_exactly_once(&rx.accepted(), &file_spans(chain()));
    let f = figures(&stderr(&o));
    assert!(f.retries >= 2, "{f:?}");
    assert_eq!((f.sent, f.dropped), (11, 0));
}

/// Waits for `child` to exit (killing it after `limit`) and collects its output.
fn wait_output(child: &mut Child, limit: Duration) -> Output {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("tickspan did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    Output { status: child.wait().unwrap(), stdout: Vec::new(), stderr: err.into_bytes() }
}

#[test]
fn retry_after_of_a_503_is_honoured() {
    let Some(py) = python() else { return };
    let rx = Receiver::start(&py, "503", &["--fail", "2:503:1"]);
    let o = tickspan(&["export", chain().to_str().unwrap(), "-f", "otlp", "--endpoint", &rx.url()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let reqs = rx.requests();
    let status: Vec<_> = reqs.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(status, [503, 503, 200]);
    // Retry-After: 1 s between attempts (the backoff alone would be 125-500 ms).
    for w in reqs.windows(2) {
        let gap = w[1]["t"].as_f64().unwrap() - w[0]["t"].as_f64().unwrap();
        assert!(gap >= 0.95, "retried after {gap} s");
    }
    assert_exactly_once(&rx.accepted(), &file_spans(chain()));
    let f = figures(&stderr(&o));
    assert_eq!((f.sent, f.requests, f.retries, f.dropped), (11, 1, 2, 0));
}

#[test]
fn a_400_is_not_retried_and_its_spans_are_counted() {
    let Some(py) = python() else { return };
    let trace = generated(20_000);
    let want = file_spans(&trace);
    let rx = Receiver::start(&py, "400", &["--fail", "1:400"]);
    let o = tickspan(
        &["export", trace.to_str().unwrap(), "-f", "otlp", "--endpoint", &rx.url(), "--batch-spans", "100"],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "lost spans make the exit code 3: {}", stderr(&o));
    let reqs = rx.requests();
    assert_eq!(reqs[0]["status"], 400);
    let refused: Vec<Value> = reqs[0]["spans"].as_array().unwrap().clone();
    assert_eq!(refused.len(), 100);
    assert!(reqs[1..].iter().all(|r| r["status"] == 200));
    // Never sent again: the accepted spans are all the others, once.
    let others: Vec<Value> = want.iter().filter(|s| !refused.iter().any(|r| key(r) == key(s))).cloned().collect();
    assert_exactly_once(&rx.accepted(), &others);
    let err = stderr(&o);
    assert!(err.contains("100 spans rejected, not retried: HTTP 400: injected failure"), "{err}");
    let f = figures(&err);
    assert_eq!(
        (f.queued, f.sent, f.retries, f.rejected, f.dropped),
        (want.len() as u64, want.len() as u64 - 100, 0, 100, 0)
    );
}

#[test]
fn partial_success_is_reported() {
    let Some(py) = python() else { return };
    let rx = Receiver::start(&py, "partial", &["--partial", "3"]);
    let o = tickspan(&["export", chain().to_str().unwrap(), "-f", "otlp", "--endpoint", &rx.url()], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("the collector rejected 3 spans of 11: rejected by the test receiver"), "{err}");
    let f = figures(&err);
    assert_eq!((f.sent, f.rejected, f.dropped), (8, 3, 0));
}

#[test]
fn bad_configuration_is_refused() {
    for (args, env, expect) in [
        (vec!["-f", "chrome", "--endpoint", "http://127.0.0.1:9"], vec![], "--endpoint pushes OTLP: give -f otlp"),
        (vec!["-f", "otlp", "--endpoint", "ftp://x"], vec![], "give an http:// or https:// URL"),
        (
            vec!["-f", "otlp", "--endpoint", "http://127.0.0.1:9"],
            vec![("OTEL_RESOURCE_ATTRIBUTES", "novalue")],
            "OTEL_RESOURCE_ATTRIBUTES: \"novalue\" is not key=value",
        ),
        (
            vec!["-f", "otlp", "--endpoint", "http://127.0.0.1:9"],
            vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            "only http/protobuf and http/json",
        ),
    ] {
        let mut all = vec!["export", chain().to_str().unwrap()];
        all.extend(args);
        let o = tickspan(&all, &env);
        assert_eq!(o.status.code(), Some(1), "{all:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{all:?}: {}", stderr(&o));
    }
    // Nobody listens and the retries stop at --retry-for: dropped, counted, exit code 3.
    let o = tickspan(
        &[
            "export",
            chain().to_str().unwrap(),
            "-f",
            "otlp",
            "--endpoint",
            &format!("http://127.0.0.1:{}", free_port()),
            "--retry-for",
            "1s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("11 spans dropped (gave up after --retry-for)"), "{}", stderr(&o));
    let f = figures(&stderr(&o));
    assert_eq!((f.queued, f.sent, f.dropped), (11, 0, 11));
    let _ = std::io::stderr().flush();
}

/// `tickspan relay -` with its standard input, the other ends.
fn relay(url: &str, extra: &[&str]) -> (Child, std::process::ChildStdin) {
    let mut c = Command::new(cli())
        .args(["relay", "-", "--endpoint", url])
        .args(extra)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tickspan relay");
    let stdin = c.stdin.take().unwrap();
    (c, stdin)
}

/// A span's name and times with its parent's name and start, counted.
fn by_shape(spans: &[Value]) -> HashMap<(String, u64, u64, String, u64), usize> {
    let by_id: HashMap<&str, &Value> = spans.iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
    let mut out = HashMap::new();
    for s in spans {
        let p = by_id.get(s["parent"].as_str().unwrap());
        let k = (
            s["name"].as_str().unwrap().to_string(),
            s["start"].as_u64().unwrap(),
            s["end"].as_u64().unwrap(),
            p.map_or(String::new(), |p| p["name"].as_str().unwrap().to_string()),
            p.map_or(0, |p| p["start"].as_u64().unwrap()),
        );
        *out.entry(k).or_insert(0) += 1;
    }
    out
}

/// Waits until `rx` has accepted a request.
fn wait_accepted(rx: &Receiver) {
    let t0 = Instant::now();
    while rx.accepted().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "nothing reached the receiver");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn relay_streams_a_live_source_through_a_collector_restart() {
    let Some(py) = python() else { return };
    let trace = generated(20_000);
    let want = file_spans(&trace);
    let bytes = std::fs::read(&trace).unwrap();
    let mut rx = Receiver::start(&py, "relay-restart", &[]);
    let url = rx.url();
    let (mut child, mut stdin) =
        relay(&url, &["--queue", "100000", "--batch-delay", "100ms", "--every", "300ms", "--retry-for", "60s"]);
    // The first third arrives and is sent while the collector is up.
    let third = bytes.len() / 3;
    stdin.write_all(&bytes[..third]).unwrap();
    wait_accepted(&rx);
    // The collector goes away; the stream goes on; the collector comes back on its port.
    let port = rx.port;
    rx.kill();
    stdin.write_all(&bytes[third..2 * third]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    rx.spawn(port, &[]);
    stdin.write_all(&bytes[2 * third..]).unwrap();
    drop(stdin);
    let o = wait_output(&mut child, Duration::from_secs(90));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("retrying for up to") && err.contains("reached again after"), "{err}");
    // The counts as it ran, then the closing figures: every span sent once, none lost.
    assert!(err.lines().any(|l| l.starts_with("relay: ") && l.contains(" queued, ")), "{err}");
    assert!(err.lines().any(|l| l.contains("relay: ") && l.contains(" records in ")), "{err}");
    // Span ids count spans in the order the timeline closed them, which a live source's pauses
    // change: spans are compared by what they are and where they hang.
    let (got, want) = (by_shape(&rx.accepted()), by_shape(&want));
    let twice: Vec<_> = got.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(twice.is_empty(), "spans received more than once: {twice:?}");
    assert_eq!(got.len(), want.len());
    assert!(got.keys().all(|k| want.contains_key(k)), "spans that are not the file's");
    let f = figures(err.lines().rev().find(|l| l.contains("otlp: ")).unwrap());
    assert!(f.retries >= 1, "{f:?}");
    assert_eq!((f.queued, f.sent, f.dropped, f.rejected), (want.len() as u64, want.len() as u64, 0, 0));
}

#[test]
fn relay_drops_and_counts_what_a_slow_collector_cannot_take() {
    let Some(py) = python() else { return };
    let trace = generated(20_000);
    let want = file_spans(&trace);
    let rx = Receiver::start(&py, "relay-slow", &["--delay", "0.3"]);
    let (mut child, mut stdin) = relay(&rx.url(), &["--queue", "200", "--batch-spans", "100", "--every", "0s"]);
    stdin.write_all(&std::fs::read(&trace).unwrap()).unwrap();
    drop(stdin);
    let o = wait_output(&mut child, Duration::from_secs(90));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "dropped spans make the exit code 3: {err}");
    assert!(!err.lines().any(|l| l.starts_with("relay: ") && l.contains(" queued, ")), "--every 0s: {err}");
    let f = figures(&err);
    assert!(f.dropped > 0 && err.contains("queue full"), "{err}");
    // Every span is accounted for, and what was sent arrived once.
    assert_eq!(f.queued, want.len() as u64);
    assert_eq!(f.sent + f.dropped + f.rejected, f.queued, "{f:?}");
    let got = rx.accepted();
    assert_eq!(got.len() as u64, f.sent);
    let want: HashSet<_> = want.iter().map(key).collect();
    let mut seen = HashSet::new();
    for s in &got {
        assert!(want.contains(&key(s)) && seen.insert(key(s)), "unexpected or repeated {s}");
    }
}

#[test]
fn relay_refuses_what_it_cannot_do() {
    for (args, expect) in [
        (vec!["relay", "a.tspn", "b.tspn"], "relay reads one source"),
        (vec!["relay", "--gdb", "127.0.0.1:9"], "--elf"),
        (vec!["relay", "-", "--endpoint", "ftp://x"], "give an http:// or https:// URL"),
    ] {
        let o = tickspan(&args, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn the_recorder_pushes_its_own_spans() {
    let Some(py) = python() else { return };
    let rx = Receiver::start(&py, "in-process", &[]);
    let o = Command::new(env!("CARGO_BIN_EXE_chain")).arg(format!("otlp:{}", rx.url())).output().expect("run chain");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let f = figures(&err);
    assert_eq!((f.queued, f.sent, f.dropped, f.rejected), (11, 11, 0, 0), "{err}");
    let got = rx.accepted();
    let mut names: Vec<&str> = got.iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut want = ["request", "decode", "store"].repeat(3);
    want.extend(["job", "job_io"]);
    want.sort_unstable();
    assert_eq!(names, want);
    // Parents as recorded: decode and store under a request, job_io under job (ended by
    // another thread), all in the traces of their roots.
    let by_id: HashMap<&str, &Value> = got.iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
    for s in &got {
        let parent = s["parent"].as_str().unwrap();
        let expect = match s["name"].as_str().unwrap() {
            "decode" | "store" => Some("request"),
            "job_io" => Some("job"),
            _ => None,
        };
        match expect {
            Some(p) => {
                let ps = by_id.get(parent).unwrap_or_else(|| panic!("{s}: parent not received"));
                assert_eq!((ps["name"].as_str(), &ps["trace"]), (Some(p), &s["trace"]), "{s}");
            }
            None => assert_eq!(parent, "", "{s}"),
        }
    }
}

#[test]
fn relay_reads_rtt_through_a_gdb_stub() {
    let Some(py) = python() else { return };
    // QEMU's gdbstub with the `rtt` firmware held at reset (tests/tests/gdb_rtt_qemu.rs).
    let Some(fw) = gdb_support::boot("otlp_push", "rtt", "rtt", "otlp-relay-rtt", true) else { return };
    let rx = Receiver::start(&py, "relay-rtt", &[]);
    let elf = fw.elf.to_str().unwrap();
    let o = tickspan(
        &["relay", "--gdb", &fw.qemu.gdb, "--elf", elf, "--until", "tickspan_rtt_done", "--endpoint", &rx.url()],
        &[],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let f = figures(&err);
    assert_eq!((f.sent, f.dropped, f.rejected), (f.queued, 0, 0), "{err}");
    // 200 rounds, each `round { work }`: those whose records arrived (the rings refuse and count
    // what the polled channel could not take), each `work` under its `round`, named from the
    // ELF, under the firmware's service name.
    let got = rx.accepted();
    assert_eq!(got.len() as u64, f.sent);
    let by_id: HashMap<&str, &Value> = got.iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
    let rounds = got.iter().filter(|s| s["name"] == "round").count();
    let works: Vec<_> = got.iter().filter(|s| s["name"] == "work").collect();
    assert!(rounds > 0 && rounds <= 200 && !works.is_empty(), "{rounds} rounds, {} works", works.len());
    for w in works {
        assert_eq!(by_id[w["parent"].as_str().unwrap()]["name"], "round", "{w}");
    }
    let res = &rx.requests()[0]["resource"][0];
    assert_eq!(res["service.name"], "rtt", "{res}");
}
