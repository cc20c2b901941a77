//! `tickspan`: decode tickspan streams and rebuild call trees.
mod item;
mod model;
mod units;
mod view;
fn main() {}
