//! `tickspan-cli`: decode tickspan streams and rebuild call trees (the `tickspan` binary's
//! pipeline, a library so that fuzz targets and tests can drive it).
//!
//! Data flows one way: a source (file, stdin, serial port, TCP) yields bytes,
//! `tickspan::wire::Decoder` turns them into items, the [`model`] merges contexts into time order
//! and rebuilds spans, and a view ([`view`]) or an export ([`mod@export`]) consumes them as they
//! close. [`app`] runs a parsed command line ([`cli`]) through it.
#![deny(missing_docs)]

pub mod app;
mod bench;
pub mod cli;
pub mod device;
pub mod diag;
pub mod export;
pub mod item;
pub mod join;
pub mod model;
#[cfg(test)]
mod robustness;
pub mod relay;
pub mod run;
pub mod serve;
mod source;
pub mod units;
pub mod view;
