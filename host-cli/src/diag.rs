//! Diagnostics on standard error: `warning:`, `note:` and `error:` prefixes, coloured where the
//! terminal shows colour. `anstream` decides: never with `NO_COLOR` set or when stderr is not a
//! terminal, always with `CLICOLOR_FORCE`, so logs and pipes get plain text.

use anstyle::{AnsiColor, Style};
use std::fmt;

const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();

fn say(style: Style, label: &str, msg: fmt::Arguments) {
    anstream::eprintln!("{style}{label}:{style:#} {msg}");
}

/// `warning: …`: data was lost, damaged or is uncertain; the run goes on.
pub fn warning(msg: fmt::Arguments) {
    say(WARNING, "warning", msg)
}

/// `note: …`: something the reader may want to know, nothing is wrong with the data.
pub fn note(msg: fmt::Arguments) {
    say(NOTE, "note", msg)
}

/// `error: …`: why the run failed.
pub fn error(msg: fmt::Arguments) {
    say(ERROR, "error", msg)
}

/// `warning!("…", args)`: [`warning`] with `format!` arguments.
#[macro_export]
macro_rules! warning {
    ($($t:tt)*) => { $crate::diag::warning(format_args!($($t)*)) };
}

/// `note!("…", args)`: [`note`] with `format!` arguments.
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => { $crate::diag::note(format_args!($($t)*)) };
}
