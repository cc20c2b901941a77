//! The resolver: any hyper-util resolver (`GaiResolver` by default) with span `dns` around
//! each lookup.

use crate::trace;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_service::Service;

/// A `Service<Name>` resolver that records span `dns` (field `addrs`, the number of addresses
/// found) in the request whose connector calls it.
#[derive(Clone, Debug)]
pub struct TracedResolver<R = GaiResolver> {
    inner: R,
}

impl<R> TracedResolver<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        TracedResolver { inner }
    }
}

impl Default for TracedResolver {
    fn default() -> Self {
        TracedResolver::new(GaiResolver::new())
    }
}

/// A boxed error, as hyper-util's connector takes them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<R> Service<Name> for TracedResolver<R>
where
    R: Service<Name> + Send,
    R::Response: Iterator<Item = SocketAddr>,
    R::Error: Into<BoxError>,
    R::Future: Send + 'static,
{
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        // Called from the connector's future, inside the request's (`trace::CURRENT`).
        let req = trace::current();
        if let Some(r) = &req {
            r.dns_start();
        }
        let lookup = self.inner.call(name);
        Box::pin(async move {
            let addrs = lookup.await.map(|a| a.collect::<Vec<_>>()).map_err(Into::into);
            if let Some(r) = req {
                r.dns_done(addrs.as_ref().ok().map(Vec::len));
            }
            Ok(addrs?.into_iter())
        })
    }
}
