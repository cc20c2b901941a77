//! Host side of RTT (SEGGER's Real-Time Transfer): finds a control block in target memory and
//! consumes one up channel's ring, through any [`Memory`].
//!
//! Control block layout (32-bit targets), as SEGGER defines it and tickspan's target side
//! (`tickspan::transport::rtt`) lays it out:
//! ```text
//! 0   id[16]            "SEGGER RTT" for defmt's / SEGGER's block, "TICKSPAN RTT" for tickspan's
//! 16  max_up, max_down  i32 each
//! 24  up[max_up]        { name, buffer, size, write, read, flags }: six u32 each (24 bytes)
//!     down[max_down]    same layout
//! ```
//! The host owns `read` (it writes it back after consuming), the target owns `write`.

use super::{read_words, Memory};
use anyhow::{anyhow, bail, Result};
use std::ops::Range;

/// Symbol of tickspan's control block.
pub const TICKSPAN_SYMBOL: &str = "_TICKSPAN_RTT";
/// ID string of tickspan's control block (padded with NULs to 16 bytes).
pub const TICKSPAN_ID: &[u8] = b"TICKSPAN RTT";
/// Name of tickspan's up channel.
pub const CHANNEL_NAME: &str = "tickspan";
/// Channels per direction believed.
const MAX_CHANNELS: u32 = 16;
/// Largest channel buffer believed.
const MAX_BUFFER: u32 = 16 << 20;

/// The 16-byte ID field for `id`.
pub fn id_field(id: &[u8]) -> [u8; 16] {
    let mut f = [0u8; 16];
    f[..id.len().min(16)].copy_from_slice(&id[..id.len().min(16)]);
    f
}

/// Looks for a control block with `id` in `ranges`; errors if there is none or several.
pub fn scan(mem: &mut dyn Memory, ranges: &[Range<u64>], id: &[u8]) -> Result<u64> {
    let want = id_field(id);
    let mut found = Vec::new();
    for r in ranges {
        // Overlapping chunks so that a block straddling a chunk boundary is still seen.
        const CHUNK: u64 = 4096;
        let mut at = r.start;
        while at < r.end {
            let len = (r.end - at).min(CHUNK + 16);
            let mut buf = vec![0u8; len as usize];
            mem.read(at, &mut buf)?;
            for (i, w) in buf.windows(16).enumerate().step_by(4) {
                if w == want && !found.contains(&(at + i as u64)) {
                    found.push(at + i as u64);
                }
            }
            at += CHUNK;
        }
    }
    match found[..] {
        [one] => Ok(one),
        [] => bail!(
            "no RTT control block \"{}\" in target RAM",
            String::from_utf8_lossy(id)
        ),
        _ => bail!(
            "{} RTT control blocks \"{}\" found; give the ELF",
            found.len(),
            String::from_utf8_lossy(id)
        ),
    }
}

/// One up channel of a control block, being read by the host.
#[derive(Debug)]
pub struct UpChannel {
    desc: u64,
    buffer: u64,
    size: u32,
}

impl UpChannel {
    /// Checks the control block at `cb` and opens its up channel named `name` (or channel 0).
    /// Fails while the block is not initialised yet (its ID does not match).
    pub fn attach(
        mem: &mut dyn Memory,
        cb: u64,
        id: &[u8],
        name: Option<&str>,
    ) -> Result<UpChannel> {
        let mut head = [0u8; 24];
        mem.read(cb, &mut head)?;
        if head[..16] != id_field(id) {
            bail!(
                "no RTT control block \"{}\" at {cb:#x} (not initialised yet?)",
                String::from_utf8_lossy(id)
            );
        }
        let max_up = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes"));
        if max_up == 0 || max_up > MAX_CHANNELS {
            bail!("RTT control block at {cb:#x} claims {max_up} up channels");
        }
        for i in 0..max_up {
            let desc = cb + 24 + 24 * u64::from(i);
            let mut w = [0u32; 6];
            read_words(mem, desc, &mut w)?;
            let chan_name = if w[0] == 0 {
                String::new()
            } else {
                read_cstr(mem, w[0].into())?
            };
            if name.is_some_and(|n| n != chan_name) || (name.is_none() && i != 0) {
                continue;
            }
            let (buffer, size) = (u64::from(w[1]), w[2]);
            if buffer == 0 || !(2..=MAX_BUFFER).contains(&size) {
                bail!("RTT up channel {i} at {desc:#x} has an implausible buffer ({buffer:#x}, {size} bytes)");
            }
            return Ok(UpChannel { desc, buffer, size });
        }
        bail!("the RTT control block at {cb:#x} has no up channel {name:?}")
    }

