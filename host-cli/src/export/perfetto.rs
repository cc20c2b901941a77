//! Perfetto's native protobuf trace (`Trace` = repeated `TracePacket`), as ui.perfetto.dev and
//! Perfetto's trace processor read it without the JSON importer's limits.
//!
//! Tracks: one process per stream (node); one thread track per context, where scoped and ISR
//! spans are `TYPE_SLICE_BEGIN`/`END` pairs (written as they open and close, so they nest by
//! construction), events and losses `TYPE_INSTANT`s; one counter track per value callsite
//! (`TYPE_COUNTER`); manual spans, which may outlive what opened them and end in another
//! context, on process-scoped "manual spans" lanes (a lane holds one open span at a time,
//! reused when it ends). Fields and a span's status are typed debug annotations: an event's on
//! its instant, a span's on its end (the status comes last), which Perfetto adds to the slice.
//! Flows draw what nesting cannot: from a manual span to each child (the child's begin starts a
//! flow that its parent's end terminates: the parent's end lists its children's flows, at most
//! [`MAX_PENDING_FLOWS`] at once, the rest counted), and through the polls and switches of each
//! task in time order.
//!
//! A join of several nodes ([`Perfetto::node`]) appends each node's packets to one trace: a
//! packet sequence, tracks and a process of its own per node, its times on the join's time
//! line, and a flow from each parent to its child in another node or context.
//!
//! Names, categories and argument names are interned (`InternedData`, one packet sequence,
//! `SEQ_INCREMENTAL_STATE_CLEARED` then `SEQ_NEEDS_INCREMENTAL_STATE`), each written once, in
//! the packet that first uses it. Timestamps are ns of the stream's clock (its raw ticks when
//! the stream gives no frequency: the process is then named "… (times in ticks)"). Memory is
//! bounded by the contexts, callsites and open manual spans, never by the trace's length.
//!
//! The messages are hand-written prost structs with the field numbers of Perfetto's .proto
//! files (protos/perfetto/trace/…, named on each struct), only the fields written here:
//! Perfetto publishes no Rust crate of its protos, and generating them would need protoc at
//! build time. Proto2 `oneof` members are plain optional fields (the same bytes on the wire
//! when one is set) and repeated scalars are unpacked, as proto2 encodes them.

use super::chrome::NodePlace;
use super::Errors;
use crate::item::CallsiteKind;
use crate::model::{Field, FieldValue, Mark, MarkKind, Meta, NameId, Span, SpanKind, Status, Value, Visitor};
use prost::Message;
use rustc_hash::FxHashMap;
use std::io::{self, Write};

