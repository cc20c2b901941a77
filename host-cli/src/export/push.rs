//! OTLP/HTTP push: spans sent to a collector (`POST /v1/traces`) as they close, as protobuf
//! (`application/x-protobuf`, the generated `opentelemetry-proto` messages) or OTLP/JSON.
//!
//! The decode thread hands each closed span to [`Pusher`] (a [`Visitor`]), which queues it for
//! a sender thread through a bounded channel of `--queue` spans. When the queue is full, an
//! export of a file waits (nothing is lost), while `relay` and the in-process sink drop the
//! span and count it: a live source cannot be held back. The sender batches at most
//! `--batch-spans` spans, waits at most `--batch-delay` for a batch to fill, and never sends a
//! body over `--max-body` bytes (before compression). It retries as the OTLP specification
//! says: only on 429, 502, 503, 504 and connection failures, after `Retry-After` when the
//! collector gives one (in seconds), else after an exponential backoff with jitter, for at most
//! `--retry-for` per batch; 400, 413 and every other answer are not retried and their spans
//! are counted as rejected, as are those a 2xx answer's `partial_success.rejected_spans` names.
//! A collector that restarts is reached again by the next attempt (a new connection).
//! [`Figures`] counts every span: `queued = sent + rejected + dropped` once the sender is done.

use super::otlp::{env, parse_kv_list, request_json, resource, scope, scramble, Builder, ResourceConfig};
use crate::model::{Mark, Meta, NameId, Span as TlSpan, Visitor};
use crate::run::{exit, Fail, STOP};
use crate::units::count;
use clap::{Args, ValueEnum};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// OTLP/HTTP encodings.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Protobuf (`application/x-protobuf`), OTLP/HTTP's default.
    #[value(name = "http/protobuf")]
    Protobuf,
    /// OTLP/JSON (`application/json`).
    #[value(name = "http/json")]
    Json,
}

/// Request body compression.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`Content-Encoding: gzip`).
    Gzip,
    /// None.
    None,
}

/// Options of an OTLP/HTTP push (`export --endpoint`, `relay`).
#[derive(Args, Debug, Clone)]
pub struct PushArgs {
    /// Collector base URL, e.g. http://127.0.0.1:4318 (`/v1/traces` is appended unless the URL
    /// ends with it). Default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else
    /// $OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else http://localhost:4318/v1/traces.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Encoding (default $OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or $OTEL_EXPORTER_OTLP_PROTOCOL,
    /// else http/protobuf).
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub protocol: Option<Protocol>,
    /// Body compression (default $OTEL_EXPORTER_OTLP_TRACES_COMPRESSION or
    /// $OTEL_EXPORTER_OTLP_COMPRESSION, else gzip).
    #[arg(long, value_enum, value_name = "ALGO")]
    pub compression: Option<Compression>,
    /// Extra request header KEY=VALUE (repeat; added to $OTEL_EXPORTER_OTLP_HEADERS and
    /// $OTEL_EXPORTER_OTLP_TRACES_HEADERS).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Most spans per request.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_spans: u32,
    /// Longest a span waits for its batch to fill.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = wall)]
    pub batch_delay: Duration,
    /// Largest request body in bytes, before compression (a span that alone exceeds it is
    /// dropped and counted).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_body: u32,
    /// Spans waiting for the sender at most (bounds memory: about 1 KB each).
    #[arg(long, value_name = "N", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,
    /// Longest a batch is retried before its spans are dropped (and counted).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = wall)]
    pub retry_for: Duration,
    /// Timeout of one request (default $OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or
    /// $OTEL_EXPORTER_OTLP_TIMEOUT in ms, else 10s).
    #[arg(long, value_name = "DURATION", value_parser = wall)]
    pub timeout: Option<Duration>,
}

/// A command-line duration in real time (not ticks).
pub(crate) fn wall(s: &str) -> Result<Duration, String> {
    match s.parse::<crate::units::Duration>()? {
        crate::units::Duration::Ns(ns) => Ok(Duration::from_nanos(ns)),
        crate::units::Duration::Ticks(_) => Err(format!("`{s}`: give a time (e.g. 500ms), not ticks")),
    }
}