    /// Moves every byte the target has written into `out` and hands the space back to the
    /// target (writes the read offset). Returns the number of bytes read.
    pub fn read(&mut self, mem: &mut dyn Memory, out: &mut Vec<u8>) -> Result<usize> {
        self.read_upto(mem, out, false)
    }

    /// Like [`read`](Self::read), but stops after the last frame delimiter (0x00): what
    /// follows stays in the target's buffer, so a capture that ends here ends on a frame
    /// boundary and the next host starts on one.
    pub fn read_whole_frames(&mut self, mem: &mut dyn Memory, out: &mut Vec<u8>) -> Result<usize> {
        self.read_upto(mem, out, true)
    }

    fn read_upto(
        &mut self,
        mem: &mut dyn Memory,
        out: &mut Vec<u8>,
        whole_frames: bool,
    ) -> Result<usize> {
        let mut off = [0u32; 2];
        read_words(mem, self.desc + 12, &mut off)?;
        let (write, read) = (off[0], off[1]);
        if write >= self.size || read >= self.size {
            bail!(
                "RTT channel offsets out of range (write {write}, read {read}, size {})",
                self.size
            );
        }
        if write == read {
            return Ok(0);
        }
        let start = out.len();
        let mut take = |from: u32, to: u32| -> Result<()> {
            let at = out.len();
            out.resize(at + (to - from) as usize, 0);
            mem.read(self.buffer + u64::from(from), &mut out[at..])
        };
        if write > read {
            take(read, write)?;
        } else {
            take(read, self.size)?;
            take(0, write)?;
        }
        if whole_frames {
            let keep = out[start..]
                .iter()
                .rposition(|&b| b == 0)
                .map_or(0, |i| i + 1);
            out.truncate(start + keep);
        }
        let consumed = (out.len() - start) as u32;
        let new_read = (read + consumed) % self.size;
        if consumed > 0 {
            mem.write(self.desc + 16, &new_read.to_le_bytes())?;
        }
        Ok(consumed as usize)
    }
}

/// Reads a NUL-terminated name of at most 64 bytes.
pub(crate) fn read_cstr(mem: &mut dyn Memory, addr: u64) -> Result<String> {
    let mut buf = [0u8; 64];
    // The name may sit near the end of a region: read what fits, byte by byte as a fallback.
    if mem.read(addr, &mut buf).is_err() {
        for (i, b) in buf.iter_mut().enumerate() {
            let mut one = [0u8];
            if mem.read(addr + i as u64, &mut one).is_err() {
                break;
            }
            *b = one[0];
            if one[0] == 0 {
                break;
            }
        }
    }
    let len = buf
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| anyhow!("RTT channel name at {addr:#x} is not terminated"))?;
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one RAM range is the common case
pub(crate) mod tests {
    use super::*;

    /// Writable memory for tests.
    pub(crate) struct Ram {
        pub base: u64,
        pub bytes: Vec<u8>,
    }

    impl Ram {
        fn range(&self, addr: u64, len: usize) -> Result<Range<usize>> {
            let at = addr
                .checked_sub(self.base)
                .ok_or_else(|| anyhow!("below RAM"))? as usize;
            (at + len <= self.bytes.len())
                .then_some(at..at + len)
                .ok_or_else(|| anyhow!("beyond RAM"))
        }
    }

