//! The traced client: hyper-util's legacy client (its connection pool included) with the
//! traced connector, and a `request` span around each request.

use crate::connect::TracedConnector;
use crate::dns::BoxError;
use crate::io::{ConnHandle, ConnTrace};
use crate::trace::{RequestTrace, CURRENT};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::http::Extensions;
use hyper::{Request, Uri};
use hyper_util::client::legacy;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection};
use hyper_util::rt::TokioExecutor;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use tokio_rustls::rustls::RootCertStore;

/// What a request got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The response status.
    pub status: u16,
    /// Bytes of response body.
    pub bytes: usize,
    /// Whether the connection had served an earlier request.
    pub reused: bool,
}

/// An HTTP/1 client whose requests are traced (see the crate docs).
pub struct Client {
    inner: legacy::Client<TracedConnector, Empty<Bytes>>,
}

impl Client {
    /// A client that trusts `roots` for `https`.
    pub fn new(roots: RootCertStore) -> Result<Client, tokio_rustls::rustls::Error> {
        let inner = legacy::Client::builder(TokioExecutor::new()).build(TracedConnector::new(roots)?);
        Ok(Client { inner })
    }

    /// GETs `uri` and reads the whole body, in one `request` span.
    pub async fn get(&self, uri: Uri) -> Result<Outcome, BoxError> {
        let https = uri.scheme() == Some(&hyper::http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let trace = Arc::new(RequestTrace::start(&hyper::Method::GET, port));
        let mut conn = None;
        let result = self.exchange(uri, &trace, &mut conn).await;
        if let Some((c, _)) = &conn {
            c.release();
        }
        let reused = conn.as_ref().map(|&(_, r)| r);
        trace.finish(reused, result.as_ref().map(|&(s, b)| (s, b)).map_err(|_| ()));
        let (status, bytes) = result?;
        Ok(Outcome { status, bytes, reused: reused.unwrap_or(false) })
    }

    /// Sends the request and reads the response; `conn` gets the connection it used.
    async fn exchange(
        &self,
        uri: Uri,
        trace: &Arc<RequestTrace>,
        conn: &mut Option<(Arc<ConnTrace>, bool)>,
    ) -> Result<(u16, usize), BoxError> {
        let mut req = Request::get(uri).body(Empty::new())?;
        let capture = capture_connection(&mut req);
        let mut sending = pin!(CURRENT.scope(trace.clone(), self.inner.request(req)));
        // The connection is captured before hyper-util sends the request on it, in the same
        // poll: claimed right after that poll, before the connection's task (on this
        // current-thread runtime) can write the request.
        let res = poll_fn(|cx| {
            let r = sending.as_mut().poll(cx);
            if conn.is_none() {
                *conn = claim(&capture, trace);
            }
            r
        })
        .await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body.len()))
    }
}

/// Makes `trace` the request of the connection hyper-util captured, if it did yet.
fn claim(capture: &CaptureConnection, trace: &Arc<RequestTrace>) -> Option<(Arc<ConnTrace>, bool)> {
    let connected = capture.connection_metadata();
    let mut ext = Extensions::new();
    connected.as_ref()?.get_extras(&mut ext);
    let ConnHandle(c) = ext.remove::<ConnHandle>()?;
    let reused = c.claim(trace.clone());
    Some((c, reused))
}
