//! A local HTTP/1 server for the tests and the benchmark: hyper on its own thread and runtime,
//! plain or TLS with a self-signed certificate made now (rcgen) for `localhost` and 127.0.0.1.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// A running server (it stops with the test process).
pub struct Server {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The certificate clients must trust (PEM), for a TLS server.
    pub ca_pem: Option<String>,
}

/// The body of every response: `/size/N` is N bytes, anything else `hello`.
fn body(path: &str) -> Bytes {
    match path.strip_prefix("/size/").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => Bytes::from(vec![b'x'; n.min(1 << 20)]),
        None => Bytes::from_static(b"hello"),
    }
}

async fn respond(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(body(req.uri().path()))))
}

fn tls_config() -> (TlsAcceptor, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("make a self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    #[allow(deprecated)] // ring, as the client uses (see its connector)
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
        .expect("server certificate");
    (TlsAcceptor::from(Arc::new(config)), cert.cert.pem())
}

/// Starts a server on 127.0.0.1 (an ephemeral port), with TLS or without.
pub fn start(tls: bool) -> Server {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let port = std_listener.local_addr().expect("local addr").port();
    let (acceptor, ca_pem) = if tls {
        let (a, pem) = tls_config();
        (Some(a), Some(pem))
    } else {
        (None, None)
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(respond);
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match acceptor {
                        Some(a) => match a.accept(tcp).await {
                            Ok(tls) => http.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(tcp), service).await,
                    };
                });
            }
        });
    });
    Server { port, ca_pem }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}
