// tickspan serve: renders /api/requests (or /api/events on the Events page) every second. Every text reaches the page through
// textContent (never parsed as HTML), so names from the trace cannot inject markup or script.
"use strict";

let unit = "ns";
let selected = null; // {family, bucket} whose traces are listed
let histFor = null; // the family whose latency histogram is shown
let last = null;
let contexts = new Map(); // context id → the name the stream gave it
const ctxName = (id) => contexts.get(id) ?? "ctx " + id;
const page = document.body.dataset.page;
// Which source's pages these are (`tickspan serve A --also B`: ?source=1 is B).
const source = new URLSearchParams(location.search).get("source") || "0";
const withSource = (path) => path + (path.includes("?") ? "&" : "?") + "source=" + encodeURIComponent(source);

// Links to every source's page of this kind, and the page's own links kept on this source.
async function sourcesNav() {
  for (const a of document.querySelectorAll("nav a")) a.href = withSource(a.getAttribute("href"));
  const names = await (await fetch("/api/sources", { cache: "no-store" })).json();
  if (names.length < 2) return;
  const nav = document.getElementById("sources");
  nav.appendChild(el("span", "· sources: "));
  names.forEach((n, i) => {
    const a = el("a", n, String(i) === source ? "bucket sel" : "bucket");
    a.href = location.pathname + "?source=" + i;
    nav.appendChild(a);
    nav.appendChild(el("span", " "));
  });
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// A duration in the stream's unit, as the CLI prints it.
function dur(v) {
  if (unit !== "ns") return v + " ticks";
  if (v < 1e3) return v + " ns";
  if (v < 1e6) return (v / 1e3).toFixed(3) + " µs";
  if (v < 1e9) return (v / 1e6).toFixed(3) + " ms";
  return (v / 1e9).toFixed(3) + " s";
}

function renderHealth(d) {
  const h = d.health, box = document.getElementById("health");
  box.replaceChildren();
  const warn = (text) => box.appendChild(el("div", text, "warn"));
  if (h.lost > 0) {
    const by = h.lost_by_context.map(([c, n]) => c + ": " + n).join(", ");
    warn("The target lost " + h.lost + " records (rings full)" + (by ? " — " + by : ""));
  }
  if (h.damaged_regions > 0) warn("Skipped " + h.damaged_regions + " damaged regions (" + h.damaged_bytes + " bytes)");
  if (h.ambiguous > 0) {
    warn(h.ambiguous + " records may be dated whole clock periods late (the drain could not bound their age)");
    for (const w of h.clock_warnings) warn("  " + w.context + ": " + w.records + " records dated " + dur(w.first) + " to " + dur(w.last));
  }
  if (h.time_jumps > 0) warn("Time went backwards " + h.time_jumps + " times within a context (target restarted?)");
  if (h.dropped > 0) warn(h.dropped + " records dropped at limits (nesting depth, contexts, open manual spans)");
  if (h.late > 0) warn(h.late + " records arrived late; interrupt times may be approximate");
  if (h.unmatched > 0) warn(h.unmatched + " span ends without a matching start");
  if (box.childElementCount === 0) box.appendChild(el("span", "No loss, damage or clock warnings in " + h.records + " records.", "ok"));
}

function bucketLink(f, key, b) {
  const a = el("a", b.count, "bucket" + (b.count === 0 ? " zero" : ""));
  a.href = "#";
  a.dataset.family = f.name;
  a.dataset.bucket = key;
  if (selected && selected.family === f.name && selected.bucket === key) a.classList.add("sel");
  a.addEventListener("click", (ev) => {
    ev.preventDefault();
    selected = { family: f.name, bucket: key };
    render(last);
  });
  return a;
}

function renderFamilies(d) {
  const head = document.getElementById("families-head");
  head.replaceChildren();
  const labels = d.families.length ? d.families[0].buckets.map((b) => b.label) : [];
  for (const t of ["name", "active", "last min", "last hour", "all", "p50", "p90", "p99", "max", ...labels, "errors"]) {
    head.appendChild(el("th", t));
  }
  const body = document.querySelector("#families tbody");
  body.replaceChildren();
  for (const f of d.families) {
    const tr = el("tr");
    tr.dataset.family = f.name;
    const name = el("td", undefined, "name");
    const hist = el("a", f.name, "family" + (histFor === f.name ? " sel" : ""));
    hist.href = "#";
    hist.title = "latency histogram";
    hist.addEventListener("click", (ev) => {
      ev.preventDefault();
      histFor = histFor === f.name ? null : f.name;
      render(last);
    });
    name.appendChild(hist);
    tr.appendChild(name);
    const active = el("td");
    active.appendChild(bucketLink(f, "active", { count: f.active }));
    tr.appendChild(active);
    for (const v of [f.last_minute, f.last_hour, f.all]) tr.appendChild(el("td", v));
    for (const k of ["p50", "p90", "p99", "max"]) tr.appendChild(el("td", f.stats ? dur(f.stats[k]) : "–", "q-" + k));
    f.buckets.forEach((b, i) => {
      const td = el("td");
      td.appendChild(bucketLink(f, String(i), b));
      tr.appendChild(td);
    });
    const err = el("td", undefined, "err");
    err.appendChild(bucketLink(f, "errors", f.errors));
    tr.appendChild(err);
    body.appendChild(tr);
  }
}

// A family's latency histogram: one column per log-scale bin (four per power of two), bar
// heights linear in the count, each of p50/p90/p99 marked on the bin its rank falls in (the bin
// `stats` took it from: the histogram is the one its percentiles come from).
function renderHistogram(d) {
  const box = document.getElementById("hist");
  const f = histFor !== null && d.families.find((x) => x.name === histFor);
  const bins = (f && f.histogram) || [];
  if (!bins.length) { box.hidden = true; return; }
  box.hidden = false;
  const s = f.stats;
  document.getElementById("hist-title").textContent = f.name + ": latency histogram of " + s.count + " spans";
  document.getElementById("hist-legend").textContent =
    ["p50", "p90", "p99"].map((q) => q + " " + dur(s[q])).join(" · ") + " · bins " + dur(bins[0].lo) + " to " +
    dur(bins[bins.length - 1].hi) + ", four per doubling (log scale)";
  const total = bins.reduce((n, b) => n + b.count, 0);
  const marks = { p50: 0.5, p90: 0.9, p99: 0.99 };
  const at = {};
  let seen = 0;
  bins.forEach((b, i) => {
    const before = seen;
    seen += b.count;
    for (const [q, p] of Object.entries(marks)) {
      const rank = Math.max(1, Math.ceil(p * total));
      if (before < rank && seen >= rank) (at[i] = at[i] || []).push(q);
    }
  });
  const top = Math.max(...bins.map((b) => b.count), 1);
  const chart = document.getElementById("hist-chart");
  chart.replaceChildren();
  bins.forEach((b, i) => {
    const col = el("div", undefined, "hcol");
    col.title = dur(b.lo) + " to " + dur(b.hi) + ": " + b.count;
    col.dataset.count = b.count;
    col.dataset.lo = b.lo;
    col.dataset.hi = b.hi;
    for (const q of at[i] || []) {
      const m = el("div", q, "pmark q-" + q);
      m.dataset.q = q;
      col.appendChild(m);
    }
    const bar = el("div", undefined, "hbar" + (at[i] ? " marked" : ""));
    bar.style.height = (b.count ? Math.max(2, Math.round((160 * b.count) / top)) : 0) + "px";
    col.appendChild(bar);
    col.appendChild(el("div", i % 4 === 0 ? dur(b.lo) : "", "hlabel"));
    chart.appendChild(col);
  });
}

function renderDetail(d) {
  const box = document.getElementById("detail");
  const f = selected && d.families.find((x) => x.name === selected.family);
  if (!f) { box.hidden = true; return; }
  box.hidden = false;
  let traces, what;
  if (selected.bucket === "active") { traces = f.oldest_active; what = "oldest open spans"; }
  else if (selected.bucket === "errors") { traces = f.errors.recent; what = "latest spans cut short (lost records, end of trace)"; }
  else { const b = f.buckets[Number(selected.bucket)]; traces = b.recent; what = "latest spans " + b.label; }
  document.getElementById("detail-title").textContent = f.name + ": " + what;
  const s = f.stats;
  document.getElementById("detail-stats").textContent = s
    ? "count " + s.count + ", total " + dur(s.total) + ", min " + dur(s.min) + ", mean " + dur(s.mean) + ", p50 " + dur(s.p50) +
      ", p90 " + dur(s.p90) + ", p99 " + dur(s.p99) + ", max " + dur(s.max)
    : "";
  const body = document.querySelector("#traces tbody");
  body.replaceChildren();
  for (const t of [...traces].reverse()) {
    const tr = el("tr");
    for (const v of [dur(t.start), dur(t.duration), dur(t.self_time), ctxName(t.ctx)]) tr.appendChild(el("td", v));
    const link = el("td");
    const a = el("a", t.uid, "tree-link");
    a.href = withSource("/trace?uid=" + encodeURIComponent(t.uid));
    link.appendChild(a);
    tr.appendChild(link);
    for (const v of [t.root, t.unfinished ? "cut short" : ""]) tr.appendChild(el("td", v));
    body.appendChild(tr);
  }
}

// Events page: one row per event name; warn/error logs are marked, their counts are errors.
function renderEvents(d) {
  const body = document.querySelector("#events tbody");
  body.replaceChildren();
  for (const l of d.events) {
    const tr = el("tr", undefined, l.error ? "error" : "");
    tr.dataset.event = l.name;
    tr.appendChild(el("td", l.name, "name"));
    tr.appendChild(el("td", l.level || "?"));
    for (const v of [l.last_minute, l.last_hour, l.all]) tr.appendChild(el("td", v));
    const latest = [...l.recent].reverse().map((e) => dur(e.at) + (e.value !== null ? " = " + e.value : ""));
    tr.appendChild(el("td", latest.join(", "), "latest"));
    body.appendChild(tr);
  }
}

function render(d) {
  if (!d) return;
  unit = d.unit || "ns";
  contexts = new Map(d.contexts || []);
  document.getElementById("source").textContent = (d.source || "") + (d.target ? " · " + d.target : "");
  document.getElementById("status").textContent =
    (d.done ? "input ended: final numbers" : "live") + " · stream time " + dur(d.now || 0) + " · times in " + unit;
  renderHealth(d);
  if (page === "events") {
    renderEvents(d);
    return;
  }
  renderFamilies(d);
  renderHistogram(d);
  renderDetail(d);
}

// Trace page: the call tree of one span, as a table and a flame chart per context. Only the
// spans inside the visible window are drawn, so zooming into a large tree stays cheap.
let view = null; // {t0, t1} shown
// A span's lane: its context, and its node when the tree spans several sources.
const nodeName = (d, s) => (d.nodes.find((n) => n.source === s.node) || { name: "source " + s.node }).name;
const laneOf = (d, s) => (d.nodes.length > 1 ? nodeName(d, s) + " · " : "") + s.context;
function drawFlame(d) {
  const box = document.getElementById("flame");
  box.replaceChildren();
  const ctxs = [...new Set(d.spans.map((s) => laneOf(d, s)))];
  const width = box.clientWidth || 1000;
  const span = Math.max(view.t1 - view.t0, 1);
  for (const c of ctxs) {
    box.appendChild(el("div", c, "lane-label"));
    const lane = el("div", undefined, "lane");
    const mine = d.spans.filter((s) => laneOf(d, s) === c);
    const base = Math.min(...mine.map((s) => s.depth)); // a callee node's lane starts at its root
    lane.style.height = 18 * (1 + Math.max(...mine.map((s) => s.depth)) - base) + "px";
    for (const s of mine) {
      if (s.start + s.duration < view.t0 || s.start > view.t1) continue;
      const x0 = Math.max(0, ((s.start - view.t0) / span) * width);
      const x1 = Math.min(width, ((s.start + s.duration - view.t0) / span) * width);
      if (x1 - x0 < 0.5) continue;
      const b = el("div", x1 - x0 > 40 ? s.name : "", "bar" + (s.unfinished ? " cut" : ""));
      b.title = s.name + " " + dur(s.duration);
      b.style.left = x0 + "px";
      b.style.width = Math.max(1, x1 - x0 - 1) + "px";
      b.style.top = 18 * (s.depth - base) + "px";
      lane.appendChild(b);
    }
    box.appendChild(lane);
  }
}

async function loadTrace() {
  const uid = new URLSearchParams(location.search).get("uid");
  const r = await fetch(withSource("/api/trace?uid=" + encodeURIComponent(uid || "")), { cache: "no-store" });
  if (!r.ok) {
    document.getElementById("status").textContent = "no tree: " + (await r.text());
    return;
  }
  const d = await r.json();
  unit = d.unit;
  const body = document.querySelector("#tree tbody");
  for (const s of d.spans) {
    const tr = el("tr", undefined, s.uid === d.uid && s.node === d.node ? "sel" : "");
    const name = el("td", "\u00a0".repeat(2 * s.depth) + s.name, "name");
    tr.appendChild(name);
    for (const v of [nodeName(d, s), s.context, dur(s.start), dur(s.duration), dur(s.self_time), s.unfinished ? "cut short" : ""]) {
      tr.appendChild(el("td", v));
    }
    body.appendChild(tr);
  }
  const across = d.nodes.length > 1
    ? " across " + d.nodes.length + " nodes (" + d.nodes.map((n) => n.name + ": " + n.alignment).join("; ") + ")"
    : "";
  document.getElementById("trace-id").textContent = d.trace_id ? "trace " + d.trace_id : "";
  document.getElementById("status").textContent =
    d.spans.length + " spans" + across + (d.complete ? "" : " — incomplete: part of the tree is no longer held (--tree-spans)");
  const t0 = Math.min(...d.spans.map((s) => s.start));
  const t1 = Math.max(...d.spans.map((s) => s.start + s.duration));
  view = { t0, t1 };
  drawFlame(d);
  const box = document.getElementById("flame");
  box.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const f = ev.deltaY > 0 ? 1.25 : 0.8;
    const at = view.t0 + ((view.t1 - view.t0) * ev.offsetX) / (box.clientWidth || 1000);
    view = { t0: at - (at - view.t0) * f, t1: at + (view.t1 - at) * f };
    drawFlame(d);
  });
  let drag = null;
  box.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v: { ...view } }; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const shift = ((drag.x - ev.clientX) * (drag.v.t1 - drag.v.t0)) / (box.clientWidth || 1000);
    view = { t0: drag.v.t0 + shift, t1: drag.v.t1 + shift };
    drawFlame(d);
  });
  document.body.dataset.done = "true";
}

async function poll() {
  try {
    const r = await fetch(withSource(page === "events" ? "/api/events" : "/api/requests"), { cache: "no-store" });
    last = await r.json();
    render(last);
    document.body.dataset.done = String(Boolean(last.done));
  } catch (e) {
    document.getElementById("status").textContent = "dashboard unreachable: " + e;
  }
  setTimeout(poll, 1000);
}

sourcesNav();
if (page === "trace") loadTrace(); else poll();