/// The messages written, as in Perfetto's protos (field numbers from the files named).
pub mod proto {
    /// protos/perfetto/trace/trace.proto: the whole file is one `Trace`, so a stream of
    /// `packet` fields (tag 1) concatenates into one.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Trace {
        /// `repeated TracePacket packet = 1`.
        #[prost(message, repeated, tag = "1")]
        pub packet: Vec<TracePacket>,
    }

    /// protos/perfetto/trace/trace_packet.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TracePacket {
        /// `optional uint64 timestamp = 8` (ns, the default boot-time clock).
        #[prost(uint64, optional, tag = "8")]
        pub timestamp: Option<u64>,
        /// `uint32 trusted_packet_sequence_id = 10` (oneof `optional_trusted_packet_sequence_id`).
        #[prost(uint32, optional, tag = "10")]
        pub trusted_packet_sequence_id: Option<u32>,
        /// `TrackEvent track_event = 11` (oneof `data`).
        #[prost(message, optional, tag = "11")]
        pub track_event: Option<TrackEvent>,
        /// `optional InternedData interned_data = 12`.
        #[prost(message, optional, tag = "12")]
        pub interned_data: Option<InternedData>,
        /// `optional uint32 sequence_flags = 13` (`SequenceFlags`).
        #[prost(uint32, optional, tag = "13")]
        pub sequence_flags: Option<u32>,
        /// `TrackDescriptor track_descriptor = 60` (oneof `data`).
        #[prost(message, optional, tag = "60")]
        pub track_descriptor: Option<TrackDescriptor>,
    }

    /// `TracePacket.SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED`.
    pub const SEQ_INCREMENTAL_STATE_CLEARED: u32 = 1;
    /// `TracePacket.SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE`.
    pub const SEQ_NEEDS_INCREMENTAL_STATE: u32 = 2;

    /// protos/perfetto/trace/interned_data/interned_data.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InternedData {
        /// `repeated EventCategory event_categories = 1`.
        #[prost(message, repeated, tag = "1")]
        pub event_categories: Vec<Interned>,
        /// `repeated EventName event_names = 2`.
        #[prost(message, repeated, tag = "2")]
        pub event_names: Vec<Interned>,
        /// `repeated DebugAnnotationName debug_annotation_names = 3`.
        #[prost(message, repeated, tag = "3")]
        pub debug_annotation_names: Vec<Interned>,
    }

    /// `EventCategory`, `EventName` (track_event/track_event.proto) and `DebugAnnotationName`
    /// (track_event/debug_annotation.proto): the same two fields.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Interned {
        /// `optional uint64 iid = 1` (from 1).
        #[prost(uint64, optional, tag = "1")]
        pub iid: Option<u64>,
        /// `optional string name = 2`.
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
    }

    /// protos/perfetto/trace/track_event/track_descriptor.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrackDescriptor {
        /// `optional uint64 uuid = 1`.
        #[prost(uint64, optional, tag = "1")]
        pub uuid: Option<u64>,
        /// `string name = 2` (oneof `static_or_dynamic_name`).
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        /// `optional ProcessDescriptor process = 3`.
        #[prost(message, optional, tag = "3")]
        pub process: Option<ProcessDescriptor>,
        /// `optional ThreadDescriptor thread = 4`.
        #[prost(message, optional, tag = "4")]
        pub thread: Option<ThreadDescriptor>,
        /// `optional uint64 parent_uuid = 5`.
        #[prost(uint64, optional, tag = "5")]
        pub parent_uuid: Option<u64>,
        /// `optional CounterDescriptor counter = 8` (present: a counter track).
        #[prost(message, optional, tag = "8")]
        pub counter: Option<CounterDescriptor>,
    }

    /// protos/perfetto/trace/track_event/process_descriptor.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ProcessDescriptor {
        /// `optional int32 pid = 1`.
        #[prost(int32, optional, tag = "1")]
        pub pid: Option<i32>,
        /// `optional string process_name = 6`.
        #[prost(string, optional, tag = "6")]
        pub process_name: Option<String>,
    }

    /// protos/perfetto/trace/track_event/thread_descriptor.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ThreadDescriptor {
        /// `optional int32 pid = 1`.
        #[prost(int32, optional, tag = "1")]
        pub pid: Option<i32>,
        /// `optional int64 tid = 2`.
        #[prost(int64, optional, tag = "2")]
        pub tid: Option<i64>,
        /// `optional string thread_name = 5`.
        #[prost(string, optional, tag = "5")]
        pub thread_name: Option<String>,
    }

    /// protos/perfetto/trace/track_event/counter_descriptor.proto (no field needed: values
    /// are absolute, unitless).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CounterDescriptor {}

    /// protos/perfetto/trace/track_event/track_event.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrackEvent {
        /// `repeated uint64 category_iids = 3`.
        #[prost(uint64, repeated, packed = "false", tag = "3")]
        pub category_iids: Vec<u64>,
        /// `repeated DebugAnnotation debug_annotations = 4`.
        #[prost(message, repeated, tag = "4")]
        pub debug_annotations: Vec<DebugAnnotation>,
        /// `optional Type type = 9` (`TYPE_*` below).
        #[prost(int32, optional, tag = "9")]
        pub r#type: Option<i32>,
        /// `uint64 name_iid = 10` (oneof `name_field`).
        #[prost(uint64, optional, tag = "10")]
        pub name_iid: Option<u64>,
        /// `optional uint64 track_uuid = 11`.
        #[prost(uint64, optional, tag = "11")]
        pub track_uuid: Option<u64>,
        /// `string name = 23` (oneof `name_field`).
        #[prost(string, optional, tag = "23")]
        pub name: Option<String>,
        /// `int64 counter_value = 30` (oneof `counter_value_field`).
        #[prost(int64, optional, tag = "30")]
        pub counter_value: Option<i64>,
        /// `double double_counter_value = 44` (oneof `counter_value_field`).
        #[prost(double, optional, tag = "44")]
        pub double_counter_value: Option<f64>,
        /// `repeated fixed64 flow_ids = 47`.
        #[prost(fixed64, repeated, packed = "false", tag = "47")]
        pub flow_ids: Vec<u64>,
        /// `repeated fixed64 terminating_flow_ids = 48`.
        #[prost(fixed64, repeated, packed = "false", tag = "48")]
        pub terminating_flow_ids: Vec<u64>,
    }

    /// `TrackEvent.Type.TYPE_SLICE_BEGIN`.
    pub const TYPE_SLICE_BEGIN: i32 = 1;
    /// `TrackEvent.Type.TYPE_SLICE_END`.
    pub const TYPE_SLICE_END: i32 = 2;
    /// `TrackEvent.Type.TYPE_INSTANT`.
    pub const TYPE_INSTANT: i32 = 3;
    /// `TrackEvent.Type.TYPE_COUNTER`.
    pub const TYPE_COUNTER: i32 = 4;

    /// protos/perfetto/trace/track_event/debug_annotation.proto (the value fields are members
    /// of oneof `value`: set one).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DebugAnnotation {
        /// `uint64 name_iid = 1` (oneof `name_field`).
        #[prost(uint64, optional, tag = "1")]
        pub name_iid: Option<u64>,
        /// `bool bool_value = 2`.
        #[prost(bool, optional, tag = "2")]
        pub bool_value: Option<bool>,
        /// `uint64 uint_value = 3`.
        #[prost(uint64, optional, tag = "3")]
        pub uint_value: Option<u64>,
        /// `int64 int_value = 4`.
        #[prost(int64, optional, tag = "4")]
        pub int_value: Option<i64>,
        /// `double double_value = 5`.
        #[prost(double, optional, tag = "5")]
        pub double_value: Option<f64>,
        /// `string string_value = 6`.
        #[prost(string, optional, tag = "6")]
        pub string_value: Option<String>,
    }
}

