//! defmt log lines in the span tree: `tickspan attach` reads defmt-rtt's channel beside
//! tickspan's, decodes its frames with the table in the ELF (`defmt-decoder`), and merges each
//! line into the captured stream as an event of the context that was running when it was
//! logged. `tree` (marked `▸`) and `dump` then show it like any event.
//!
//! The firmware stamps defmt frames with tickspan's clock, as plain ticks:
//! `defmt::timestamp!("{=u32}", tickspan::clock::now32())` (or `{=u64}`). The host extends
//! those ticks to the stream's 64-bit timeline: every record's time is congruent to its raw
//! clock value modulo the clock's period (the header's `clock_wrap`), so the first line takes
//! the value nearest the stream's first record and each later line the smallest one not
//! before its predecessor (defmt-rtt writes frames in time order). Exact as long as
//! consecutive lines are less than one clock period apart.
//!
//! Context: a line logged while an `isr!` span was open belongs to that handler (the innermost
//! one when handlers nest), any other line to thread mode (context 0).
//!
//! Everything read from the target is untrusted: a malformed defmt frame is skipped with a
//! warning; a frame the decoder cannot even parse ends decoding with a warning, never a panic.

use anyhow::{bail, Context as _, Result};
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use tickspan::wire::{encode::FrameEncoder, CallsiteInfo, Decoder, Item, ENCODED_CAPACITY};
use tickspan::{CallsiteKind, Kind, Level};

/// defmt-rtt's control block symbol.
pub const SEGGER_SYMBOL: &str = "_SEGGER_RTT";
/// Its ID string.
pub const SEGGER_ID: &[u8] = b"SEGGER RTT";
/// The `file` of callsites that stand for log lines: what views key the `▸` mark on.
pub const LOG_FILE: &str = "<defmt>";
/// First synthetic callsite id of log lines: above the 32-bit address space of any
/// Cortex-M/RISC-V firmware's statics (real callsite ids are their addresses).
const LOG_CALLSITE_BASE: u32 = 0xF000_0000;
/// Distinct log texts given their own callsite; later ones share the last ("…").
const MAX_TEXTS: u32 = (u32::MAX - LOG_CALLSITE_BASE) >> 4;
/// Log lines kept (bounded memory); later lines are counted and dropped.
const MAX_LINES: usize = 1 << 20;
/// Interrupt nesting followed per context.
const MAX_NESTING: usize = 256;

/// One decoded log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Raw timestamp as the firmware wrote it (clock ticks).
    pub raw: u64,
    /// `INFO parsed 12 bytes`.
    pub text: String,
}

/// Whether the ELF carries a defmt table (a `.defmt` section).
pub fn has_table(elf: &[u8]) -> bool {
    matches!(defmt_decoder::Table::parse(elf), Ok(Some(_)))
}

/// Decodes the bytes of defmt's RTT channel (read in chunks) with the ELF's table. Frames without a plain
/// integer timestamp, and malformed frames, are skipped and reported through `warn`.
pub fn decode(elf: &[u8], input: impl Read, warn: &mut dyn FnMut(String)) -> Result<Vec<Line>> {
    if !table(elf)?.has_timestamp() {
        bail!("the firmware gives defmt no timestamp: add `defmt::timestamp!(\"{{=u32}}\", tickspan::clock::now32())`");
    }
    let mut lines = Vec::new();
    let (mut untimed, mut dropped) = (0u64, 0u64);
    decode_with(elf, input, warn, &mut |raw, text| match raw {
        Some(raw) if lines.len() < MAX_LINES => lines.push(Line { raw, text }),
        Some(_) => dropped += 1,
        None => untimed += 1,
    })?;
    if untimed > 0 {
        warn(format!(
            "{untimed} defmt lines without a plain tick timestamp (`{{=u32}}`/`{{=u64}}`) left out of the tree"
        ));
    }
    if dropped > 0 {
        warn(format!("{dropped} defmt lines beyond {MAX_LINES} left out"));
    }
    Ok(lines)
}

fn table(elf: &[u8]) -> Result<defmt_decoder::Table> {
    defmt_decoder::Table::parse(elf)
        .context("reading the defmt table of the ELF")?
        .ok_or_else(|| anyhow::anyhow!("the ELF has no defmt table (.defmt section)"))
}