/// What to do with a span when the queue is full.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: the source can wait (a file).
    Wait,
    /// Drop the span and count it: the source cannot wait (a live target, the recorder).
    Drop,
}

/// A resolved push configuration (command line over environment over defaults).
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Full URL of the traces endpoint.
    pub url: String,
    /// The encoding.
    pub protocol: Protocol,
    /// Whether bodies are gzip-compressed.
    pub gzip: bool,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Most spans per request.
    pub batch_spans: usize,
    /// Longest a span waits for its batch to fill.
    pub batch_delay: Duration,
    /// Largest body before compression.
    pub max_body: usize,
    /// Queue capacity in spans.
    pub queue: usize,
    /// Longest a batch is retried.
    pub retry_for: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Queue-full policy.
    pub when_full: WhenFull,
}

/// `OTEL_EXPORTER_OTLP_TRACES_<name>`, else `OTEL_EXPORTER_OTLP_<name>`.
fn otlp_env(name: &str) -> Option<String> {
    env(&format!("OTEL_EXPORTER_OTLP_TRACES_{name}")).or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{name}")))
}

/// The traces URL of a base URL: `/v1/traces` appended unless it is there already.
fn traces_url(base: &str) -> String {
    let base = base.trim();
    if base.trim_end_matches('/').ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

impl PushConfig {
    /// Resolves `a` against the OpenTelemetry environment variables.
    pub fn resolve(a: &PushArgs, when_full: WhenFull) -> Result<PushConfig, Fail> {
        let usage = |msg: String| Fail { code: exit::USAGE, msg };
        let url = match &a.endpoint {
            Some(e) => traces_url(e),
            None => env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| traces_url(&e)))
                .unwrap_or_else(|| "http://localhost:4318/v1/traces".into()),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(usage(format!("OTLP endpoint {url:?}: give an http:// or https:// URL")));
        }
        if url.starts_with("https://") && !cfg!(feature = "tls") {
            return Err(usage(format!("OTLP endpoint {url}: this tickspan was built without the `tls` feature")));
        }
        let protocol = match (a.protocol, otlp_env("PROTOCOL")) {
            (Some(p), _) => p,
            (None, None) => Protocol::Protobuf,
            (None, Some(p)) => match p.trim() {
                "http/protobuf" => Protocol::Protobuf,
                "http/json" => Protocol::Json,
                other => {
                    return Err(usage(format!(
                        "OTEL_EXPORTER_OTLP_PROTOCOL={other}: only http/protobuf and http/json are supported"
                    )))
                }
            },
        };
        let gzip = match (a.compression, otlp_env("COMPRESSION")) {
            (Some(c), _) => c == Compression::Gzip,
            (None, None) => true,
            (None, Some(c)) => match c.trim() {
                "gzip" => true,
                "none" => false,
                other => return Err(usage(format!("OTEL_EXPORTER_OTLP_COMPRESSION={other}: give gzip or none"))),
            },
        };
        let mut headers = Vec::new();
        for var in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            if let Some(list) = env(var) {
                headers.extend(parse_kv_list(&list).map_err(|e| usage(format!("{var}: {e}")))?);
            }
        }
        for h in &a.headers {
            headers.extend(parse_kv_list(h).map_err(|e| usage(format!("--header {h}: {e}")))?);
        }
        let timeout = match (a.timeout, otlp_env("TIMEOUT")) {
            (Some(t), _) => t,
            (None, None) => Duration::from_secs(10),
            (None, Some(ms)) => Duration::from_millis(
                ms.trim().parse().map_err(|_| usage(format!("OTEL_EXPORTER_OTLP_TIMEOUT={ms}: give milliseconds")))?,
            ),
        };
        Ok(PushConfig {
            url,
            protocol,
            gzip,
            headers,
            batch_spans: a.batch_spans as usize,
            batch_delay: a.batch_delay,
            max_body: a.max_body as usize,
            queue: a.queue as usize,
            retry_for: a.retry_for,
            timeout,
            when_full,
        })
    }
}