use proto::{DebugAnnotation, Interned, InternedData, TracePacket, TrackDescriptor, TrackEvent};

/// Parent links waiting for their parent's end at once; beyond it a child gets no flow (and
/// is counted: [`Perfetto::finish`]).
pub const MAX_PENDING_FLOWS: usize = 1 << 16;

/// The packet sequence of a single stream (a join's node `i` has `i + 1`): its interned state
/// holds every name of its stream.
const SEQUENCE: u32 = 1;

/// Bytes gathered before a write to the output.
const CHUNK: usize = 1 << 16;

/// Event categories, interned in the first packet as `iid = index + 1`.
const CATEGORIES: [&str; 6] = ["span", "isr", "manual", "event", "task", "loss"];
const CAT_SPAN: u64 = 1;
const CAT_ISR: u64 = 2;
const CAT_MANUAL: u64 = 3;
const CAT_EVENT: u64 = 4;
const CAT_TASK: u64 = 5;
const CAT_LOSS: u64 = 6;

/// Argument names, interned in the first packet as `iid = index + 1`; a field's key is
/// interned on first use after them ([`Perfetto::key`]).
const ARGS: [&str; 12] = [
    "self_ns",
    "isr_ns",
    "irq",
    "unfinished",
    "value",
    "task",
    "lost",
    "span_id",
    "task_name",
    "status",
    "status_message",
    "message",
];
const ARG_SELF: u64 = 1;
const ARG_ISR: u64 = 2;
const ARG_IRQ: u64 = 3;
const ARG_UNFINISHED: u64 = 4;
const ARG_VALUE: u64 = 5;
const ARG_TASK: u64 = 6;
const ARG_LOST: u64 = 7;
const ARG_SPAN_ID: u64 = 8;
const ARG_TASK_NAME: u64 = 9;
const ARG_STATUS: u64 = 10;
const ARG_STATUS_MESSAGE: u64 = 11;
const ARG_MESSAGE: u64 = 12;

// Track uuids: small, so that the one on every event is a short varint. Contexts are below
// 4096 and name ids below 65536 (model.rs), lanes below 65536 (open manual spans).
const PROCESS_TRACK: u64 = 1;
fn thread_track(ctx: u32) -> u64 {
    0x1000 + u64::from(ctx)
}
fn counter_track(name: NameId) -> u64 {
    0x10000 + u64::from(name)
}
fn lane_track(lane: u32) -> u64 {
    0x20000 + u64::from(lane)
}

/// Flow ids are global in a trace: mixed from what they link and the stream's node, so that
/// streams merged into one trace keep theirs apart.
fn flow_id(kind: u64, node: u64, id: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        // splitmix64's finalizer.
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    mix(mix(node ^ kind << 62) ^ id)
}
const FLOW_CHILD: u64 = 1;
const FLOW_TASK: u64 = 2;
const FLOW_LINK: u64 = 3;

/// The flow of a join's `k`-th parent link across nodes or contexts (`Joined::cross_links`).
pub fn link_flow(k: u64) -> u64 {
    flow_id(FLOW_LINK, 0, k)
}

/// Bit at which a join's node index starts its track uuids (those of one stream stay below).
const NODE_TRACKS: u32 = 32;

/// One node of a join, in a trace of several ([`Perfetto::node`]).
#[derive(Default)]
pub struct JoinedNode {
    /// Its process and its place on the join's time line.
    pub place: NodePlace,
    /// Span uid → the flows its begin starts: it is the parent of spans in other nodes or
    /// contexts.
    pub flows_out: FxHashMap<u64, Vec<u64>>,
    /// Span uid → the flow its begin terminates: its parent is in another node or context.
    pub flows_in: FxHashMap<u64, u64>,
}

fn ann(iid: u64) -> DebugAnnotation {
    DebugAnnotation { name_iid: Some(iid), ..Default::default() }
}
fn ann_u(iid: u64, v: u64) -> DebugAnnotation {
    DebugAnnotation { uint_value: Some(v), ..ann(iid) }
}
fn ann_s(iid: u64, v: &str) -> DebugAnnotation {
    DebugAnnotation { string_value: Some(v.to_string()), ..ann(iid) }
}

/// Streams a Perfetto protobuf trace to `out`.
pub struct Perfetto<W: Write> {
    out: W,
    /// Encoded packets not written yet (up to [`CHUNK`]).
    buf: Vec<u8>,
    /// The packet being built (its vectors keep their capacity between packets).
    pkt: TracePacket,
    started: bool,
    /// Per context: the name its thread track was described with.
    threads: Vec<Option<String>>,
    /// Per name id: whether its name was interned.
    named: Vec<bool>,
    /// Per name id: whether it was interned as an argument name (a field's key).
    keys: Vec<bool>,
    /// Per name id: whether its counter track was described.
    counters: Vec<bool>,
    /// Manual-span lanes: whether each holds an open span.
    lanes: Vec<bool>,
    /// Open manual span uid → its lane.
    lane_of: FxHashMap<u64, u32>,
    /// Open manual span uid → the flows of its children, terminated by its end.
    pending: FxHashMap<u64, Vec<u64>>,
    pending_len: usize,
    unlinked: u64,
    err: Errors,
    /// Its packet sequence.
    seq: u32,
    /// Added to every track uuid (non-zero for the nodes of a join).
    tracks: u64,
    /// Set for a node of a join.
    joined: Option<JoinedNode>,
}

