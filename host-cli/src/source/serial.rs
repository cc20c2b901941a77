//! A serial port (UART bridge of a board or debug probe), 8N1 at a given baud rate.

use super::{idle, Source, IDLE_POLL};
use std::io;

/// Reads a serial port; a serial line never ends, so this is always a live source.
pub struct SerialSource {
    port: Box<dyn serialport::SerialPort>,
    name: String,
}

impl SerialSource {
    /// Opens `path` (`/dev/ttyACM0`, `COM3`) at `baud`.
    pub fn open(path: &str, baud: u32) -> io::Result<Self> {
        let port = serialport::new(path, baud).timeout(IDLE_POLL).open().map_err(io::Error::from)?;
        Ok(SerialSource { port, name: format!("{path} at {baud} baud") })
    }
}

impl Source for SerialSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.port.read(buf) {
            Ok(0) => Err(idle()),
            r => r,
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
