//! `tickspan-cli`: decode tickspan streams and rebuild call trees (the `tickspan` binary's
//! pipeline, a library so that fuzz targets and tests can drive it).
//!
//! Data flows one way: a [`source`] yields bytes, `tickspan::wire::Decoder` turns them into
//! items, the [`model`] merges contexts into time order and rebuilds spans, and a view
//! ([`view`]) or an export ([`mod@export`]) consumes them as they close.
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod export;
pub mod item;
pub mod model;
#[cfg(test)]
mod robustness;
pub mod run;
pub mod source;
pub mod target;
pub mod units;
pub mod view;
