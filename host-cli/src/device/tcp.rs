//! `tickspan attach --listen ADDR` (or `--tcp HOST:PORT`): a std process's TCP drain
//! (`tickspan::transport::to_tcp`) as a live source, with `--trace-for`/`--arm`/`--disarm` sent
//! back on the same connection, which the process's drain thread reads at each pass.

use super::cmd::AttachArgs;
use super::control::{Controller, Link, Request};
use crate::source::tcp::TcpSource;
use crate::source::Source;
use anyhow::{bail, Context as _, Result};
use std::io;
use std::time::Instant;

/// The connection, and the request being followed (and whether its end ends the capture).
struct TcpAttach {
    src: TcpSource,
    control: Option<(Controller, bool)>,
    /// `--duration`.
    until: Option<Instant>,
    ended: bool,
}

/// Opens the connection `args` names (waits for the process to connect with `--listen`).
pub(crate) fn attach(args: &AttachArgs) -> Result<Box<dyn Source>> {
    if args.polling.until.is_some() {
        bail!("--until stops firmware at a function: with a std process use --duration or --trace-for");
    }
    let src = match (&args.listen, &args.tcp) {
        (Some(addr), _) => TcpSource::listen(addr, false).with_context(|| format!("listening on {addr}"))?,
        (None, Some(addr)) => TcpSource::connect(addr, false).with_context(|| format!("connecting to {addr}"))?,
        (None, None) => bail!("give --listen ADDR or --tcp HOST:PORT"),
    };
    let control = args.polling.control.request().map(|req| {
        let ends = matches!(req, Request::TraceFor(_)) && args.polling.duration.is_none();
        (Controller::new(req, Controller::fresh_seq()).over(Link::Tcp), ends)
    });
    let until = args.polling.duration().map(|d| Instant::now() + d);
    Ok(Box::new(TcpAttach { src, control, until, ended: false }))
}

impl Source for TcpAttach {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended || self.until.is_some_and(|t| Instant::now() >= t) {
            return Ok(0);
        }
        let r = self.src.read(buf);
        let Some((c, end_with_it)) = self.control.as_mut() else { return r };
        let src = &mut self.src;
        // The bytes of this read still go out; the capture ends at the next.
        self.ended = c.follow(&r, buf, |msg| src.send(&msg))? && *end_with_it;
        r
    }

    fn describe(&self) -> String {
        self.src.describe()
    }
}