/// Counts of a push, shared by the decode and sender threads.
#[derive(Debug, Default)]
pub struct Figures {
    /// Spans handed to the push.
    pub queued: AtomicU64,
    /// Spans the collector accepted.
    pub sent: AtomicU64,
    /// Requests answered with 2xx.
    pub requests: AtomicU64,
    /// Requests sent again after a retryable failure.
    pub retries: AtomicU64,
    /// Spans in those requests (a span retried twice counts twice).
    pub retried_spans: AtomicU64,
    /// Spans refused by the collector (non-retryable answer, or partial success).
    pub rejected: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped_full: AtomicU64,
    /// Spans dropped after `--retry-for` (or at Ctrl-C) while their batch was being retried.
    pub dropped_retry: AtomicU64,
    /// Spans dropped because one alone exceeded `--max-body`.
    pub dropped_large: AtomicU64,
    /// Bytes of request bodies sent (after compression), retries included.
    pub body_bytes: AtomicU64,
}

impl Figures {
    /// Spans dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_full.load(Relaxed) + self.dropped_retry.load(Relaxed) + self.dropped_large.load(Relaxed)
    }

    /// The counts so far, on one line (`relay` prints it as it runs).
    pub fn progress(&self) -> String {
        let g = |a: &AtomicU64| a.load(Relaxed);
        format!(
            "{} queued, {} sent in {}, {}, {} dropped, {} rejected, {} B on the wire",
            count(g(&self.queued), "span"),
            g(&self.sent),
            count(g(&self.requests), "request"),
            retries(g(&self.retries)),
            self.dropped(),
            g(&self.rejected),
            g(&self.body_bytes),
        )
    }

    /// The closing line: every span accounted for.
    pub fn summary(&self, url: &str) -> String {
        let g = |a: &AtomicU64| a.load(Relaxed);
        let mut s = format!(
            "otlp: {} queued, {} sent to {url} in {}, {} ({}), {} dropped, {} rejected by the collector",
            count(g(&self.queued), "span"),
            g(&self.sent),
            count(g(&self.requests), "request"),
            retries(g(&self.retries)),
            count(g(&self.retried_spans), "span"),
            self.dropped(),
            g(&self.rejected),
        );
        if self.dropped() > 0 {
            s += &format!(
                " (dropped: {} queue full, {} retries given up, {} over --max-body)",
                g(&self.dropped_full),
                g(&self.dropped_retry),
                g(&self.dropped_large)
            );
        }
        s
    }
}

enum Msg {
    Resource(Resource),
    Spans(Vec<Span>),
}

/// Spans handed to the sender thread at a time: one channel operation (and wake-up) per chunk
/// rather than per span halved the relay's CPU time.
const CHUNK: usize = 64;
/// Longest a span waits in a partial chunk while the source is busy (a pause hands the chunk
/// over at once: [`Pusher::hand_over`]).
const CHUNK_WAIT: Duration = Duration::from_millis(50);

/// The push as a [`Visitor`]: closed spans in, OTLP requests out on a sender thread.
pub struct Pusher {
    builder: Builder,
    resource: ResourceConfig,
    resource_sent: bool,
    tx: Option<SyncSender<Msg>>,
    sender: Option<JoinHandle<()>>,
    /// Spans not yet handed to the sender, and when the first of them came.
    chunk: Vec<Span>,
    chunk_since: Instant,
    when_full: WhenFull,
    url: String,
    /// The counts (shared with the sender thread).
    pub figures: Arc<Figures>,
}

impl Pusher {
    /// Starts the sender thread.
    pub fn start(cfg: PushConfig, resource: ResourceConfig) -> Result<Pusher, Fail> {
        let (tx, rx) = mpsc::sync_channel(cfg.queue.div_ceil(CHUNK));
        let figures = Arc::new(Figures::default());
        let (when_full, url) = (cfg.when_full, cfg.url.clone());
        let mut sender = Sender::new(cfg, figures.clone());
        let handle = std::thread::Builder::new()
            .name("tickspan-otlp".into())
            .spawn(move || sender.run(rx))
            .map_err(|e| Fail::io("starting the OTLP sender thread", e))?;
        Ok(Pusher {
            builder: Builder::default(),
            resource,
            resource_sent: false,
            tx: Some(tx),
            sender: Some(handle),
            chunk: Vec::with_capacity(CHUNK),
            chunk_since: Instant::now(),
            when_full,
            url,
            figures,
        })
    }

