//! A GDB remote serial protocol client: enough of it to read and write target memory and to
//! stop and resume the target, which is all that RTT and post-mortem reading need.
//!
//! Works with any all-stop stub: QEMU's `-gdb tcp::PORT`, OpenOCD (port 3333), a Black Magic
//! Probe's GDB serial port (attached to its target with a scan, as `monitor swdp_scan` and
//! `attach 1` would). Packets are `$data#cs` with acknowledgements (`+`/`-`); replies may
//! be run-length encoded or escaped. Every wait has a timeout and every reply is size-bounded, so
//! a misbehaving stub gives an error instead of a hang or unbounded memory.

use super::Memory;
use anyhow::{anyhow, bail, Context as _, Result};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest decoded reply accepted (a memory read of 16 KiB is 32 KiB of hex).
const MAX_PACKET: usize = 64 * 1024;
/// Bytes per `m`/`M` packet (stubs advertise more; this keeps every stub happy).
const DEFAULT_CHUNK: usize = 1024;
/// Retransmissions before giving up on a packet the other side keeps NAKing.
const RETRIES: usize = 3;

/// Why the target is stopped, from a stop reply (`S`, `T`, `W`, `X` packets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Halted with this signal (5 = SIGTRAP: breakpoint, or interrupted by us when 2).
    Signal(u8),
    /// The program exited with this status; nothing is left to read.
    Exited(u8),
}

/// A byte link to a stub.
trait Link: Read + Write + Send {
    /// How long a read waits before failing with a timeout.
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()>;
}

impl Link for TcpStream {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))
    }
}

impl Link for Box<dyn serialport::SerialPort> {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        serialport::SerialPort::set_timeout(self.as_mut(), timeout).map_err(std::io::Error::from)
    }
}

/// Execution state as far as the client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Halted: memory can be read.
    Halted(Stop),
    /// Running after a `c`: a stop reply may arrive at any time.
    Running,
}

/// A connection to a GDB stub.
pub struct GdbClient {
    /// The link; writes go to it directly (`get_mut`), reads through the buffer.
    reader: BufReader<Box<dyn Link>>,
    timeout: Duration,
    chunk: usize,
    state: State,
    /// The target stopped by itself (not by our interrupt) since it was last resumed.
    self_stop: bool,
    /// Print every packet to stderr (`TICKSPAN_GDB_TRACE=1`), like GDB's `set debug remote 1`.
    trace: bool,
    /// Breakpoints set (packet letter, address), removed when the client goes away.
    breakpoints: Vec<(char, u64)>,
}

