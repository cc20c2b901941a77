// Loads a `tickspan export -f chrome` document into Perfetto's trace processor and checks what
// Perfetto's own JSON importer made of it.
//
// Usage: node check_chrome.mjs TRACE_PROCESSOR_DIR EXPORT.json [--dump OUT.json] [NAME=COUNT ...]
//
// TRACE_PROCESSOR_DIR holds Perfetto's trace processor built to WebAssembly (tp_engine.mjs).
//
// Checks: Perfetto accepts the document and its importer logged no error or data-loss stat;
// each X event became one slice on its thread's track with the same name, ts and dur (±1 ns)
// and the export's depth, each instant a 0-length slice there, each b/e pair a slice on an
// async track, and no slice came from anything else; every slice is named, ended, at the depth
// of its parent chain and within its parent; counter events became counter samples of the same
// value; the threads and processes named by metadata events exist; if given, the number of
// slices of each name. Prints one line of totals and exits 0, or prints the problems and
// exits 1. --dump writes what the document became (tp_engine.mjs dumpTrace).

import { readFileSync, writeFileSync } from "node:fs";
import { allSlices, countProblems, dumpTrace, takeOption, importerProblems, load, rows, sliceProblems, startEngine } from "./tp_engine.mjs";

async function main(argv) {
  const dumpTo = takeOption(argv, "--dump");
  if (argv.length < 2) {
    console.error("usage: node check_chrome.mjs TRACE_PROCESSOR_DIR EXPORT.json [--dump OUT.json] [NAME=COUNT ...]");
    return 2;
  }
  const [dir, file, ...expectArgs] = argv;
  const bytes = readFileSync(file);
  const engine = await startEngine(dir);
  const problems = [];
  try {
    if (!(await load(engine, bytes, problems))) {
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
    const known = new Set(["X", "i", "I", "b", "e", "C", "M", "s", "f"]);
    for (const e of events.filter((e) => !known.has(e.ph))) problems.push(`event '${e.name}': phase ${e.ph} unchecked`);

    await importerProblems(engine, problems);
    const slices = await allSlices(engine);
    sliceProblems(slices, problems);

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
    // Flow events (a join's parent → child links): each s/f pair became one flow between the
    // slice around the s event and the slice the f event binds to.
    const flowRows = await rows(
      engine,
      `select so.name as out_name, si.name as in_name from flow f
       join slice so on f.slice_out = so.id join slice si on f.slice_in = si.id`,
    );
    const nflows = events.filter((e) => e.ph === "f").length;
    if (flowRows.length !== nflows) problems.push(`${nflows} flows in the document, ${flowRows.length} in Perfetto`);
    const flowNames = flowRows.map((f) => `${f.out_name}→${f.in_name}`).sort();
    countProblems(slices, expectArgs, problems);
    const maxDepth = Math.max(0, ...slices.map((s) => s.depth));
    if (problems.length) {
      console.error(problems.join("\n"));
      return 1;
    }
    if (dumpTo) writeFileSync(dumpTo, JSON.stringify(await dumpTrace(engine, slices)));
    const nthreads = new Set(slices.filter((s) => s.tid !== null).map((s) => s.tid)).size;
    console.log(
      `Perfetto ${engine.version} ok: ${slices.length} slices (${pairs} async) on ${nthreads} threads, ` +
        `depth ≤ ${maxDepth}, ${samples.length} counter values, ${flowRows.length} flows` +
        (flowNames.length ? ` (${flowNames.join(", ")})` : ""),
    );
    return 0;
  } finally {
    engine.close();
    if (problems.length && engine.stderr.length) console.error(engine.stderr.slice(-20).join("\n"));
  }
}

process.exitCode = await main(process.argv.slice(2));