    /// Sends what is queued and waits for the sender (at most `--retry-for` per batch), then
    /// returns the counts.
    pub fn finish(mut self) -> Arc<Figures> {
        self.hand_over();
        drop(self.tx.take());
        if let Some(h) = self.sender.take() {
            let _ = h.join();
        }
        self.figures.clone()
    }

    /// The collector's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Hands the spans closed so far to the sender (the source paused, or the chunk is full or
    /// old); when the queue is full they wait or are dropped and counted, as configured.
    pub fn hand_over(&mut self) {
        let Some(tx) = &self.tx else { return };
        if self.chunk.is_empty() {
            return;
        }
        let spans = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let n = spans.len() as u64;
        let full = match self.when_full {
            WhenFull::Wait => tx.send(Msg::Spans(spans)).is_err(),
            WhenFull::Drop => matches!(tx.try_send(Msg::Spans(spans)), Err(TrySendError::Full(_))),
        };
        if full {
            self.figures.dropped_full.fetch_add(n, Relaxed);
        }
    }
}

impl Visitor for Pusher {
    fn close(&mut self, meta: &Meta, s: &TlSpan, _path: &[NameId]) {
        let Some(tx) = &self.tx else { return };
        if !std::mem::replace(&mut self.resource_sent, true) {
            // The resource goes first: the header and the node are known by the first span.
            let _ = tx.send(Msg::Resource(resource(meta, &self.resource)));
        }
        self.chunk.push(self.builder.span(meta, s));
        self.figures.queued.fetch_add(1, Relaxed);
        if self.chunk.len() == 1 {
            self.chunk_since = Instant::now();
        }
        if self.chunk.len() >= CHUNK || self.chunk_since.elapsed() >= CHUNK_WAIT {
            self.hand_over();
        }
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        self.builder.mark(meta, m);
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer in protobuf.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// What one attempt came to.
enum Outcome {
    /// 2xx: spans the collector rejected (partial success) and its message.
    Accepted(u64, String),
    /// Retryable, after the collector's `Retry-After` if it gave one.
    Retry(Option<Duration>, String),
    /// Not retryable.
    Rejected(String),
}

/// First retry delay, doubled after each attempt up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Most bytes of an answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// The sender thread's state.
struct Sender {
    cfg: PushConfig,
    figures: Arc<Figures>,
    agent: ureq::Agent,
    resource: Resource,
    /// Bytes of a request without spans, plus slack for the length prefixes that grow.
    overhead: usize,
    batch: Vec<Span>,
    size: usize,
    /// Whether the collector was failing (so that recovery is reported once).
    failing: bool,
    scratch: String,
}

impl Sender {
    fn new(cfg: PushConfig, figures: Arc<Figures>) -> Sender {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(cfg.timeout)).http_status_as_error(false).build().into();
        let mut s = Sender {
            cfg,
            figures,
            agent,
            resource: Resource::default(),
            overhead: 0,
            batch: Vec::new(),
            size: 0,
            failing: false,
            scratch: String::new(),
        };
        s.set_resource(Resource::default());
        s
    }

    fn set_resource(&mut self, r: Resource) {
        self.resource = r;
        self.overhead = self.body(Vec::new()).len() + 32;
    }

    /// Bytes a span adds to a request body.
    fn span_size(&mut self, s: &Span) -> usize {
        match self.cfg.protocol {
            Protocol::Protobuf => prost::length_delimiter_len(s.encoded_len()) + 1 + s.encoded_len(),
            Protocol::Json => {
                self.scratch.clear();
                super::otlp::span_json(&mut self.scratch, s);
                self.scratch.len() + 1
            }
        }
    }

    fn body(&self, spans: Vec<Span>) -> Vec<u8> {
        match self.cfg.protocol {
            Protocol::Json => request_json(&self.resource, &spans).into_bytes(),
            Protocol::Protobuf => ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(self.resource.clone()),
                    scope_spans: vec![ScopeSpans { scope: Some(scope()), spans, ..Default::default() }],
                    ..Default::default()
                }],
            }
            .encode_to_vec(),
        }
    }

    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut deadline: Option<Instant> = None;
        loop {
            let msg = match deadline {
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Resource(r)) => self.set_resource(r),
                Ok(Msg::Spans(spans)) => {
                    for s in spans {
                        self.add(s, &mut deadline);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.flush();
                    deadline = None;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
            }
        }
    }

    /// Adds `s` to the batch, sending the batch first if `s` would take it over `--max-body`
    /// and after if it is full; `deadline` is when the batch must go at the latest.
    fn add(&mut self, s: Span, deadline: &mut Option<Instant>) {
        let n = self.span_size(&s);
        if n + self.overhead > self.cfg.max_body {
            if self.figures.dropped_large.fetch_add(1, Relaxed) == 0 {
                crate::warning!(
                    "otlp: span {:?} alone needs {n} bytes, over --max-body {}: dropped (and counted)",
                    s.name,
                    self.cfg.max_body
                );
            }
            return;
        }
        if self.size + n + self.overhead > self.cfg.max_body {
            self.flush();
        }
        self.batch.push(s);
        self.size += n;
        if self.batch.len() == 1 {
            *deadline = Some(Instant::now() + self.cfg.batch_delay);
        }
        if self.batch.len() >= self.cfg.batch_spans {
            self.flush();
            *deadline = None;
        }
    }

    /// Sends the batch, retrying as the module docs say.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.batch);
        self.size = 0;
        let n = spans.len() as u64;
        let mut body = self.body(spans);
        if self.cfg.gzip {
            let mut gz =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
            body = match gz.write_all(&body).and_then(|_| gz.finish()) {
                Ok(z) => z,
                Err(_) => unreachable!("writing into a Vec cannot fail"),
            };
        }
        let first = Instant::now();
        let mut attempt = 0u32;
        loop {
            self.figures.body_bytes.fetch_add(body.len() as u64, Relaxed);
            match self.attempt(&body) {
                Outcome::Accepted(rejected, msg) => {
                    if std::mem::take(&mut self.failing) {
                        crate::note!("otlp: {} reached again after {}", self.cfg.url, retries(attempt.into()));
                    }
                    self.figures.requests.fetch_add(1, Relaxed);
                    let rejected = rejected.min(n);
                    self.figures.sent.fetch_add(n - rejected, Relaxed);
                    if rejected > 0 {
                        self.figures.rejected.fetch_add(rejected, Relaxed);
                        crate::warning!("otlp: the collector rejected {} of {n}: {msg}", count(rejected, "span"));
                    }
                    return;
                }
                Outcome::Rejected(why) => {
                    self.figures.rejected.fetch_add(n, Relaxed);
                    crate::warning!("otlp: {} rejected, not retried: {why}", count(n, "span"));
                    return;
                }
                Outcome::Retry(after, why) => {
                    let backoff = BACKOFF_FIRST.saturating_mul(1 << attempt.min(6)).min(BACKOFF_MAX);
                    // Jitter: a delay between half and all of the backoff.
                    let jitter = scramble(first.elapsed().as_nanos() as u64 ^ u64::from(attempt)) % 1000;
                    let delay = after.unwrap_or(backoff / 2 + backoff.mul_f64(jitter as f64 / 2000.0));
                    if STOP.load(Relaxed) || first.elapsed() + delay > self.cfg.retry_for {
                        self.figures.dropped_retry.fetch_add(n, Relaxed);
                        let when = if STOP.load(Relaxed) { "stopped" } else { "gave up after --retry-for" };
                        crate::warning!("otlp: {} dropped ({when}): {why}", count(n, "span"));
                        return;
                    }
                    if !std::mem::replace(&mut self.failing, true) {
                        crate::warning!("otlp: {why}; retrying for up to {:?}", self.cfg.retry_for);
                    }
                    self.figures.retries.fetch_add(1, Relaxed);
                    self.figures.retried_spans.fetch_add(n, Relaxed);
                    sleep_unless_stopped(delay);
                    attempt += 1;
                }
            }
        }
    }

    fn attempt(&self, body: &[u8]) -> Outcome {
        let kind = match self.cfg.protocol {
            Protocol::Protobuf => "application/x-protobuf",
            Protocol::Json => "application/json",
        };
        let mut req = self.agent.post(&self.cfg.url).header("Content-Type", kind);
        if self.cfg.gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(None, format!("{}: {e}", self.cfg.url)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = resp.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().unwrap_or_default();
        let json = self.cfg.protocol == Protocol::Json;
        match status {
            200..=299 => {
                let (rejected, msg) = if json { json_partial(&answer) } else { proto_partial(&answer) };
                Outcome::Accepted(rejected, msg)
            }
            429 | 502 | 503 | 504 => {
                Outcome::Retry(retry_after, format!("{} answered {status}{}", self.cfg.url, reason(&answer, json)))
            }
            413 => Outcome::Rejected(format!(
                "HTTP 413, body too large for the collector: lower --max-body{}",
                reason(&answer, json)
            )),
            _ => Outcome::Rejected(format!("HTTP {status}{}", reason(&answer, json))),
        }
    }
}