impl GdbClient {
    /// Connects to `addr` and asks the stub for its state (`?`): `host:port` (QEMU, OpenOCD),
    /// or a serial device (`/dev/ttyACM0`, `COM3`: a Black Magic Probe's GDB port). All-stop
    /// stubs halt the target when a debugger connects.
    pub fn connect(addr: &str, timeout: Duration) -> Result<GdbClient> {
        if addr.starts_with('/') || addr.to_ascii_uppercase().starts_with("COM") {
            let port = serialport::new(addr, 115_200)
                .timeout(timeout)
                .open()
                .with_context(|| format!("opening GDB serial port {addr}"))?;
            return Self::from_link(Box::new(port), timeout);
        }
        let sock = addr
            .to_socket_addrs()
            .with_context(|| format!("resolving {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("{addr}: no address"))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)
            .with_context(|| format!("connecting to GDB stub at {addr}"))?;
        stream.set_nodelay(true)?;
        Self::from_link(Box::new(stream), timeout)
    }

    fn from_link(mut link: Box<dyn Link>, timeout: Duration) -> Result<GdbClient> {
        link.set_timeout(timeout)?;
        let mut gdb = GdbClient {
            reader: BufReader::new(link),
            timeout,
            chunk: DEFAULT_CHUNK,
            state: State::Running,
            self_stop: false,
            trace: std::env::var_os("TICKSPAN_GDB_TRACE").is_some_and(|v| v != "0"),
            breakpoints: Vec::new(),
        };
        let features = gdb.command(b"qSupported:swbreak+;hwbreak+")?;
        if let Some(size) = features
            .split(|&b| b == b';')
            .find_map(|f| f.strip_prefix(b"PacketSize=".as_slice()))
        {
            let size =
                parse_hex(size).ok_or_else(|| anyhow!("bad PacketSize in qSupported reply"))?;
            // Hex doubles the payload; leave room for the command letters and checksum.
            gdb.chunk = ((size as usize).saturating_sub(32) / 2).clamp(16, DEFAULT_CHUNK);
        }
        let reply = gdb.command(b"?")?;
        let stop = parse_stop(&reply)?.ok_or_else(|| {
            anyhow!(
                "unexpected reply to '?': {}",
                String::from_utf8_lossy(&reply)
            )
        })?;
        gdb.state = State::Halted(stop);
        if let Stop::Exited(_) = stop {
            // No target yet: a Black Magic Probe attaches only after a scan.
            gdb.scan_and_attach()?;
        }
        Ok(gdb)
    }

    /// Scans the debug port and attaches to the first target found, as `monitor swdp_scan`
    /// and `attach 1` do in GDB with a Black Magic Probe.
    fn scan_and_attach(&mut self) -> Result<()> {
        let hex: String = b"swdp_scan".iter().map(|b| format!("{b:02x}")).collect();
        self.send(format!("qRcmd,{hex}").as_bytes())?;
        // The probe answers with console output (`O` + hex) and then `OK` or an error.
        let mut console = String::new();
        let reply = loop {
            let p = self.recv()?;
            match p.strip_prefix(b"O") {
                Some(text) if p != b"OK" && console.len() < 4096 => {
                    let bytes: Vec<u8> = text
                        .chunks(2)
                        .filter_map(|h| parse_hex(h).map(|v| v as u8))
                        .collect();
                    console.push_str(&String::from_utf8_lossy(&bytes));
                }
                _ => break p,
            }
        };
        if reply != b"OK" {
            bail!(
                "the GDB stub has no target and scanning for one failed: {}",
                console.trim()
            );
        }
        let reply = self.command(b"vAttach;1")?;
        match parse_stop(&reply) {
            Ok(Some(stop @ Stop::Signal(_))) => {
                self.state = State::Halted(stop);
                Ok(())
            }
            _ => bail!(
                "the GDB stub found no target to attach to: {}",
                console.trim()
            ),
        }
    }

    /// What the client last learned about the target.
    #[cfg(test)]
    fn state(&self) -> State {
        self.state
    }

    /// Stops a running target (sends the 0x03 interrupt byte) and waits for its stop reply.
    pub fn interrupt(&mut self) -> Result<Stop> {
        if let State::Halted(stop) = self.state {
            return Ok(stop);
        }
        if self.trace {
            eprintln!("gdb> ^C");
        }
        self.reader.get_mut().write_all(&[0x03])?;
        self.wait_stop(self.timeout)
    }

    /// Resumes the target (`c`). The stub answers only when the target stops again.
    pub fn cont(&mut self) -> Result<()> {
        match self.state {
            State::Running => return Ok(()),
            State::Halted(Stop::Exited(code)) => bail!("the program has exited (status {code})"),
            State::Halted(_) => {}
        }
        self.send(b"c")?;
        self.state = State::Running;
        self.self_stop = false;
        Ok(())
    }

    /// Waits up to `wait` for a running target to stop by itself (breakpoint, fault trap,
    /// exit). Returns `None` if it is still running.
    pub fn poll_stop(&mut self, wait: Duration) -> Result<Option<Stop>> {
        if let State::Halted(stop) = self.state {
            return Ok(Some(stop));
        }
        self.reader
            .get_mut()
            .set_timeout(wait.max(Duration::from_millis(1)))?;
        let pending = match self.reader.fill_buf() {
            Ok(buf) => !buf.is_empty(),
            Err(e) if is_timeout(&e) => false,
            Err(e) => return Err(e.into()),
        };
        self.reader.get_mut().set_timeout(self.timeout)?;
        if !pending {
            return Ok(None);
        }
        self.wait_stop(self.timeout).map(Some)
    }

    /// Sets a breakpoint at `addr`: software (`Z0`), or hardware (`Z1`) where the stub refuses
    /// software breakpoints (code in flash on a real probe).
    pub fn set_breakpoint(&mut self, addr: u64) -> Result<()> {
        // Kind 2: a 16-bit Thumb instruction.
        for z in ['0', '1'] {
            let reply = self.command(format!("Z{z},{addr:x},2").as_bytes())?;
            if reply == b"OK" {
                self.breakpoints.push((z, addr));
                return Ok(());
            }
        }
        bail!("the GDB stub refused a breakpoint at {addr:#x}")
    }

    /// Removes our breakpoints; a target that was running is detached and keeps running, one
    /// that is halted (at a breakpoint, a fault, or for a post-mortem) stays halted.
    fn leave(&mut self) -> Result<()> {
        let running = self.state == State::Running;
        if self.breakpoints.is_empty() && !running {
            return Ok(());
        }
        if running {
            self.interrupt()?;
        }
        for (z, addr) in std::mem::take(&mut self.breakpoints) {
            self.command(format!("z{z},{addr:x},2").as_bytes())?;
        }
        if running {
            self.command(b"D")?;
        }
        Ok(())
    }

    fn wait_stop(&mut self, timeout: Duration) -> Result<Stop> {
        let deadline = Instant::now() + timeout;
        loop {
            if Instant::now() > deadline {
                bail!("timed out waiting for the target to stop");
            }
            let packet = self.recv()?;
            // `O` console output may come before the stop reply; anything else is a reply.
            if let Some(stop) = parse_stop(&packet)? {
                self.state = State::Halted(stop);
                return Ok(stop);
            }
        }
    }

    fn halted(&self, what: &str) -> Result<()> {
        match self.state {
            State::Halted(Stop::Signal(_)) => Ok(()),
            State::Halted(Stop::Exited(code)) => {
                bail!("cannot {what}: the program exited (status {code})")
            }
            State::Running => bail!("cannot {what} while the target runs (halt it first)"),
        }
    }

    /// Sends a packet and returns the reply.
    fn command(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.send(data)?;
        self.recv()
    }

    fn send(&mut self, data: &[u8]) -> Result<()> {
        if self.trace {
            eprintln!("gdb> {}", String::from_utf8_lossy(data));
        }
        let sum = data.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        let mut frame = Vec::with_capacity(data.len() + 4);
        frame.push(b'$');
        frame.extend_from_slice(data);
        frame.extend_from_slice(format!("#{sum:02x}").as_bytes());
        for _ in 0..RETRIES {
            self.reader.get_mut().write_all(&frame)?;
            loop {
                match self.read_byte()? {
                    b'+' => return Ok(()),
                    b'-' => break,
                    // An unsolicited packet: QEMU announces the stop it makes when a debugger
                    // connects to a running target (`T02`) before acknowledging anything.
                    b'$' => {
                        let packet = self.recv_body()?;
                        if let Ok(Some(stop)) = parse_stop(&packet) {
                            self.state = State::Halted(stop);
                        }
                    }
                    other => bail!("GDB stub sent {other:#04x} instead of an acknowledgement"),
                }
            }
        }
        bail!("GDB stub rejected the packet {RETRIES} times")
    }

    fn recv(&mut self) -> Result<Vec<u8>> {
        // Skip anything before the packet start (stray acknowledgements).
        while self.read_byte()? != b'$' {}
        self.recv_body()
    }

    /// Reads a packet whose `$` has been consumed; asks for retransmission on a bad checksum.
    fn recv_body(&mut self) -> Result<Vec<u8>> {
        for attempt in 0..RETRIES {
            if attempt > 0 {
                while self.read_byte()? != b'$' {}
            }
            let mut raw = Vec::new();
            loop {
                let b = self.read_byte()?;
                if b == b'#' {
                    break;
                }
                if raw.len() >= MAX_PACKET {
                    bail!("GDB reply longer than {MAX_PACKET} bytes");
                }
                raw.push(b);
            }
            let cs = [self.read_byte()?, self.read_byte()?];
            let want =
                parse_hex(&cs).ok_or_else(|| anyhow!("bad checksum characters in GDB reply"))?;
            if raw.iter().fold(0u8, |s, &b| s.wrapping_add(b)) as u64 == want {
                self.reader.get_mut().write_all(b"+")?;
                if self.trace {
                    eprintln!("gdb< {}", String::from_utf8_lossy(&raw));
                }
                return unescape(&raw);
            }
            self.reader.get_mut().write_all(b"-")?;
        }
        bail!("GDB replies kept failing their checksum")
    }

    fn read_byte(&mut self) -> Result<u8> {
        let mut b = [0u8];
        match self.reader.read_exact(&mut b) {
            Ok(()) => Ok(b[0]),
            Err(e) if is_timeout(&e) => bail!("GDB stub did not answer within {:?}", self.timeout),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                bail!("GDB stub closed the connection")
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for GdbClient {
    fn drop(&mut self) {
        // Best effort: the stub may already be gone.
        let _ = self.leave();
    }
}

impl Memory for GdbClient {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.halted("read memory")?;
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let n = (buf.len() - done).min(self.chunk);
            let reply = self.command(format!("m{at:x},{n:x}").as_bytes())?;
            if reply.first() == Some(&b'E') || reply.is_empty() {
                bail!(
                    "target memory at {at:#x} is not readable ({})",
                    String::from_utf8_lossy(&reply)
                );
            }
            // Stubs may return fewer bytes than asked (end of a region); never more.
            if reply.len() % 2 != 0 || reply.len() / 2 > n {
                bail!(
                    "malformed memory reply ({} hex digits for {n} bytes)",
                    reply.len()
                );
            }
            for (dst, pair) in buf[done..].iter_mut().zip(reply.chunks(2)) {
                *dst =
                    parse_hex(pair).ok_or_else(|| anyhow!("non-hex data in memory reply"))? as u8;
            }
            done += reply.len() / 2;
        }
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        self.halted("write memory")?;
        for (i, part) in data.chunks(self.chunk).enumerate() {
            let at = addr + (i * self.chunk) as u64;
            let mut cmd = format!("M{at:x},{:x}:", part.len());
            for b in part {
                cmd.push_str(&format!("{b:02x}"));
            }
            let reply = self.command(cmd.as_bytes())?;
            if reply != b"OK" {
                bail!(
                    "writing target memory at {at:#x} failed ({})",
                    String::from_utf8_lossy(&reply)
                );
            }
        }
        Ok(())
    }

    fn halt(&mut self) -> Result<bool> {
        if self.state != State::Running {
            return Ok(false);
        }
        // A stop other than our interrupt (SIGINT) means the target stopped by itself just
        // before the interrupt arrived: report it as such, not as a pause to undo.
        match self.interrupt()? {
            Stop::Signal(2) => Ok(true),
            _ => {
                self.self_stop = true;
                Ok(false)
            }
        }
    }

    fn resume(&mut self) -> Result<()> {
        self.cont()
    }

    fn stopped(&mut self) -> Result<bool> {
        if self.state == State::Running && self.poll_stop(Duration::ZERO)?.is_some() {
            self.self_stop = true;
        }
        Ok(self.self_stop)
    }

    fn set_breakpoint(&mut self, addr: u64) -> Result<()> {
        GdbClient::set_breakpoint(self, addr)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |v, &d| {
        Some(v << 4 | (d as char).to_digit(16)? as u64)
    })
}

/// Undoes the binary escape (`}` then byte ^ 0x20) and run-length encoding (`x*n`: `x` repeated
/// `n - 29` more times) of a reply, bounded by [`MAX_PACKET`].
fn unescape(raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'}' => {
                let b = *raw
                    .get(i + 1)
                    .ok_or_else(|| anyhow!("GDB reply ends inside an escape"))?;
                out.push(b ^ 0x20);
                i += 2;
            }
            b'*' => {
                let last = *out
                    .last()
                    .ok_or_else(|| anyhow!("GDB reply starts with a repeat"))?;
                let count = raw
                    .get(i + 1)
                    .ok_or_else(|| anyhow!("GDB reply ends inside a repeat"))?;
                let n = count
                    .checked_sub(29)
                    .ok_or_else(|| anyhow!("bad repeat count in GDB reply"))?;
                if out.len() + n as usize > MAX_PACKET {
                    bail!("GDB reply expands beyond {MAX_PACKET} bytes");
                }
                out.extend(std::iter::repeat_n(last, n as usize));
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Parses a stop reply; `None` for console output (`O…`), an error for anything else.
fn parse_stop(p: &[u8]) -> Result<Option<Stop>> {
    let code = || {
        p.get(1..3)
            .and_then(parse_hex)
            .map(|v| v as u8)
            .ok_or_else(|| anyhow!("malformed stop reply: {}", String::from_utf8_lossy(p)))
    };
    match p.first() {
        Some(b'S' | b'T') => Ok(Some(Stop::Signal(code()?))),
        Some(b'W' | b'X') => Ok(Some(Stop::Exited(code()?))),
        Some(b'O') if p != b"OK" => Ok(None),
        _ => bail!(
            "expected a stop reply, got {:?}",
            String::from_utf8_lossy(p)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn frame(data: &str) -> Vec<u8> {
        let sum = data.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        format!("${data}#{sum:02x}").into_bytes()
    }

    /// Plays a stub's side of a conversation on `s`: for each expected request, the raw bytes
    /// to answer with; then stays connected, silent, until the client hangs up.
    fn serve(mut s: impl Read + Write, script: Vec<(&'static str, Vec<u8>)>) {
        for (want, answer) in script {
            let mut got = Vec::new();
            let mut b = [0u8];
            // Read one framed request (skipping acks) and check it.
            loop {
                s.read_exact(&mut b).unwrap();
                if b[0] == b'$' || b[0] == 0x03 {
                    break;
                }
            }
            if b[0] == 0x03 {
                assert_eq!(want, "\x03");
            } else {
                loop {
                    s.read_exact(&mut b).unwrap();
                    if b[0] == b'#' {
                        break;
                    }
                    got.push(b[0]);
                }
                s.read_exact(&mut [0u8; 2]).unwrap();
                assert_eq!(String::from_utf8(got).unwrap(), want);
                s.write_all(b"+").unwrap();
            }
            s.write_all(&answer).unwrap();
        }
        let _ = s.read_to_end(&mut Vec::new());
    }

    /// A scripted stub on a local TCP port.
    fn stub(script: Vec<(&'static str, Vec<u8>)>) -> (String, thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = thread::spawn(move || serve(l.accept().unwrap().0, script));
        (addr, h)
    }

    /// `swdp_scan` as the hex of a `qRcmd` packet.
    const SWDP_SCAN: &str = "qRcmd,737764705f7363616e";

    #[test]
    fn attaches_through_a_scan_when_the_stub_has_no_target_yet() {
        // A Black Magic Probe: no target until `monitor swdp_scan` and `attach 1`.
        let mut scan = frame("O54617267657420666f756e640a"); // "Target found\n"
        scan.extend(frame("OK"));
        let (addr, h) = stub(vec![
            ("qSupported:swbreak+;hwbreak+", frame("PacketSize=400")),
            ("?", frame("W00")),
            (SWDP_SCAN, scan),
            ("vAttach;1", frame("T05")),
            ("m20000000,2", frame("abcd")),
        ]);
        let mut g = GdbClient::connect(&addr, Duration::from_secs(5)).unwrap();
        assert_eq!(g.state(), State::Halted(Stop::Signal(5)));
        let mut buf = [0u8; 2];
        g.read(0x2000_0000, &mut buf).unwrap();
        assert_eq!(buf, [0xab, 0xcd]);
        drop(g);
        h.join().unwrap();

        let mut none = frame("O4e6f2074617267657473"); // "No targets"
        none.extend(frame("E01"));
        let (addr, h) = stub(vec![
            ("qSupported:swbreak+;hwbreak+", frame("")),
            ("?", frame("W00")),
            (SWDP_SCAN, none),
        ]);
        let err = GdbClient::connect(&addr, Duration::from_secs(5))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("No targets"), "{err}");
        h.join().unwrap();
    }

    #[test]
    fn talks_over_a_serial_port() {
        // A pseudo-terminal pair stands in for a Black Magic Probe's USB serial GDB port.
        let (stub_end, client_end) = serialport::TTYPort::pair().expect("pseudo-terminal pair");
        let h = thread::spawn(move || {
            serve(
                stub_end,
                vec![
                    ("qSupported:swbreak+;hwbreak+", frame("")),
                    ("?", frame("S05")),
                    ("m0,4", frame("01020304")),
                ],
            )
        });
        let link: Box<dyn serialport::SerialPort> = Box::new(client_end);
        let mut g = GdbClient::from_link(Box::new(link), Duration::from_secs(5)).unwrap();
        let mut buf = [0u8; 4];
        g.read(0, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
        drop(g);
        h.join().unwrap();
    }

    #[test]
    fn reads_memory_with_rle_escapes_and_a_bad_checksum() {
        let mut bad = frame("0102");
        let n = bad.len();
        bad[n - 1] ^= 1; // corrupt the checksum once: the client NAKs and the stub resends
        let mut bad_then_good = bad;
        bad_then_good.extend(frame("0102"));
        let (addr, h) = stub(vec![
            (
                "qSupported:swbreak+;hwbreak+",
                frame("PacketSize=20;swbreak+"),
            ),
            ("?", frame("T05thread:01;")),
            // A short reply (2 of 7 bytes): the client asks for the rest.
            ("m20000000,7", bad_then_good),
            // `0*"` is '0' and 5 more: three zero bytes; `}F` is an escaped 'f'.
            ("m20000002,5", frame("0*\"7d}Ff")),
            ("M20000000,2:abcd", frame("OK")),
        ]);
        let mut g = GdbClient::connect(&addr, Duration::from_secs(5)).unwrap();
        assert_eq!(g.state(), State::Halted(Stop::Signal(5)));
        let mut buf = [0u8; 7];
        g.read(0x2000_0000, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 0, 0, 0, 0x7d, 0xff]);
        g.write(0x2000_0000, &[0xab, 0xcd]).unwrap();
        drop(g);
        h.join().unwrap();
    }

    #[test]
    fn errors_instead_of_hanging_or_accepting_garbage() {
        let (addr, h) = stub(vec![
            ("qSupported:swbreak+;hwbreak+", frame("")),
            ("?", frame("S02")),
            ("m0,4", frame("E14")),
            ("m0,4", frame("0011223344")), // more than asked
            ("c", Vec::new()),
            ("\x03", frame("T02")),
            ("c", Vec::new()),
        ]);
        let mut g = GdbClient::connect(&addr, Duration::from_millis(500)).unwrap();
        let mut buf = [0u8; 4];
        assert!(g
            .read(0, &mut buf)
            .unwrap_err()
            .to_string()
            .contains("not readable"));
        assert!(g
            .read(0, &mut buf)
            .unwrap_err()
            .to_string()
            .contains("malformed"));
        g.cont().unwrap();
        assert!(g
            .read(0, &mut buf)
            .unwrap_err()
            .to_string()
            .contains("while the target runs"));
        assert_eq!(g.poll_stop(Duration::from_millis(10)).unwrap(), None);
        assert_eq!(g.interrupt().unwrap(), Stop::Signal(2));
        g.cont().unwrap();
        // The stub never answers: the next wait times out instead of blocking forever.
        let t = Instant::now();
        assert!(g.interrupt().is_err());
        assert!(t.elapsed() < Duration::from_secs(3));
        drop(g);
        h.join().unwrap();
    }

    #[test]
    fn leaving_a_running_target_removes_breakpoints_and_detaches() {
        let (addr, h) = stub(vec![
            ("qSupported:swbreak+;hwbreak+", frame("")),
            ("?", frame("T05")),
            ("Z0,14fe,2", frame("")), // software breakpoints unsupported: hardware then
            ("Z1,14fe,2", frame("OK")),
            ("c", Vec::new()),
            ("\x03", frame("T02")),
            ("z1,14fe,2", frame("OK")),
            ("D", frame("OK")),
        ]);
        let mut g = GdbClient::connect(&addr, Duration::from_secs(5)).unwrap();
        g.set_breakpoint(0x14fe).unwrap();
        g.cont().unwrap();
        drop(g);
        // The stub checked every request in order.
        h.join().unwrap();
    }

    #[test]
    fn unescape_bounds_and_rejects_truncation() {
        assert_eq!(unescape(b"a*#").unwrap(), b"aaaaaaa");
        assert!(unescape(b"*#").is_err());
        assert!(unescape(b"a}").is_err());
        assert!(unescape(b"a*").is_err());
        let big: Vec<u8> = std::iter::once(b'a')
            .chain((0..1000).flat_map(|_| *b"a*~"))
            .collect();
        assert!(unescape(&big).unwrap_err().to_string().contains("expands"));
    }
}
