// Times how long Perfetto's trace processor takes to load each trace given (parse and
// end-of-file, in one engine per file): the figures docs/benchmarks.md gives for
// `export -f perfetto` against `-f chrome`.
//
// Usage: node tp_load_time.mjs TRACE_PROCESSOR_DIR TRACE...
// Prints per file: bytes, load time (wall and CPU: the engine runs on this process's thread,
// so CPU time is the steadier figure on a shared machine), slices Perfetto made of it.

import { readFileSync, statSync } from "node:fs";
import { load, rows, startEngine } from "./tp_engine.mjs";

const [dir, ...files] = process.argv.slice(2);
for (const file of files) {
  const engine = await startEngine(dir);
  const bytes = readFileSync(file);
  const problems = [];
  const [t0, c0] = [process.hrtime.bigint(), process.cpuUsage()];
  const ok = await load(engine, bytes, problems);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const n = ok ? (await rows(engine, "select count(*) as n from slice"))[0].n : 0;
  console.log(`${file}\t${statSync(file).size} bytes\t${secs.toFixed(2)} s\t${cpu.toFixed(2)} s CPU\t${n} slices${ok ? "" : "\t" + problems}`);
  engine.close();
}
