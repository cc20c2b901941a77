//! `footprint.rs` with the raw drain (`tickspan::drain::RawDrain`, slots sent as they are)
//! instead of the encoding one: what recording + the small drain cost (`./footprint.sh`).
#![no_std]
#![no_main]

use tickspan::drain::RawDrain as Drain;

include!("../footprint_traced.rs");