/// `1 retry`, `2 retries`.
fn retries(n: u64) -> String {
    format!("{n} {}", if n == 1 { "retry" } else { "retries" })
}

/// Sleeps `d`, waking early at Ctrl-C.
fn sleep_unless_stopped(d: Duration) {
    let end = Instant::now() + d;
    while !STOP.load(Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// `partial_success` of a protobuf answer (an empty or unreadable body: none).
fn proto_partial(body: &[u8]) -> (u64, String) {
    match ExportTraceServiceResponse::decode(body).ok().and_then(|r| r.partial_success) {
        Some(p) => (p.rejected_spans.max(0) as u64, p.error_message),
        None => (0, String::new()),
    }
}

/// `partialSuccess` of a JSON answer (`rejectedSpans` as a number or a decimal string).
fn json_partial(body: &[u8]) -> (u64, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let p = &v["partialSuccess"];
    let n = p["rejectedSpans"].as_u64().or_else(|| p["rejectedSpans"].as_str().and_then(|s| s.parse().ok()));
    (n.unwrap_or(0), p["errorMessage"].as_str().unwrap_or_default().to_string())
}

/// `: <message>` from an error answer (google.rpc.Status, JSON or text), printable and short.
fn reason(body: &[u8], json: bool) -> String {
    let msg = if json {
        serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v["message"].as_str().map(str::to_string))
    } else {
        RpcStatus::decode(body).ok().map(|s| s.message).filter(|m| !m.is_empty())
    };
    let msg = msg.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let msg: String = msg.chars().filter(|c| !c.is_control()).take(200).collect();
    if msg.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", msg.trim())
    }
}

