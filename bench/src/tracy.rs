//! `tracy-client` (enabled), counted by a minimal in-process Tracy server.
//!
//! Tracy's client queues zones and streams them to a server (the Tracy profiler GUI or
//! `tracy-capture`, C++ programs that are not on crates.io). Without a connected server it
//! buffers every zone in memory and nobody can count them, so this module plays the server:
//! it connects to the client's port, does the handshake, and reads the LZ4-compressed event
//! stream, counting zone-end events. Only the handful of facts it needs of protocol version
//! 82 (`tracy-client-sys` 0.30, Tracy 0.13) are here: item sizes, the string encodings, the
//! framing; a version mismatch is refused by the client at handshake and reported.

use crate::{timed, Tracer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROTOCOL_VERSION: u32 = 82;
/// `sizeof(WelcomeMessage)` (packed) in protocol 82.
const WELCOME_SIZE: usize = 1170;
/// Largest uncompressed frame (`TargetFrameSize`).
const FRAME_SIZE: usize = 256 * 1024;
/// LZ4 streaming: a block may reference the previous 64 KiB of output.
const LZ4_WINDOW: usize = 64 * 1024;

/// `QueueDataSize[]` of protocol 82: the fixed size of each item type (header included).
const ITEM_SIZE: [u8; 132] = [
    1, 1, 10, 13, 10, 13, 9, 9, 9, 1, 1, 1, 13, 9, 7, 13, 9, 7, 10, 17, 13, 11, 17, 13, 11, 9, 5,
    3, 17, 17, 13, 17, 17, 17, 5, 27, 27, 21, 21, 27, 27, 21, 21, 21, 21, 24, 24, 16, 16, 16, 24,
    24, 16, 16, 16, 25, 21, 25, 23, 16, 12, 2, 10, 10, 13, 1, 1, 1, 25, 13, 15, 13, 3, 1, 1, 5, 26,
    18, 1, 17, 5, 4, 9, 17, 17, 17, 13, 32, 22, 13, 17, 17, 20, 17, 20, 28, 17, 13, 25, 17, 17, 17,
    17, 17, 17, 17, 16, 18, 1, 5, 1, 17, 1, 1, 1, 1, 9, 9, 24, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    9,
];
/// `ZoneEnd`, `ZoneEnd32`, `ZoneEnd16`.
const ZONE_END: [u8; 3] = [25, 26, 27];

/// Bytes that follow an item's fixed part: string and payload items carry a length and data.
fn trailing(kind: u8, rest: &[u8]) -> Option<usize> {
    let u16_at = |i: usize| rest.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    Some(match kind {
        // SingleStringData, SecondStringData: u16 length - 256, then the bytes.
        112 | 113 => 2 + u16_at(0)? + 256,
        // SingleStringData8, SecondStringData8: u8 length.
        114 | 115 => 1 + *rest.first()? as usize,
        // StringData, ThreadName, PlotName, SourceLocationPayload, CallstackPayload,
        // CallstackAllocPayload, FrameName, ExternalName, ExternalThreadName, FiberName.
        119..=125 | 127 | 128 | 131 => 2 + u16_at(0)?,
        // FrameImageData, SymbolCode, SourceCode: u32 length.
        126 | 129 | 130 => {
            4 + rest.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?
        }
        _ => 0,
    })
}

/// Counts the zone ends in one decompressed frame (items never straddle frames).
fn count_zone_ends(frame: &[u8]) -> Result<u64, String> {
    let (mut at, mut zones) = (0, 0);
    while at < frame.len() {
        let kind = frame[at];
        let fixed =
            *ITEM_SIZE.get(kind as usize).ok_or(format!("unknown item type {kind}"))? as usize;
        let rest = frame.get(at + fixed..).ok_or("truncated item")?;
        at += fixed + trailing(kind, rest).ok_or("truncated item length")?;
        zones += ZONE_END.contains(&kind) as u64;
    }
    if at == frame.len() {
        Ok(zones)
    } else {
        Err("item runs past the frame".into())
    }
}

/// Connects to the client, shakes hands, and counts zones on a thread until the client goes.
fn serve(port: u16, zones: Arc<AtomicU64>, error: Arc<Mutex<Option<String>>>) {
    let run = || -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let e = |e: std::io::Error| e.to_string();
        s.write_all(b"TracyPrf").map_err(e)?;
        s.write_all(&PROTOCOL_VERSION.to_le_bytes()).map_err(e)?;
        let mut status = [0u8];
        s.read_exact(&mut status).map_err(e)?;
        if status[0] != 1 {
            return Err(format!("handshake refused (status {}): protocol mismatch?", status[0]));
        }
        let mut welcome = vec![0u8; WELCOME_SIZE];
        s.read_exact(&mut welcome).map_err(e)?;
        // Decompressed history: the current frame is written after the last 64 KiB.
        let mut out = vec![0u8; LZ4_WINDOW + FRAME_SIZE];
        let mut dict_len = 0;
        let mut block = Vec::new();
        loop {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                return Ok(()); // the client went away
            }
            block.resize(u32::from_le_bytes(len) as usize, 0);
            s.read_exact(&mut block).map_err(e)?;
            let (dict, frame) = out.split_at_mut(LZ4_WINDOW);
            let n = lz4_flex::block::decompress_into_with_dict(
                &block,
                frame,
                &dict[LZ4_WINDOW - dict_len..],
            )
            .map_err(|e| format!("lz4: {e}"))?;
            zones.fetch_add(count_zone_ends(&frame[..n])?, Ordering::Relaxed);
            // Keep the last 64 KiB of output as the next block's dictionary.
            let keep = (dict_len + n).min(LZ4_WINDOW);
            out.copy_within(LZ4_WINDOW + n - keep..LZ4_WINDOW + n, LZ4_WINDOW - keep);
            dict_len = keep;
        }
    };
    if let Err(msg) = run() {
        *error.lock().unwrap() = Some(msg);
    }
}

