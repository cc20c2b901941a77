//! Standard input (`-`), e.g. `tickspan-app | tickspan tree -`.

use super::Source;
use std::io::{self, Read};

/// Reads standard input until it closes.
pub struct StdinSource(io::Stdin);

impl StdinSource {
    /// Standard input.
    #[allow(clippy::new_without_default)] // a handle on the process's stdin, not a default value
    pub fn new() -> Self {
        StdinSource(io::stdin())
    }
}

impl Source for StdinSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.lock().read(buf)
    }

    fn describe(&self) -> String {
        "standard input".into()
    }
}