impl<W: Write> Perfetto<W> {
    /// A trace written to `out` as spans open and close.
    pub fn new(out: W) -> Self {
        Self::with(out, SEQUENCE, 0, None)
    }

    /// Node `index` of a join: appended to `out` after the nodes before it (a trace is a
    /// concatenation of packets), on a packet sequence and tracks of its own.
    pub fn node(out: W, index: usize, node: JoinedNode) -> Self {
        let seq = u32::try_from(index + 1).unwrap_or(u32::MAX);
        Self::with(out, seq, u64::from(seq) << NODE_TRACKS, Some(node))
    }

    fn with(out: W, seq: u32, tracks: u64, joined: Option<JoinedNode>) -> Self {
        let pkt = TracePacket {
            trusted_packet_sequence_id: Some(seq),
            sequence_flags: Some(proto::SEQ_NEEDS_INCREMENTAL_STATE),
            track_event: Some(TrackEvent::default()),
            ..Default::default()
        };
        Perfetto {
            out,
            buf: Vec::with_capacity(CHUNK + 1024),
            pkt,
            started: false,
            threads: Vec::new(),
            named: Vec::new(),
            keys: Vec::new(),
            counters: Vec::new(),
            lanes: Vec::new(),
            lane_of: FxHashMap::default(),
            pending: FxHashMap::default(),
            pending_len: 0,
            unlinked: 0,
            err: Errors::default(),
            seq,
            tracks,
            joined,
        }
    }

