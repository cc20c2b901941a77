//! The decoder's items (`tickspan::wire`, feature `decode`), re-exported for the CLI modules.
pub use tickspan::wire::{CallsiteInfo, DecodeError, Decoder, Item, Rec, Sink, StreamHeader};
pub use tickspan::{CallsiteKind, Kind, Level};