/// Decodes defmt's bytes as [`decode`] does, each line handed to `line` as it is decoded with
/// its plain tick timestamp, if it has one (`tickspan run` prints them live).
pub fn decode_with(
    elf: &[u8],
    mut input: impl Read,
    warn: &mut dyn FnMut(String),
    line: &mut dyn FnMut(Option<u64>, String),
) -> Result<()> {
    let table = table(elf)?;
    let mut dec = table.new_stream_decoder();
    let mut malformed = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    // defmt-decoder formats with `unwrap`s on what it has parsed: a frame it accepted but
    // cannot format must not take the CLI down. Silence the hook while decoding.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut read_error = None;
    'input: loop {
        match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => dec.received(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
        loop {
            let step = panic::catch_unwind(AssertUnwindSafe(|| match dec.decode() {
                Ok(f) => {
                    let ts = f.display_timestamp().map(|t| t.to_string());
                    let level = f.level().map_or("", |l| l.as_str()).to_uppercase();
                    let msg = f.display_message().to_string();
                    let text = if level.is_empty() {
                        msg
                    } else {
                        format!("{level} {msg}")
                    };
                    Ok((ts, text))
                }
                Err(e) => Err(e),
            }));
            match step {
                Ok(Ok((ts, text))) => line(ts.and_then(|t| t.trim().parse::<u64>().ok()), text),
                // The rest of the frame is in the next chunk.
                Ok(Err(defmt_decoder::DecodeError::UnexpectedEof)) => break,
                Ok(Err(defmt_decoder::DecodeError::Malformed)) => {
                    malformed += 1;
                    // rzCOBS frames resynchronise at the next delimiter; raw frames cannot.
                    if !table.encoding().can_recover() {
                        warn(
                            "the rest of the defmt stream cannot be decoded (raw encoding)".into(),
                        );
                        break 'input;
                    }
                }
                Err(_) => {
                    warn("a defmt frame the decoder could not format ended defmt decoding".into());
                    break 'input;
                }
            }
        }
    }
    panic::set_hook(hook);
    if let Some(e) = read_error {
        return Err(e).context("reading the captured defmt bytes");
    }
    if malformed > 0 {
        warn(format!("{malformed} malformed defmt frames skipped"));
    }
    Ok(())
}

/// A log line placed on the stream's timeline.
struct Placed {
    ts: u64,
    ctx: u32,
    /// Length of the handler span that claimed it (innermost wins); `u64::MAX` = thread mode.
    claim: u64,
    callsite: u32,
}

/// Decodes a whole stream from `r` in chunks (bounded memory), items to `sink`.
fn feed_all(mut r: impl Read, sink: &mut impl FnMut(Item<'_>)) -> io::Result<()> {
    let mut dec = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if dec.feed(&buf[..n], sink).is_err() {
            // Not a tickspan stream (or an unknown version): nothing more to read from it.
            return Ok(());
        }
    }
    dec.finish(sink);
    Ok(())
}

