//! `tickspan`: the command-line entry point. Parses the arguments and runs a subcommand with the
//! [`tickspan_cli`] library.

use clap::Parser;
use std::process::ExitCode;
use tickspan_cli::app::dispatch;
use tickspan_cli::cli::Cli;
use tickspan_cli::run::{exit, interrupted};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    match dispatch(cli.cmd) {
        // Ctrl-C: what was read is shown, and the status says the run was cut short.
        Ok(exit::OK) if interrupted() => ExitCode::from(exit::INTERRUPTED),
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            tickspan_cli::diag::error(format_args!("{f}"));
            ExitCode::from(f.code)
        }
    }
}
