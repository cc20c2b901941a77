//! TCP: connect to a target's drain (`--tcp host:port`) or wait for one to connect
//! (`--listen addr`, matching `tickspan::transport::to_tcp`).

use super::{idle, Source, IDLE_POLL};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

/// A TCP byte stream; with `follow`, a closed connection is replaced by the next one.
pub struct TcpSource {
    stream: Option<TcpStream>,
    listener: Option<TcpListener>,
    connect: Option<String>,
    follow: bool,
    name: String,
}

impl TcpSource {
    /// Connects to `addr`.
    pub fn connect(addr: &str, follow: bool) -> io::Result<Self> {
        let stream = open(addr)?;
        Ok(TcpSource {
            stream: Some(stream),
            listener: None,
            connect: Some(addr.into()),
            follow,
            name: format!("tcp {addr}"),
        })
    }

    /// Listens on `addr` and accepts the first connection (blocks until one arrives).
    pub fn listen(addr: &str, follow: bool) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        eprintln!("tickspan: listening on {local}");
        let (stream, peer) = listener.accept()?;
        eprintln!("tickspan: connection from {peer}");
        stream.set_read_timeout(Some(IDLE_POLL))?;
        Ok(TcpSource {
            stream: Some(stream),
            listener: Some(listener),
            connect: None,
            follow,
            name: format!("tcp listen {local}"),
        })
    }

    /// Sends `bytes` back to the peer of the current connection (control messages to a std
    /// drain, `tickspan::transport::to_tcp`).
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Some(s) => s.write_all(bytes),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "the TCP connection is closed")),
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Some(l) = &self.listener {
            l.set_nonblocking(true)?;
            match l.accept() {
                Ok((s, peer)) => {
                    eprintln!("tickspan: connection from {peer}");
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(IDLE_POLL))?;
                    self.stream = Some(s);
                }
                Err(e) if super::is_idle(&e) => std::thread::sleep(IDLE_POLL),
                Err(e) => return Err(e),
            }
        } else if let Some(addr) = &self.connect {
            match open(addr) {
                Ok(s) => self.stream = Some(s),
                Err(_) => std::thread::sleep(IDLE_POLL),
            }
        }
        Ok(())
    }
}

fn open(addr: &str) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(IDLE_POLL))?;
    Ok(s)
}

impl Source for TcpSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(s) = &mut self.stream else {
            self.reopen()?;
            return Err(idle());
        };
        match s.read(buf) {
            Ok(0) if self.follow => {
                self.stream = None;
                Err(idle())
            }
            r => r,
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
