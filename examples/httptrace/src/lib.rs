//! An HTTP client traced like Go's `net/http/httptrace`: one tree of tickspan spans per request.
//!
//! Built on hyper-util's legacy client through its extension points, nothing patched:
//!
//! | Go `ClientTrace` hook | here | extension point |
//! |---|---|---|
//! | `DNSStart` … `DNSDone` | span `dns` (field `addrs`) | [`dns::TracedResolver`], a `Service<Name>` resolver |
//! | `ConnectStart` … `ConnectDone` | span `connect` (status error on failure) | [`connect::TracedConnector`], a `Service<Uri>` connector around `HttpConnector` |
//! | `TLSHandshakeStart` … `TLSHandshakeDone` | span `tls` | the same connector, with tokio-rustls |
//! | `GotConn` (`Reused`) | field `reused` of `request` | [`capture_connection`](hyper_util::client::legacy::connect::capture_connection) and the connection's `Connected::extra` |
//! | `WroteHeaders` … `WroteRequest` | span `write request`: first write to the flush that sends it | [`io::TracedIo`], around the connection's stream |
//! | `GotFirstResponseByte` | the end of span `wait response`, from that flush to the first byte read | the same |
//! | (the body read) | span `read response`, from the first byte to the end of the body | the same, and the client |
//!
//! All of them are children of one manual span `request` (fields `method`, `port`, `status`,
//! `bytes`, `reused`), so `tickspan tree` prints one tree per request; a request on a
//! kept-alive connection has no `dns`, `connect` or `tls`. See docs/httptrace.md.
#![deny(missing_docs)]

pub mod client;
pub mod connect;
pub mod dns;
pub mod io;
pub mod trace;

pub use client::{Client, Outcome};