    /// Re-describes threads whose names arrived after their first event, writes what is
    /// buffered and flushes. Returns how many parent links got no flow (more than
    /// [`MAX_PENDING_FLOWS`] waited at once).
    pub fn finish(mut self, meta: &Meta) -> io::Result<u64> {
        // Even an empty trace has its process.
        self.start(meta);
        for ctx in 0..self.threads.len() as u32 {
            if self.threads[ctx as usize].as_ref().is_some_and(|n| *n != meta.ctx_name(ctx)) {
                self.threads[ctx as usize] = None;
                self.thread(meta, ctx);
            }
        }
        let r = self.out.write_all(&self.buf);
        self.err.keep(r);
        if let Some(e) = self.err.0.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.unlinked)
    }

    /// The interned data of the packet being built.
    fn interned(&mut self) -> &mut InternedData {
        self.pkt.interned_data.get_or_insert_with(Default::default)
    }

    /// The trace's first packet: it clears the sequence's interned state, interns the fixed
    /// categories and argument names, and describes the process (thread tracks refer to it).
    fn start(&mut self, meta: &Meta) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let intern = |names: &[&str]| {
            names.iter().zip(1..).map(|(n, iid)| Interned { iid: Some(iid), name: Some(n.to_string()) }).collect()
        };
        let ticks = if meta.clock.is_real() { "" } else { " (times in ticks)" };
        let target = if meta.target.is_empty() { String::new() } else { format!(" {}", meta.target) };
        let name = match &self.joined {
            Some(n) => format!("{}{ticks}", n.place.name),
            None => format!("tickspan{target}{ticks}"),
        };
        let process = proto::ProcessDescriptor { pid: Some(self.pid(meta)), process_name: Some(name) };
        let p = TracePacket {
            trusted_packet_sequence_id: Some(self.seq),
            sequence_flags: Some(proto::SEQ_INCREMENTAL_STATE_CLEARED),
            interned_data: Some(InternedData {
                event_categories: intern(&CATEGORIES),
                debug_annotation_names: intern(&ARGS),
                ..Default::default()
            }),
            track_descriptor: Some(TrackDescriptor {
                uuid: Some(self.tracks + PROCESS_TRACK),
                process: Some(process),
                ..Default::default()
            }),
            ..Default::default()
        };
        put(&mut self.buf, &p);
    }

    /// Writes the buffer out once it holds a chunk.
    fn spill(&mut self) {
        if self.buf.len() >= CHUNK {
            if self.err.0.is_none() {
                let r = self.out.write_all(&self.buf);
                self.err.keep(r);
            }
            self.buf.clear();
        }
    }

    /// Writes a track's descriptor in a packet of its own.
    fn describe(&mut self, meta: &Meta, d: TrackDescriptor) {
        self.start(meta);
        let p =
            TracePacket { trusted_packet_sequence_id: Some(self.seq), track_descriptor: Some(d), ..Default::default() };
        put(&mut self.buf, &p);
        self.spill();
    }

    /// The process id: the stream's node + 1, or the join's.
    fn pid(&self, meta: &Meta) -> i32 {
        let pid = self.joined.as_ref().map_or(meta.node.saturating_add(1), |n| n.place.pid);
        pid.min(i32::MAX as u64) as i32
    }

    /// The trace time of tick `ts`: the stream's ns, or their place on a join's time line.
    fn time(&self, meta: &Meta, ts: u64) -> u64 {
        let ns = meta.clock.to_ns(ts);
        self.joined.as_ref().map_or(ns, |n| n.place.at(ns as i128).clamp(0, u64::MAX as i128) as u64)
    }

    /// Writes the track event being built, at tick `ts`, and clears it for the next.
    fn emit(&mut self, meta: &Meta, ts: u64) {
        self.start(meta);
        self.pkt.timestamp = Some(self.time(meta, ts));
        put(&mut self.buf, &self.pkt);
        self.pkt.interned_data = None;
        if let Some(e) = &mut self.pkt.track_event {
            let TrackEvent {
                category_iids,
                debug_annotations,
                r#type,
                name_iid,
                track_uuid,
                name,
                counter_value,
                double_counter_value,
                flow_ids,
                terminating_flow_ids,
            } = e;
            category_iids.clear();
            debug_annotations.clear();
            flow_ids.clear();
            terminating_flow_ids.clear();
            (*r#type, *name_iid, *track_uuid, *name) = (None, None, None, None);
            (*counter_value, *double_counter_value) = (None, None);
        }
        self.spill();
    }

    /// The thread track of `ctx`, described on first use.
    fn thread(&mut self, meta: &Meta, ctx: u32) -> u64 {
        let i = ctx as usize;
        if self.threads.len() <= i {
            self.threads.resize(i + 1, None);
        }
        if self.threads[i].is_none() {
            let name = meta.ctx_name(ctx);
            self.threads[i] = Some(name.clone());
            let thread = proto::ThreadDescriptor {
                pid: Some(self.pid(meta)),
                tid: Some(i64::from(ctx) + 1),
                thread_name: Some(name),
            };
            let uuid = Some(self.tracks + thread_track(ctx));
            self.describe(meta, TrackDescriptor { uuid, thread: Some(thread), ..Default::default() });
        }
        self.tracks + thread_track(ctx)
    }

    /// The iid of a name, interned in the packet being built on first use.
    fn name(&mut self, meta: &Meta, name: NameId) -> u64 {
        let i = name as usize;
        if self.named.len() <= i {
            self.named.resize(i + 1, false);
        }
        let iid = u64::from(name) + 1;
        if !std::mem::replace(&mut self.named[i], true) {
            let name = Some(meta.names.name(name).to_string());
            self.interned().event_names.push(Interned { iid: Some(iid), name });
        }
        iid
    }

    /// The argument-name iid of a field's key, interned in the packet being built on first use.
    fn key(&mut self, meta: &Meta, key: NameId) -> u64 {
        let i = key as usize;
        if self.keys.len() <= i {
            self.keys.resize(i + 1, false);
        }
        let iid = ARGS.len() as u64 + 1 + u64::from(key);
        if !std::mem::replace(&mut self.keys[i], true) {
            let name = Some(meta.names.name(key).to_string());
            self.interned().debug_annotation_names.push(Interned { iid: Some(iid), name });
        }
        iid
    }

    /// Adds fields and a status to the track event being built, as typed arguments (`status`
    /// "error" or "ok", `status_message`): Perfetto shows them in the slice's or instant's args.
    /// A formatted span or event (`name`) gets its rendered `message`; its arguments are in it.
    fn annotate(&mut self, meta: &Meta, name: NameId, fields: &[Field], status: Option<Status>) {
        if let Some(m) = crate::model::format::message(&meta.names, name, fields) {
            self.ev().debug_annotations.push(ann_s(ARG_MESSAGE, &m.text));
        }
        for f in fields.iter().filter(|f| !crate::model::format::is_format(&meta.names, f.key)) {
            let a = ann(self.key(meta, f.key));
            let a = match f.value {
                FieldValue::Num(Value::U(u)) => DebugAnnotation { uint_value: Some(u), ..a },
                FieldValue::Num(Value::I(i)) => DebugAnnotation { int_value: Some(i), ..a },
                FieldValue::Num(Value::F(x)) => DebugAnnotation { double_value: Some(x), ..a },
                FieldValue::Bool(b) => DebugAnnotation { bool_value: Some(b), ..a },
                FieldValue::Str(id) => DebugAnnotation { string_value: Some(meta.names.name(id).to_string()), ..a },
            };
            self.ev().debug_annotations.push(a);
        }
        if let Some(st) = status {
            let e = self.ev();
            e.debug_annotations.push(ann_s(ARG_STATUS, if st.error { "error" } else { "ok" }));
            let message = meta.names.name(st.message);
            if !message.is_empty() {
                e.debug_annotations.push(ann_s(ARG_STATUS_MESSAGE, message));
            }
        }
    }

    /// The track event of the packet being built.
    fn ev(&mut self) -> &mut TrackEvent {
        self.pkt.track_event.get_or_insert_with(Default::default)
    }

    /// Starts a track event: its type, track, category and name.
    fn event(&mut self, meta: &Meta, ty: i32, track: u64, cat: Option<u64>, name: Option<NameId>) -> &mut TrackEvent {
        let iid = name.map(|n| self.name(meta, n));
        let e = self.ev();
        (e.r#type, e.track_uuid, e.name_iid) = (Some(ty), Some(track), iid);
        e.category_iids.extend(cat);
        e
    }

    /// A free manual-span lane (described on first use), now taken.
    fn take_lane(&mut self, meta: &Meta) -> u32 {
        if let Some(l) = self.lanes.iter().position(|busy| !busy) {
            self.lanes[l] = true;
            return l as u32;
        }
        let lane = self.lanes.len() as u32;
        self.lanes.push(true);
        let d = TrackDescriptor {
            uuid: Some(self.tracks + lane_track(lane)),
            name: Some("manual spans".into()),
            parent_uuid: Some(self.tracks + PROCESS_TRACK),
            ..Default::default()
        };
        self.describe(meta, d);
        lane
    }
}

/// Appends one `Trace.packet` field (1, length-delimited) to `buf`.
fn put(buf: &mut Vec<u8>, p: &TracePacket) {
    buf.push(0x0a);
    p.encode_length_delimited(buf).expect("a Vec grows");
}

impl<W: Write> Visitor for Perfetto<W> {
    fn open(&mut self, meta: &Meta, s: &Span) {
        let track = match s.kind {
            SpanKind::Manual => {
                let lane = self.take_lane(meta);
                self.lane_of.insert(s.uid, lane);
                self.tracks + lane_track(lane)
            }
            _ => self.thread(meta, s.ctx),
        };
        let (cat, arg) = match s.kind {
            SpanKind::Scoped => (CAT_SPAN, None),
            SpanKind::Isr => (CAT_ISR, Some(ann_u(ARG_IRQ, s.id.into()))),
            SpanKind::Manual => (CAT_MANUAL, Some(ann_u(ARG_SPAN_ID, s.id.into()))),
        };
        // A child of a manual span starts the flow its parent's end terminates.
        let flow = (s.kind == SpanKind::Manual && s.parent != 0).then(|| {
            if self.pending_len >= MAX_PENDING_FLOWS {
                self.unlinked += 1;
                return None;
            }
            let f = flow_id(FLOW_CHILD, meta.node, s.uid);
            self.pending.entry(s.parent).or_default().push(f);
            self.pending_len += 1;
            Some(f)
        });
        // Links of a join: flows to children elsewhere start here, one from a parent elsewhere ends.
        let (out, into) = match &mut self.joined {
            Some(n) => (n.flows_out.remove(&s.uid).unwrap_or_default(), n.flows_in.remove(&s.uid)),
            None => (Vec::new(), None),
        };
        let e = self.event(meta, proto::TYPE_SLICE_BEGIN, track, Some(cat), Some(s.name));
        e.debug_annotations.extend(arg);
        e.flow_ids.extend(flow.flatten());
        e.flow_ids.extend(out);
        e.terminating_flow_ids.extend(into);
        self.emit(meta, s.start);
    }

    fn close(&mut self, meta: &Meta, s: &Span, _path: &[NameId]) {
        let track = match s.kind {
            SpanKind::Manual => {
                let Some(lane) = self.lane_of.remove(&s.uid) else {
                    return;
                };
                self.lanes[lane as usize] = false;
                self.tracks + lane_track(lane)
            }
            _ => self.tracks + thread_track(s.ctx),
        };
        let children = self.pending.remove(&s.uid).unwrap_or_default();
        self.pending_len -= children.len();
        // A poll of a task (a scoped span with its id) continues the task's flow.
        let task = (s.kind == SpanKind::Scoped && s.id != 0).then_some(s.id);
        let task_name = task.and_then(|t| meta.task_name(t));
        let e = self.event(meta, proto::TYPE_SLICE_END, track, None, None);
        e.debug_annotations.push(ann_u(ARG_SELF, meta.clock.to_ns(s.self_ticks)));
        if s.isr_ticks != 0 {
            e.debug_annotations.push(ann_u(ARG_ISR, meta.clock.to_ns(s.isr_ticks)));
        }
        if s.unfinished {
            e.debug_annotations.push(DebugAnnotation { bool_value: Some(true), ..ann(ARG_UNFINISHED) });
        }
        if let Some(t) = task {
            e.debug_annotations.push(ann_u(ARG_TASK, t.into()));
            e.flow_ids.push(flow_id(FLOW_TASK, meta.node, t.into()));
        }
        if let Some(n) = task_name {
            e.debug_annotations.push(ann_s(ARG_TASK_NAME, n));
        }
        e.terminating_flow_ids = children;
        // Fields follow the span's begin and its status comes last: both go on its end, whose
        // arguments Perfetto adds to the slice.
        let f = meta.fields.get(s.uid);
        self.annotate(meta, s.name, f.map_or(&[], |f| &f.fields), f.and_then(|f| f.status));
        self.emit(meta, s.end);
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        let track = self.thread(meta, m.ctx);
        let counter = matches!(
            meta.names.info(m.name).kind,
            Some(CallsiteKind::ValueU64 | CallsiteKind::ValueI64 | CallsiteKind::ValueF64)
        );
        match m.kind {
            // Values of a value callsite are samples on its counter track; a value the track
            // cannot hold (not finite) stays an instant, below.
            MarkKind::Value(v) if counter && !matches!(v, Value::F(f) if !f.is_finite()) => {
                let i = m.name as usize;
                if self.counters.len() <= i {
                    self.counters.resize(i + 1, false);
                }
                if !std::mem::replace(&mut self.counters[i], true) {
                    let d = TrackDescriptor {
                        uuid: Some(self.tracks + counter_track(m.name)),
                        name: Some(meta.names.name(m.name).to_string()),
                        parent_uuid: Some(self.tracks + PROCESS_TRACK),
                        counter: Some(proto::CounterDescriptor {}),
                        ..Default::default()
                    };
                    self.describe(meta, d);
                }
                let track = self.tracks + counter_track(m.name);
                let e = self.ev();
                (e.r#type, e.track_uuid) = (Some(proto::TYPE_COUNTER), Some(track));
                match v {
                    Value::U(u) if u <= i64::MAX as u64 => e.counter_value = Some(u as i64),
                    Value::U(u) => e.double_counter_value = Some(u as f64),
                    Value::I(i) => e.counter_value = Some(i),
                    Value::F(f) => e.double_counter_value = Some(f),
                }
            }
            MarkKind::Value(v) => {
                let e = self.event(meta, proto::TYPE_INSTANT, track, Some(CAT_EVENT), Some(m.name));
                let a = ann(ARG_VALUE);
                e.debug_annotations.push(match v {
                    Value::U(u) => DebugAnnotation { uint_value: Some(u), ..a },
                    Value::I(i) => DebugAnnotation { int_value: Some(i), ..a },
                    Value::F(f) => DebugAnnotation { double_value: Some(f), ..a },
                });
            }
            MarkKind::Event => {
                self.event(meta, proto::TYPE_INSTANT, track, Some(CAT_EVENT), Some(m.name));
                self.annotate(meta, m.name, &meta.fields.mark, None);
            }
            MarkKind::Task(t) => {
                let name = meta.task_name(t);
                let e = self.event(meta, proto::TYPE_INSTANT, track, Some(CAT_TASK), Some(m.name));
                e.debug_annotations.push(ann_u(ARG_TASK, t.into()));
                e.debug_annotations.extend(name.map(|n| ann_s(ARG_TASK_NAME, n)));
                e.flow_ids.push(flow_id(FLOW_TASK, meta.node, t.into()));
            }
            MarkKind::Loss(n) => {
                let e = self.event(meta, proto::TYPE_INSTANT, track, Some(CAT_LOSS), None);
                e.name = Some(format!("{} lost", crate::units::count(n.into(), "record")));
                e.debug_annotations.push(ann_u(ARG_LOST, n.into()));
            }
        }
        self.emit(meta, m.ts);
    }
}

#[cfg(test)]
mod tests {
    use super::proto::*;
    use super::*;
    use crate::export::tests::sample;
    use crate::item::{Item, Kind::*};
    use crate::model::tests::rec;
    use crate::model::Timeline;

    fn export(items: &[Item<'static>]) -> Trace {
        let mut t = Timeline::new(4);
        let mut doc = Vec::new();
        let mut p = Perfetto::new(&mut doc);
        for &i in items {
            t.push(i, &mut p);
        }
        t.finish(&mut p);
        assert_eq!(p.finish(&t.meta).unwrap(), 0);
        Trace::decode(&doc[..]).expect("a Trace")
    }

    /// The track events with their packet's time and the names interned so far.
    fn events(trace: &Trace) -> Vec<(u64, TrackEvent, String)> {
        let mut names = FxHashMap::default();
        let mut out = Vec::new();
        for p in &trace.packet {
            for n in p.interned_data.iter().flat_map(|d| &d.event_names) {
                assert!(names.insert(n.iid.unwrap(), n.name.clone().unwrap()).is_none(), "interned twice: {n:?}");
            }
            if let Some(e) = &p.track_event {
                assert_eq!(p.sequence_flags, Some(SEQ_NEEDS_INCREMENTAL_STATE));
                let name = e.name_iid.map_or_else(|| e.name.clone().unwrap_or_default(), |i| names[&i].clone());
                out.push((p.timestamp.unwrap(), e.clone(), name));
            }
        }
        out
    }

    #[test]
    fn writes_slices_instants_counters_and_flows() {
        let trace = export(&sample());
        let first = &trace.packet[0];
        assert_eq!(first.sequence_flags, Some(SEQ_INCREMENTAL_STATE_CLEARED));
        let process = first.track_descriptor.as_ref().unwrap().process.as_ref().unwrap();
        assert_eq!((process.pid, process.process_name.as_deref()), (Some(8), Some("tickspan test")));
        let thread = trace.packet.iter().find_map(|p| p.track_descriptor.as_ref()?.thread.clone()).unwrap();
        assert_eq!((thread.tid, thread.thread_name.as_deref()), (Some(1), Some("main")));

        let ev = events(&trace);
        let find = |ty: i32, name: &'static str| ev.iter().filter(move |(_, e, n)| e.r#type == Some(ty) && n == name);
        // 1 MHz: a tick is 1 µs.
        let (ts, begin, _) = find(TYPE_SLICE_BEGIN, "in\"ner").next().unwrap();
        assert_eq!(
            (*ts, begin.track_uuid, &begin.category_iids[..]),
            (1_010_000, Some(thread_track(0)), &[CAT_SPAN][..])
        );
        let ends: Vec<_> = ev.iter().filter(|(_, e, _)| e.r#type == Some(TYPE_SLICE_END)).collect();
        assert_eq!(ends.len(), 6);
        assert_eq!(ends[0].0, 1_020_000);
        assert_eq!(ends[1].1.debug_annotations[0], ann_u(ARG_SELF, 90_000)); // outer: 100 µs less inner.

        let counter: Vec<_> = ev.iter().filter(|(_, e, _)| e.r#type == Some(TYPE_COUNTER)).collect();
        assert_eq!(counter.len(), 1);
        assert_eq!((counter[0].1.counter_value, counter[0].1.track_uuid), (Some(3), Some(counter_track(3))));
        let loss = find(TYPE_INSTANT, "4 records lost").next().unwrap();
        assert_eq!(loss.1.debug_annotations, [ann_u(ARG_LOST, 4)]);

        // io, a child of req, starts a flow that req's end terminates.
        let io = find(TYPE_SLICE_BEGIN, "io").next().unwrap();
        let req = find(TYPE_SLICE_BEGIN, "req").next().unwrap();
        assert_ne!(io.1.track_uuid, req.1.track_uuid, "both open at once: two lanes");
        assert!(io.1.track_uuid.unwrap() >= lane_track(0));
        let req_end = ev.iter().find(|(ts, e, _)| *ts == 1_200_000 && e.r#type == Some(TYPE_SLICE_END)).unwrap();
        assert_eq!((io.1.flow_ids.len(), &req_end.1.terminating_flow_ids), (1, &io.1.flow_ids));
        // Both polls of task 9 (on two contexts) carry its flow on their ends.
        let polls: Vec<_> = ends.iter().filter(|(_, e, _)| !e.flow_ids.is_empty()).collect();
        assert_eq!(polls.len(), 2);
        assert_eq!(polls[0].1.flow_ids, polls[1].1.flow_ids);
        assert_ne!(polls[0].1.track_uuid, polls[1].1.track_uuid);
        assert_eq!(polls[0].1.debug_annotations[1], ann_u(ARG_TASK, 9));
    }

    #[test]
    fn formatted_records_carry_their_message_and_not_their_arguments() {
        use crate::item::CallsiteKind;
        use crate::model::tests::{def, header};
        let trace = export(&[
            header(1_000_000),
            def(0x10, "handle {:#x}", CallsiteKind::Format),
            def(0x20, "retry {} of {}", CallsiteKind::Format),
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            rec(0, 100, ValueU, 0x10, 255, 0),
            rec(0, 110, Event, 0x20, 0, 0),
            rec(0, 110, ValueU, 0x20, 3, 0),
            rec(0, 111, ValueU, 0x20, 5, 0),
            rec(0, 130, SpanExit, 0x10, 0, 0),
        ]);
        let ev = events(&trace);
        let retry = ev.iter().find(|(_, e, n)| e.r#type == Some(TYPE_INSTANT) && n == "retry {} of {}").unwrap();
        assert_eq!(retry.1.debug_annotations, [ann_s(ARG_MESSAGE, "retry 3 of 5")]);
        let end = ev.iter().find(|(_, e, _)| e.r#type == Some(TYPE_SLICE_END)).unwrap();
        assert!(end.1.debug_annotations.contains(&ann_s(ARG_MESSAGE, "handle 0xff")), "{:?}", end.1);
        assert_eq!(end.1.debug_annotations.iter().filter(|a| a.name_iid > Some(ARGS.len() as u64)).count(), 0);
    }

    #[test]
    fn without_a_clock_times_are_ticks_and_say_so() {
        let trace = export(&[rec(0, 5, SpanEnter, 0x10, 0, 0), rec(0, 7, SpanExit, 0x10, 0, 0)]);
        let process = trace.packet[0].track_descriptor.as_ref().unwrap().process.clone().unwrap();
        assert_eq!(process.process_name.as_deref(), Some("tickspan (times in ticks)"));
        let ts: Vec<u64> = events(&trace).iter().map(|e| e.0).collect();
        assert_eq!(ts, [5, 7]);
    }

    #[test]
    fn late_context_names_are_described_again() {
        let mut t = Timeline::new(4);
        let mut doc = Vec::new();
        let mut p = Perfetto::new(&mut doc);
        t.push(rec(2, 5, Event, 0x10, 0, 0), &mut p);
        t.flush(&mut p);
        t.push(Item::Context { ctx: 2, name: "isr" }, &mut p);
        t.finish(&mut p);
        p.finish(&t.meta).unwrap();
        let trace = Trace::decode(&doc[..]).unwrap();
        let names: Vec<_> = trace
            .packet
            .iter()
            .filter_map(|p| p.track_descriptor.as_ref()?.thread.as_ref()?.thread_name.clone())
            .collect();
        assert_eq!(names, ["ctx 2", "isr"]);
    }

    #[test]
    fn parent_links_beyond_the_limit_are_counted() {
        let mut items = vec![rec(0, 1, SpanStart, 0x10, 1, 0)];
        let n = MAX_PENDING_FLOWS as u32 + 3;
        // Children that end before their parent still wait for its end.
        for i in 0..n {
            let ts = 2 + 2 * u64::from(i);
            items.extend([rec(0, ts, SpanStart, 0x20, 2, 1), rec(0, ts + 1, SpanEnd, 0x20, 2, 0)]);
        }
        let mut t = Timeline::new(1 << 20);
        let mut p = Perfetto::new(io::sink());
        for i in items {
            t.push(i, &mut p);
        }
        t.finish(&mut p);
        assert_eq!(p.finish(&t.meta).unwrap(), 3);
    }
}