/// Prints the closing figures and picks the exit code: [`exit::IO`] when spans were dropped
/// or rejected.
pub fn report(figures: &Figures, url: &str, quiet: bool) -> u8 {
    let lost = figures.dropped() + figures.rejected.load(Relaxed);
    if lost > 0 {
        crate::warning!("{}", figures.summary(url));
        exit::IO
    } else {
        if !quiet {
            eprintln!("{}", figures.summary(url));
        }
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_the_traces_path_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("https://c/otlp"), "https://c/otlp/v1/traces");
    }

    #[test]
    fn answers_give_partial_success_and_reasons() {
        let r = ExportTraceServiceResponse {
            partial_success: Some(opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "bad spans".into(),
            }),
        };
        assert_eq!(proto_partial(&r.encode_to_vec()), (3, "bad spans".into()));
        assert_eq!(proto_partial(b""), (0, String::new()));
        assert_eq!(json_partial(br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"x"}}"#), (2, "x".into()));
        assert_eq!(json_partial(br#"{"partialSuccess":{"rejectedSpans":4}}"#), (4, String::new()));
        assert_eq!(json_partial(b"{}"), (0, String::new()));
        let st = RpcStatus { code: 3, message: "no\nspans".into() }.encode_to_vec();
        assert_eq!(reason(&st, false), ": nospans");
        assert_eq!(reason(br#"{"code":3,"message":"bad"}"#, true), ": bad");
        assert_eq!(reason(b"", false), "");
    }
}