/// Merges `lines` into the tickspan stream that `open` reads (three passes, each in bounded
/// memory) as events, writing the new stream to `out`. Returns the number of lines merged; 0
/// (and nothing written) when the stream has no records to place them against. Items of the
/// stream are re-encoded unchanged.
pub fn merge<R: Read>(
    open: impl Fn() -> io::Result<R>,
    out: &mut dyn Write,
    lines: &[Line],
) -> io::Result<usize> {
    // Pass 1: the clock's period and the first record's time.
    let (mut wrap, mut first) = (0u64, None::<u64>);
    feed_all(open()?, &mut |item| match item {
        Item::Header(h) => wrap = h.clock_wrap,
        Item::Record { ts, .. } if first.is_none() => first = Some(ts),
        _ => {}
    })?;
    let Some(first) = first else {
        return Ok(0);
    };
    let modulus = if (1..=1u64 << 32).contains(&wrap) {
        wrap
    } else {
        1 << 32
    };

    // Distinct texts → callsite ids; each line's 64-bit time.
    let mut texts: Vec<&str> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    let mut placed: Vec<Placed> = Vec::with_capacity(lines.len());
    let mut prev: Option<(u64, u64)> = None; // (raw mod m, 64-bit time)
    for l in lines {
        let r = l.raw % modulus;
        let ts = match prev {
            None => nearest(first, r, modulus),
            Some((pr, pt)) => pt.saturating_add((r + modulus - pr) % modulus),
        };
        prev = Some((r, ts));
        let n = texts.len() as u32;
        let idx = *ids.entry(l.text.as_str()).or_insert_with(|| {
            texts.push(&l.text);
            n.min(MAX_TEXTS - 1)
        });
        placed.push(Placed {
            ts,
            ctx: 0,
            claim: u64::MAX,
            callsite: LOG_CALLSITE_BASE + (idx << 4),
        });
    }

    // Pass 2: which handler was running at each line's time.
    let mut isrs: std::collections::HashMap<u32, Vec<u64>> = Default::default();
    feed_all(open()?, &mut |item| {
        if let Item::Record { ctx, ts, kind, .. } = item {
            match kind {
                Kind::IsrEnter => {
                    // Bounded: a damaged stream of enters without exits does not grow it.
                    let stack = isrs.entry(ctx).or_default();
                    if stack.len() < MAX_NESTING {
                        stack.push(ts);
                    }
                }
                Kind::IsrExit => {
                    let Some(start) = isrs.get_mut(&ctx).and_then(Vec::pop) else {
                        return;
                    };
                    let from = placed.partition_point(|p| p.ts < start);
                    let len = ts.saturating_sub(start);
                    for p in placed[from..].iter_mut().take_while(|p| p.ts <= ts) {
                        if len < p.claim {
                            (p.ctx, p.claim) = (ctx, len);
                        }
                    }
                }
                _ => {}
            }
        }
    })?;

    // Pass 3: re-encode, each line before the first record of its context that is later.
    let mut pending: std::collections::HashMap<u32, std::collections::VecDeque<(u64, u32)>> =
        Default::default();
    for p in &placed {
        pending
            .entry(p.ctx)
            .or_default()
            .push_back((p.ts, p.callsite));
    }
    let mut w = Writer::default();
    let mut defined = false;
    let mut emitted = 0;
    let mut failed = None;
    feed_all(open()?, &mut |item| {
        if !defined && !matches!(item, Item::Header(_)) {
            // The log callsites, right after the header.
            defined = true;
            for (i, t) in texts.iter().enumerate() {
                w.callsite(LOG_CALLSITE_BASE + ((i as u32).min(MAX_TEXTS - 1) << 4), t);
            }
        }
        match item {
            Item::Record {
                ctx,
                ts,
                kind,
                callsite,
                a,
                b,
            } => {
                if let Some(q) = pending.get_mut(&ctx) {
                    while q.front().is_some_and(|&(t, _)| t < ts) {
                        let (t, cs) = q.pop_front().expect("front exists");
                        w.record(ctx, Kind::Event, cs, t, 0, 0);
                        emitted += 1;
                    }
                }
                w.record(ctx, kind, callsite, ts, a, b);
            }
            Item::Loss { ctx, count } => w.loss(ctx, count),
            Item::Header(h) => w.frame(|e| e.header(&h)),
            Item::Callsite(c) => w.frame(|e| e.callsite(&c)),
            Item::Context { ctx, name } => w.frame(|e| e.context(ctx, name)),
            Item::Sync { ts, unix_ns } => w.frame(|e| e.sync(ts, unix_ns)),
            _ => {}
        }
        if w.out.len() >= 64 * 1024 && failed.is_none() {
            failed = out.write_all(&w.out).err();
            w.out.clear();
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    // Lines after their context's last record.
    let mut rest: Vec<(u32, u64, u32)> = pending
        .into_iter()
        .flat_map(|(c, q)| q.into_iter().map(move |(t, cs)| (c, t, cs)))
        .collect();
    rest.sort_unstable();
    for (ctx, t, cs) in rest {
        w.record(ctx, Kind::Event, cs, t, 0, 0);
        emitted += 1;
    }
    out.write_all(&w.finish())?;
    Ok(emitted)
}

/// The value congruent to `r` modulo `m` nearest to `near`.
fn nearest(near: u64, r: u64, m: u64) -> u64 {
    let below = near - (near % m) + r;
    let below = match below.checked_sub(m) {
        _ if below <= near => below,
        Some(b) => b,
        None => return below,
    };
    let above = below.saturating_add(m);
    if near - below.min(near) <= above - near {
        below
    } else {
        above
    }
}

/// Re-encodes items into frames, batching consecutive records of one context.
#[derive(Default)]
struct Writer {
    enc: Option<Box<FrameEncoder>>,
    ctx: Option<u32>,
    out: Vec<u8>,
}

impl Writer {
    fn enc(&mut self) -> &mut FrameEncoder {
        self.enc
            .get_or_insert_with(|| Box::new(FrameEncoder::new()))
    }

    fn flush(&mut self) {
        if self.ctx.take().is_some() {
            let mut buf = [0u8; ENCODED_CAPACITY];
            let n = self.enc().finish(&mut buf);
            self.out.extend_from_slice(&buf[..n]);
        }
    }

    fn frame(&mut self, f: impl FnOnce(&mut FrameEncoder) -> bool) {
        self.flush();
        if f(self.enc()) {
            let mut buf = [0u8; ENCODED_CAPACITY];
            let n = self.enc().finish(&mut buf);
            self.out.extend_from_slice(&buf[..n]);
        }
    }

    fn callsite(&mut self, id: u32, name: &str) {
        // Frames are bounded: a very long line is cut (at a character boundary).
        let mut end = name.len().min(160);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let info = CallsiteInfo {
            id,
            kind: CallsiteKind::Event,
            level: Level::Info,
            line: 0,
            name: &name[..end],
            file: LOG_FILE,
        };
        self.frame(|e| e.callsite(&info));
    }

    fn open(&mut self, ctx: u32, ts: u64) {
        if self.ctx != Some(ctx) || !self.enc().has_room() {
            self.flush();
            self.enc().begin_batch(ctx, ts);
            self.ctx = Some(ctx);
        }
    }

    fn record(&mut self, ctx: u32, kind: Kind, cs: u32, ts: u64, a: u32, b: u32) {
        self.open(ctx, ts);
        if !self.enc().record(kind, cs, ts, a, b) {
            self.flush();
            self.open(ctx, ts);
            self.enc().record(kind, cs, ts, a, b);
        }
    }

    fn loss(&mut self, ctx: u32, count: u32) {
        // A loss entry has no time: it goes into the context's batch at the current time.
        if self.ctx != Some(ctx) || !self.enc().has_room() {
            self.flush();
            let cur = 0;
            self.enc().begin_batch(ctx, cur);
            self.ctx = Some(ctx);
        }
        self.enc().loss(count);
    }

    fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_picks_the_congruent_value_closest_to_the_reference() {
        assert_eq!(nearest(1000, 5, 100), 1005);
        assert_eq!(nearest(1000, 95, 100), 995);
        assert_eq!(nearest(10, 95, 100), 95, "no value below zero");
        assert_eq!(nearest(1049, 0, 100), 1000);
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use tickspan::wire::StreamHeader;

    const PARSE: u32 = 0x100;
    const TICK: u32 = 0x200;

    /// Thread mode: `parse` over 5000..5100; SysTick (context 1) over 5040..5060. The clock
    /// wraps at 1000.
    fn stream() -> Vec<u8> {
        let mut w = Writer::default();
        w.frame(|e| {
            e.header(&StreamHeader {
                version: tickspan::wire::FORMAT_VERSION,
                clock_hz: 1_000_000,
                clock_wrap: 1000,
                node: 0,
                target: "t",
                name: "",
            })
        });
        for (id, name, kind) in [
            (PARSE, "parse", CallsiteKind::Span),
            (TICK, "SysTick", CallsiteKind::Isr),
        ] {
            let info = CallsiteInfo {
                id,
                kind,
                level: Level::Info,
                line: 1,
                name,
                file: "f.rs",
            };
            w.frame(|e| e.callsite(&info));
        }
        w.record(0, Kind::SpanEnter, PARSE, 5000, 0, 0);
        w.record(0, Kind::SpanExit, PARSE, 5100, 0, 0);
        w.record(1, Kind::IsrEnter, TICK, 5040, 15, 0);
        w.record(1, Kind::IsrExit, TICK, 5060, 15, 0);
        w.finish()
    }

    fn items(bytes: &[u8]) -> Vec<(u32, u64, Kind, String)> {
        let mut names = std::collections::HashMap::new();
        let mut out = Vec::new();
        Decoder::new()
            .feed(bytes, &mut |i| match i {
                Item::Callsite(c) => {
                    names.insert(c.id, c.name.to_string());
                }
                Item::Record {
                    ctx,
                    ts,
                    kind,
                    callsite,
                    ..
                } => out.push((
                    ctx,
                    ts,
                    kind,
                    names.get(&callsite).cloned().unwrap_or_default(),
                )),
                _ => {}
            })
            .unwrap();
        out
    }

    fn merge(stream: &[u8], lines: &[Line]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let n = super::merge(|| Ok(stream), &mut out, lines).unwrap();
        (out, n)
    }

    fn line(raw: u64, text: &str) -> Line {
        Line {
            raw,
            text: text.into(),
        }
    }

    #[test]
    fn lines_go_into_the_context_and_span_open_at_their_time() {
        // Raw ticks as the firmware stamps them: the clock modulo its period (plus any
        // multiple of it: only the residue counts).
        let lines = [
            line(20, "INFO in parse"),
            line(7_050, "INFO in the handler"),
            line(90, "INFO in parse again"),
            line(300, "INFO after"),
        ];
        let (merged, n) = merge(&stream(), &lines);
        assert_eq!(n, 4);
        let want: Vec<(u32, u64, Kind, String)> = [
            (0, 5000, Kind::SpanEnter, "parse"),
            (0, 5020, Kind::Event, "INFO in parse"),
            (0, 5090, Kind::Event, "INFO in parse again"),
            (0, 5100, Kind::SpanExit, "parse"),
            (1, 5040, Kind::IsrEnter, "SysTick"),
            (1, 5050, Kind::Event, "INFO in the handler"),
            (1, 5060, Kind::IsrExit, "SysTick"),
            (0, 5300, Kind::Event, "INFO after"),
        ]
        .into_iter()
        .map(|(c, t, k, n)| (c, t, k, n.to_string()))
        .collect();
        assert_eq!(items(&merged), want);
    }

    #[test]
    fn a_long_stream_goes_through_in_chunks_unchanged_but_for_the_lines() {
        let mut w = Writer::default();
        w.frame(|e| {
            e.callsite(&CallsiteInfo {
                id: PARSE,
                kind: CallsiteKind::Span,
                level: Level::Info,
                line: 1,
                name: "parse",
                file: "f.rs",
            })
        });
        for i in 0..100_000u64 {
            w.record(0, Kind::SpanEnter, PARSE, 10 * i, 0, 0);
            w.record(0, Kind::SpanExit, PARSE, 10 * i + 5, 0, 0);
        }
        let s = w.finish();
        assert!(s.len() > 3 * 64 * 1024, "{} bytes", s.len());
        // Clock of 2^32 (no header): one line in the middle of span 15 000, one at the end.
        let (merged, n) = merge(
            &s,
            &[line(150_002, "INFO mid"), line(2_000_000, "INFO end")],
        );
        assert_eq!(n, 2);
        let all = items(&merged);
        assert_eq!(all.len(), 200_002);
        assert_eq!(
            all[30_001],
            (0, 150_002, Kind::Event, "INFO mid".to_string())
        );
        assert_eq!(all[30_000].1, 150_000);
        assert_eq!(
            all[200_001],
            (0, 2_000_000, Kind::Event, "INFO end".to_string())
        );
        let mut without: Vec<_> = all.clone();
        without.retain(|i| i.2 != Kind::Event);
        assert_eq!(without, items(&s));
    }

    #[test]
    fn a_stream_without_records_or_lines_is_left_alone() {
        let garbage = b"not a trace at all\0\x01\x02".to_vec();
        assert_eq!(
            merge(&garbage, &[line(1, "x")]),
            (Vec::new(), 0),
            "nothing written"
        );
        let s = stream();
        let (merged, n) = merge(&s, &[]);
        assert_eq!(n, 0);
        assert_eq!(items(&merged), items(&s));
    }

    #[test]
    fn identical_texts_share_a_callsite_and_long_ones_are_cut() {
        let long = "INFO ".to_string() + &"é".repeat(200);
        let lines = [
            line(10, "INFO same"),
            line(20, "INFO same"),
            line(30, &long),
        ];
        let (merged, n) = merge(&stream(), &lines);
        assert_eq!(n, 3);
        let mut ids = Vec::new();
        Decoder::new()
            .feed(&merged, &mut |i| {
                if let Item::Callsite(c) = i {
                    if c.file == LOG_FILE {
                        ids.push((c.id, c.name.len()));
                    }
                }
            })
            .unwrap();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(ids[1].1 <= 160, "{ids:?}");
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use object::write::{Object, Symbol, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
    };

    /// An ELF with a defmt table as the linker lays it out: raw encoding, a `{=u32}`
    /// timestamp (index 1) and `info!("parsed {=u32} bytes")` (index 2).
    fn defmt_elf() -> Vec<u8> {
        let mut obj = Object::new(BinaryFormat::Elf, Architecture::Arm, Endianness::Little);
        let defmt = obj.add_section(Vec::new(), b".defmt".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(defmt, &[0u8; 4], 1);
        let json = |tag: &str, data: &str| {
            format!(
                r#"{{"package":"fw","tag":"{tag}","data":"{data}","disambiguator":"1","crate_name":"fw"}}"#
            )
        };
        let syms = [
            ("_defmt_version_ = 4".to_string(), 0),
            ("_defmt_encoding_ = raw".to_string(), 0),
            (json("defmt_timestamp", "{=u32}"), 1),
            (json("defmt_info", "parsed {=u32} bytes"), 2),
        ];
        for (name, value) in syms {
            obj.add_symbol(Symbol {
                name: name.into_bytes(),
                value,
                size: 1,
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(defmt),
                flags: SymbolFlags::None,
            });
        }
        obj.write().unwrap()
    }

    /// A raw frame of `info!("parsed {n} bytes")` at tick `ts`.
    fn frame(ts: u32, n: u32) -> Vec<u8> {
        [&2u16.to_le_bytes()[..], &ts.to_le_bytes(), &n.to_le_bytes()].concat()
    }

    fn run(bytes: &[u8]) -> (Vec<Line>, Vec<String>) {
        let mut warnings = Vec::new();
        let lines = decode(&defmt_elf(), bytes, &mut |w| warnings.push(w)).unwrap();
        (lines, warnings)
    }

    #[test]
    fn decodes_frames_with_their_tick_timestamps() {
        assert!(has_table(&defmt_elf()));
        let bytes = [frame(1000, 9), frame(1200, 10)].concat();
        let (lines, warnings) = run(&bytes);
        assert_eq!(
            lines,
            [
                Line {
                    raw: 1000,
                    text: "INFO parsed 9 bytes".into()
                },
                Line {
                    raw: 1200,
                    text: "INFO parsed 10 bytes".into()
                }
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        // A frame cut short by the end of the capture is not a line (and not an error).
        let (lines, warnings) = run(&bytes[..bytes.len() - 3]);
        assert_eq!((lines.len(), warnings.len()), (1, 0));
    }

    #[test]
    fn an_unknown_index_ends_raw_decoding_with_a_warning() {
        let bytes = [frame(5, 1), vec![0x7f, 0x7f, 0, 0], frame(6, 2)].concat();
        let (lines, warnings) = run(&bytes);
        assert_eq!(lines.len(), 1);
        assert!(
            warnings.iter().any(|w| w.contains("cannot be decoded")),
            "{warnings:?}"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_hang() {
        let elf = defmt_elf();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly valid indices, so that decoding gets past the first frame.
                    if x % 3 == 0 {
                        2
                    } else {
                        x as u8
                    }
                })
                .collect();
            let lines = decode(&elf, &bytes[..], &mut |_| {}).unwrap();
            assert!(lines.len() <= bytes.len() / 10 + 1);
        }
    }
}
