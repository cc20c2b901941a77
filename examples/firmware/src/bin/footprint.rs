//! A minimal traced firmware: one span, two events, an ISR, drained over UART0. Identical to
//! `footprint_base.rs` but for tickspan, so that `./footprint.sh` measures tickspan's part.
#![no_std]
#![no_main]

use tickspan::drain::Drain;

include!("../footprint_traced.rs");
