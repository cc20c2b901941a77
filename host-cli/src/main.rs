//! `tickspan`: decode tickspan streams and rebuild call trees.
fn main() {}