    impl Memory for Ram {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
            let r = self.range(addr, buf.len())?;
            buf.copy_from_slice(&self.bytes[r]);
            Ok(())
        }
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
            let r = self.range(addr, data.len())?;
            self.bytes[r].copy_from_slice(data);
            Ok(())
        }
    }

    /// A control block at `base` with one up channel "tickspan" of `size` bytes at `base + 0x100`.
    pub(crate) fn image(base: u64, size: u32, write: u32, read: u32, data: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 0x100 + size as usize];
        m[..16].copy_from_slice(&id_field(TICKSPAN_ID));
        let words = [
            1u32,
            0,
            base as u32 + 0x80,
            base as u32 + 0x100,
            size,
            write,
            read,
            0,
        ];
        for (i, w) in words.iter().enumerate() {
            m[16 + 4 * i..20 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        m[0x80..0x89].copy_from_slice(b"tickspan\0");
        m[0x100..0x100 + data.len()].copy_from_slice(data);
        m
    }

    #[test]
    fn reads_wrapped_data_and_advances_the_read_offset() {
        let base = 0x2000_0000;
        let mut data = vec![0u8; 8];
        data[6..8].copy_from_slice(b"ab");
        data[0..3].copy_from_slice(b"cde");
        let mut ram = Ram {
            base,
            bytes: image(base, 8, 3, 6, &data),
        };
        assert_eq!(
            scan(&mut ram, &[base..base + 0x108], TICKSPAN_ID).unwrap(),
            base
        );
        let mut ch = UpChannel::attach(&mut ram, base, TICKSPAN_ID, Some("tickspan")).unwrap();
        let mut out = Vec::new();
        assert_eq!(ch.read(&mut ram, &mut out).unwrap(), 5);
        assert_eq!(out, b"abcde");
        assert_eq!(
            ch.read(&mut ram, &mut out).unwrap(),
            0,
            "read offset was written back"
        );
        // Whole frames: "xy\0z" gives "xy\0" and leaves "z" for the next reader.
        let mut ram = Ram {
            base,
            bytes: image(base, 8, 4, 0, b"xy\0z"),
        };
        let mut ch = UpChannel::attach(&mut ram, base, TICKSPAN_ID, None).unwrap();
        let mut out = Vec::new();
        assert_eq!(ch.read_whole_frames(&mut ram, &mut out).unwrap(), 3);
        assert_eq!(out, b"xy\0");
        assert_eq!(
            ch.read_whole_frames(&mut ram, &mut out).unwrap(),
            0,
            "no delimiter: nothing taken"
        );
        assert_eq!(ch.read(&mut ram, &mut out).unwrap(), 1);
        assert_eq!(out, b"xy\0z");
    }

    #[test]
    fn refuses_wrong_ids_missing_channels_and_corrupt_offsets() {
        let base = 0x1000;
        let mut ram = Ram {
            base,
            bytes: image(base, 8, 0, 0, &[]),
        };
        assert!(UpChannel::attach(&mut ram, base, b"SEGGER RTT", None).is_err());
        assert!(UpChannel::attach(&mut ram, base, TICKSPAN_ID, Some("defmt")).is_err());
        assert!(scan(&mut ram, &[base..base + 0x108], b"SEGGER RTT").is_err());
        let mut ch = UpChannel::attach(&mut ram, base, TICKSPAN_ID, None).unwrap();
        ram.bytes[16 + 4 * 5..16 + 4 * 6].copy_from_slice(&100u32.to_le_bytes()); // write offset past the end
        assert!(ch.read(&mut ram, &mut Vec::new()).is_err());
        ram.bytes[16 + 4 * 4..16 + 4 * 5].copy_from_slice(&u32::MAX.to_le_bytes()); // absurd size
        assert!(UpChannel::attach(&mut ram, base, TICKSPAN_ID, None).is_err());
    }
}
