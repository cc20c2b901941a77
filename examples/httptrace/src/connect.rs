//! The connector: hyper-util's `HttpConnector` (with the traced resolver) for TCP, then
//! tokio-rustls for `https`, each step a span of the request that asked for the connection.

use crate::dns::{BoxError, TracedResolver};
use crate::io::{ConnTrace, Stream, TracedIo};
use crate::trace::{self, ConnectFailure};
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tower_service::Service;

/// A `Service<Uri>` connector: spans `connect` (TCP; status error when it fails) and `tls`,
/// and a [`TracedIo`] stream that reports the request's writes and reads.
#[derive(Clone)]
pub struct TracedConnector {
    http: HttpConnector<TracedResolver>,
    tls: TlsConnector,
}

impl TracedConnector {
    /// A connector that trusts `roots` for `https`.
    pub fn new(roots: RootCertStore) -> Result<TracedConnector, tokio_rustls::rustls::Error> {
        let mut http = HttpConnector::new_with_resolver(TracedResolver::default());
        http.enforce_http(false);
        http.set_nodelay(true);
        // ring rather than aws-lc-rs, rustls's default: it builds without cmake and far faster.
        // rustls deprecates it for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let provider = tokio_rustls::rustls::crypto::ring::default_provider();
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TracedConnector { http, tls: TlsConnector::from(Arc::new(config)) })
    }
}

/// Polls `fut` with `req` as the current request, so that the resolver `HttpConnector` calls
/// from inside it finds it (the connect may finish in a background task after the request
/// took another connection).
async fn in_request<F: Future>(req: Option<Arc<trace::RequestTrace>>, fut: F) -> F::Output {
    match req {
        Some(r) => trace::CURRENT.scope(r, fut).await,
        None => fut.await,
    }
}

impl Service<Uri> for TracedConnector {
    type Response = TokioIo<TracedIo>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let req = trace::current();
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let resolves = host.parse::<std::net::IpAddr>().is_err();
        if let Some(r) = &req {
            r.connect_start(resolves);
        }
        let https = uri.scheme() == Some(&hyper::http::uri::Scheme::HTTPS);
        let tcp = self.http.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = in_request(req.clone(), tcp).await;
            if let Some(r) = &req {
                r.connect_done(tcp.as_ref().err().map(|e| ConnectFailure::of(e)));
            }
            let tcp = tcp?;
            let tcp = tcp.into_inner();
            let stream: Box<dyn Stream> = if https {
                let name = ServerName::try_from(host)?;
                if let Some(r) = &req {
                    r.tls_start();
                }
                let tls = tls.connect(name, tcp).await;
                if let Some(r) = &req {
                    r.tls_done(tls.is_ok());
                }
                Box::new(tls?)
            } else {
                Box::new(tcp)
            };
            Ok(TokioIo::new(TracedIo::new(stream, Arc::new(ConnTrace::default()))))
        })
    }
}
