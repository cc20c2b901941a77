// Loads a `tickspan export -f perfetto` trace into Perfetto's trace processor and checks what
// Perfetto's own protobuf importer made of it.
//
// Usage: node check_perfetto.mjs TRACE_PROCESSOR_DIR TRACE.pftrace [--dump OUT.json] [--args OUT.json] [NAME=COUNT ...]
//
// TRACE_PROCESSOR_DIR holds Perfetto's trace processor built to WebAssembly (tp_engine.mjs).
//
// Checks: Perfetto accepts the trace and its importer logged no error or data-loss stat; every
// slice is named, ended, at the depth of its parent chain and within its parent; every slice is
// on a named thread's track or on a "manual spans" lane of a process; every flow links two
// slices, the earlier one first; if given, the number of slices of each name. Prints one line
// of totals (with each flow as `from→to` and the named processes) and exits 0, or prints the
// problems and exits 1.
//
// With --dump, also writes what the trace became, for comparison with another export of the
// same recording (check_chrome.mjs --dump): {slices: [{name, category, ts, dur, depth, thread}],
// counters: [{ts, value}]}, slices off thread tracks with depth and thread null.
//
// With --args, also writes the arguments Perfetto gave each slice and instant, in time order:
// [{name, ts, args: {key: value}}], keys as Perfetto names them ("debug.id"), values typed
// by Perfetto's value_type (int and uint as numbers, bool as a bool, real, string).

import { readFileSync, writeFileSync } from "node:fs";
import { allSlices, countProblems, dumpTrace, takeOption, importerProblems, load, rows, sliceProblems, startEngine } from "./tp_engine.mjs";

async function main(argv) {
  const dumpTo = takeOption(argv, "--dump");
  const argsTo = takeOption(argv, "--args");
  if (argv.length < 2) {
    console.error("usage: node check_perfetto.mjs TRACE_PROCESSOR_DIR TRACE.pftrace [--dump OUT.json] [NAME=COUNT ...]");
    return 2;
  }
  const [dir, file, ...expectArgs] = argv;
  const engine = await startEngine(dir);
  const problems = [];
  try {
    if (!(await load(engine, readFileSync(file), problems))) {
      console.error(problems.join("\n"));
      return 1;
    }
    await importerProblems(engine, problems);
    const slices = await allSlices(engine);
    sliceProblems(slices, problems);
    for (const s of slices) {
      const tag = `slice '${s.name}' at ${s.ts} ns`;
      if (s.tid === null && s.track !== "manual spans") problems.push(`${tag}: on track '${s.track}', not a thread's`);
      if (s.tid !== null && !s.thread) problems.push(`${tag}: on thread ${s.tid}, which has no name`);
    }
    const flows = await rows(
      engine,
      `select f.slice_out, f.slice_in, o.ts as out_ts, i.ts as in_ts, o.name as out_name, i.name as in_name
       from flow f left join slice o on f.slice_out = o.id left join slice i on f.slice_in = i.id`,
    );
    for (const f of flows) {
      if (f.out_ts === null || f.in_ts === null) problems.push(`flow ${f.slice_out} → ${f.slice_in}: no such slice`);
      else if (f.out_ts > f.in_ts) problems.push(`flow ${f.slice_out} → ${f.slice_in}: from ${f.out_ts} ns back to ${f.in_ts} ns`);
    }
    const samples = await rows(engine, "select count(*) as n from counter");
    const processes = (await rows(engine, "select name from process where name is not null")).map((p) => p.name).sort();
    const flowNames = flows.map((f) => `${f.out_name}→${f.in_name}`).sort();
    countProblems(slices, expectArgs, problems);
    if (problems.length) {
      console.error(problems.join("\n"));
      return 1;
    }
    if (dumpTo) writeFileSync(dumpTo, JSON.stringify(await dumpTrace(engine, slices)));
    if (argsTo) writeFileSync(argsTo, JSON.stringify(await sliceArgs(engine)));
    const threads = new Set(slices.filter((s) => s.tid !== null).map((s) => s.tid)).size;
    const manual = slices.filter((s) => s.tid === null).length;
    const maxDepth = Math.max(0, ...slices.filter((s) => s.tid !== null).map((s) => s.depth));
    console.log(
      `Perfetto ${engine.version} ok: ${slices.length} slices (${manual} manual) on ${threads} threads, ` +
        `depth ≤ ${maxDepth}, ${samples[0].n} counter values, ${flows.length} flows` +
        (flowNames.length ? ` (${flowNames.join(", ")})` : "") +
        `; processes: ${processes.join(", ")}`,
    );
    return 0;
  } finally {
    engine.close();
    if (problems.length && engine.stderr.length) console.error(engine.stderr.slice(-20).join("\n"));
  }
}

// Each slice's arguments as Perfetto typed them.
async function sliceArgs(engine) {
  const all = await rows(
    engine,
    `select s.id, s.name, s.ts, a.key, a.value_type, a.int_value, a.real_value, a.string_value
     from slice s left join args a using(arg_set_id) order by s.ts, s.id, a.id`,
  );
  const out = [];
  const byId = new Map();
  for (const r of all) {
    let s = byId.get(r.id);
    if (!s) {
      s = { name: r.name, ts: r.ts, args: {} };
      byId.set(r.id, s);
      out.push(s);
    }
    if (r.key === null) continue;
    s.args[r.key] =
      r.value_type === "bool" ? r.int_value !== 0
      : r.value_type === "real" ? r.real_value
      : r.value_type === "string" ? r.string_value
      : r.int_value;
  }
  return out;
}

process.exitCode = await main(process.argv.slice(2));
