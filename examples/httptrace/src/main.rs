//! GETs each URL in turn with the traced client and drains the tickspan stream.
//!
//! ```text
//! httptrace [-o OUT] [--ca CERT.pem]... URL...
//!     OUT: a file (default httptrace.tspn), `-` for stdout
//!     --ca: PEM certificates to trust besides the built-in web roots
//! ```
//! Then `tickspan tree httptrace.tspn`: one tree per request. Requests to one host reuse its
//! kept-alive connection, which shows as a request without `dns`, `connect` and `tls`.
use std::process::ExitCode;
use tickspan_httptrace::Client;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::RootCertStore;

struct Args {
    out: String,
    cas: Vec<String>,
    urls: Vec<hyper::Uri>,
}

const USAGE: &str = "usage: httptrace [-o OUT] [--ca CERT.pem]... URL...";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args { out: "httptrace.tspn".into(), cas: Vec::new(), urls: Vec::new() };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--out" => a.out = args.next().ok_or("-o needs a file (or - for stdout)")?,
            "--ca" => a.cas.push(args.next().ok_or("--ca needs a PEM file")?),
            "-h" | "--help" => return Err(USAGE.into()),
            url => {
                let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
                if uri.host().is_none() || !matches!(uri.scheme_str(), Some("http" | "https")) {
                    return Err(format!("{url}: not an http:// or https:// URL"));
                }
                a.urls.push(uri);
            }
        }
    }
    if a.urls.is_empty() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn roots(cas: &[String]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for path in cas {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("{path}: {e}"))?;
        let mut n = 0;
        for cert in certs {
            roots.add(cert.map_err(|e| format!("{path}: {e}"))?).map_err(|e| format!("{path}: {e}"))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("{path}: no certificate in it"));
        }
    }
    Ok(roots)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("httptrace: {e}");
            return ExitCode::from(2);
        }
    };
    let client = match roots(&args.cas).and_then(|r| Client::new(r).map_err(|e| e.to_string())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("httptrace: {e}");
            return ExitCode::from(2);
        }
    };
    let drain = match args.out.as_str() {
        "-" => tickspan::transport::to_stdout(),
        path => tickspan::transport::to_file(path),
    };
    let drain = match drain {
        Ok(d) => d,
        Err(e) => {
            eprintln!("httptrace: cannot open {}: {e}", args.out);
            return ExitCode::FAILURE;
        }
    };
    // One thread: the connection's task cannot run between hyper-util handing a request its
    // connection and the client claiming it (client.rs).
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("httptrace: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    rt.block_on(async {
        for url in &args.urls {
            match client.get(url.clone()).await {
                Ok(o) => eprintln!("GET {url}: {} ({} bytes, reused: {})", o.status, o.bytes, o.reused),
                Err(e) => {
                    failed += 1;
                    eprintln!("GET {url}: {e}{}", source_chain(&*e));
                }
            }
        }
    });
    drop(client);
    drop(rt);
    match drain.finish() {
        Ok(bytes) => eprintln!("{bytes} bytes of trace to {}", args.out),
        Err(e) => {
            eprintln!("httptrace: writing {}: {e}", args.out);
            return ExitCode::FAILURE;
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `: cause: cause…` of an error (hyper-util's say little without their sources).
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = String::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
