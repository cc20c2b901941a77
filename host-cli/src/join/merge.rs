//! Several nodes in one stream: `tickspan merge` writes them one after the other, each behind
//! its own stream header (node id and name) and a clock anchor that puts it on the aligned
//! time line; [`sections`] finds them again when the file is read.

use super::Joined;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use tickspan::wire::encode::FrameEncoder;
use tickspan::wire::{Decoder, Item, StreamHeader, ENCODED_CAPACITY};

/// A run of a file's bytes written by one node: from a header frame to the next header of
/// another node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// First byte (the header frame's leading delimiter).
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Node id of its header.
    pub node: u64,
    /// Node name of its header.
    pub name: String,
}

/// Longest run of bytes without a delimiter kept whole; longer runs are not frames a decoder
/// accepts, and are passed through (merge) or skipped (scan) in pieces.
const MAX_RUN: usize = 64 * 1024;

/// Calls `f(offset, frame)` for each run of bytes between delimiters (offset of its first
/// byte); runs longer than [`MAX_RUN`] come in pieces. Memory: one buffer and one run.
fn frames(r: impl Read, mut f: impl FnMut(u64, &[u8], bool) -> io::Result<()>) -> io::Result<()> {
    let mut r = BufReader::with_capacity(1 << 20, r);
    let (mut run, mut at, mut run_start) = (Vec::new(), 0u64, 0u64);
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut i = 0;
        while i < n {
            match memchr::memchr(0, &buf[i..]) {
                Some(z) => {
                    run.extend_from_slice(&buf[i..i + z]);
                    f(run_start, &run, true)?;
                    run.clear();
                    i += z + 1;
                    run_start = at + i as u64;
                }
                None => {
                    run.extend_from_slice(&buf[i..]);
                    i = n;
                    if run.len() > MAX_RUN {
                        f(run_start, &run, false)?;
                        run_start += run.len() as u64;
                        run.clear();
                    }
                }
            }
        }
        at += n as u64;
        r.consume(n);
    }
    if !run.is_empty() {
        f(run_start, &run, false)?;
    }
    Ok(())
}

/// The header a frame (COBS bytes, no delimiters) holds, if it is a valid header frame.
fn header_of(frame: &[u8]) -> Option<(u64, String, [u64; 2], u16, String)> {
    // COBS puts a code byte first; a header's body starts with type 0x01 and "TSPN".
    if frame.len() < 8 || frame.get(1..6) != Some(&[1, b'T', b'S', b'P', b'N'][..]) {
        return None;
    }
    let mut bytes = Vec::with_capacity(frame.len() + 2);
    bytes.push(0);
    bytes.extend_from_slice(frame);
    bytes.push(0);
    let mut found = None;
    let _ = Decoder::new().feed(&bytes, &mut |i| {
        if let Item::Header(h) = i {
            found = Some((h.node, h.name.to_string(), [h.clock_hz, h.clock_wrap], h.version, h.target.to_string()));
        }
    });
    found
}

/// The sections of a file: a new one starts at each header of another node (id or name) than
/// the section before. A stream of one node (restarts included) is one section.
pub fn sections(path: &Path) -> io::Result<Vec<Section>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut out: Vec<Section> = Vec::new();
    frames(file, |at, frame, _| {
        if let Some((node, name, ..)) = header_of(frame) {
            let same = out.last().is_some_and(|s| s.node == node && s.name == name);
            if !same {
                // The section starts at the delimiter before the header.
                let start = if out.is_empty() { 0 } else { at.saturating_sub(1) };
                if let Some(prev) = out.last_mut() {
                    prev.end = start;
                }
                out.push(Section { start, end: len, node, name });
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// What one node of a merge reads: its file (or section of one) and its place in the join.
pub struct Part<'a> {
    /// File to read.
    pub path: &'a Path,
    /// Byte range of it (`None`: all of it).
    pub section: Option<(u64, u64)>,
}

/// Writes the nodes of `j` (read from `parts`, in the same order) as one stream: each node's
/// frames as they were, except that its headers carry node id = its index and its name, and
/// the first is followed by a clock anchor at tick 0 placing it on the aligned time line
/// (offsets shifted so that none is negative). Returns the bytes written.
pub fn write(j: &Joined, parts: &[Part<'_>], out: impl Write) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let shift = j.offsets.iter().copied().min().unwrap_or(0).min(0);
    let mut written = 0u64;
    let mut enc = FrameEncoder::new();
    let mut buf = [0u8; ENCODED_CAPACITY];
    for (i, part) in parts.iter().enumerate() {
        let mut file = File::open(part.path)?;
        let (start, end) = part.section.unwrap_or((0, u64::MAX));
        file.seek(SeekFrom::Start(start))?;
        let mut anchored = false;
        let name = j.nodes[i].name.as_str();
        let anchor = (j.offsets[i] - shift).clamp(0, u64::MAX as i128) as u64;
        frames(file.take(end - start), |_, frame, whole| {
            match header_of(frame).filter(|_| whole) {
                Some((_, _, [clock_hz, clock_wrap], version, target)) => {
                    let h = StreamHeader { version, clock_hz, clock_wrap, node: i as u64, target: &target, name };
                    enc.header(&h);
                    let n = enc.finish(&mut buf);
                    out.write_all(&buf[..n])?;
                    written += n as u64;
                    if !std::mem::replace(&mut anchored, true) {
                        enc.sync(0, anchor);
                        let n = enc.finish(&mut buf);
                        out.write_all(&buf[..n])?;
                        written += n as u64;
                    }
                }
                None => {
                    out.write_all(frame)?;
                    written += frame.len() as u64;
                    if whole {
                        out.write_all(&[0])?;
                        written += 1;
                    }
                }
            }
            Ok(())
        })?;
        if !anchored {
            let what = format!("{} has no stream header: a merged stream needs one per node", part.path.display());
            return Err(io::Error::new(io::ErrorKind::InvalidData, what));
        }
    }
    out.flush()?;
    Ok(written)
}