/// `tracy_client::span!` with a running client streaming to the counting server.
pub struct Tracy {
    _client: tracy_client::Client,
    zones: Arc<AtomicU64>,
    error: Arc<Mutex<Option<String>>>,
}

impl Tracy {
    /// Starts the Tracy client on a free localhost port and connects the counting server.
    ///
    /// Call before other threads start: the port is passed to the client through the
    /// `TRACY_PORT` environment variable, which it reads when it starts.
    pub fn new() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
        std::env::set_var("TRACY_PORT", port.to_string());
        let client = tracy_client::Client::start();
        let (zones, error) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(None)));
        let (z, e) = (zones.clone(), error.clone());
        std::thread::Builder::new()
            .name("tracy-count-server".into())
            .spawn(move || serve(port, z, e))
            .unwrap();
        Tracy { _client: client, zones, error }
    }
}

impl Default for Tracy {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracer for Tracy {
    fn name(&self) -> &'static str {
        "tracy-client"
    }
    fn flat(&mut self, n: u64) -> Duration {
        timed(|| {
            for _ in 0..n {
                let _g = tracy_client::span!("flat");
            }
        })
    }
    fn nested(&mut self, n: u64) -> Duration {
        timed(|| {
            for _ in 0..n {
                let _a = tracy_client::span!("outer");
                let _b = tracy_client::span!("middle");
                let _c = tracy_client::span!("inner");
            }
        })
    }
    fn collect(&mut self) {
        // The client's own thread streams the zones to the server; nothing to do here.
    }
    fn received(&mut self) -> u64 {
        // The client streams asynchronously: wait until the count settles.
        let (mut last, mut stable_since) = (u64::MAX, Instant::now());
        loop {
            if let Some(e) = self.error.lock().unwrap().as_ref() {
                panic!("tracy counting server: {e}");
            }
            let now = self.zones.load(Ordering::Relaxed);
            if now != last {
                (last, stable_since) = (now, Instant::now());
            } else if stable_since.elapsed() > Duration::from_millis(500) {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_walked_item_by_item() {
        // ThreadContext (fixed), ZoneEnd, a SingleStringData8 of 3 bytes, ZoneEnd16.
        let mut f = vec![75u8];
        f.extend([0; 4]);
        f.push(25);
        f.extend([0; 8]);
        f.extend([114, 3, b'a', b'b', b'c', 27, 0, 0]);
        assert_eq!(ITEM_SIZE[75], 5);
        assert_eq!(count_zone_ends(&f), Ok(2));
        assert!(count_zone_ends(&f[..f.len() - 1]).is_err());
        assert!(count_zone_ends(&[200]).is_err());
    }
}
