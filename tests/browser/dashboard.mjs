// Loads a running `tickspan serve` dashboard in headless Chromium (the system browser), waits
// for the final numbers, reads what the page shows, follows a drill-down and saves
// screenshots. Prints one JSON object for tests/tests/serve_browser.rs to check.
//
//   node dashboard.mjs URL ARTIFACT_DIR FAMILY
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, artifacts, family] = process.argv.slice(2);
// A fresh profile each run (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "tickspan-chromium-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const out = { errors: [] };
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && out.errors.push(m.text()));
  await page.goto(url);
  await page.waitForSelector('body[data-done="true"]', { timeout: 20000 });
  await page.waitForSelector("#families tbody tr");
  await page.screenshot({ path: join(artifacts, "requests.png"), fullPage: true });
  out.head = await page.$$eval("#families-head th", (ths) => ths.map((t) => t.textContent));
  out.rows = await page.$$eval("#families tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  out.health = await page.textContent("#health");
  out.status = await page.textContent("#status");
  // Markup in names is text: no element was made from it and no handler ran.
  out.xss = await page.evaluate(() => window.__xss ?? null);
  out.injected = await page.$$eval("#families img, #families script", (e) => e.length);
  const row = out.rows.findIndex((cells) => cells[0] === family);
  // The family's latency histogram: its bins and where p50/p90/p99 are marked.
  await page.locator("#families tbody tr").nth(row).locator("a.family").click();
  await page.waitForSelector("#hist:not([hidden]) #hist-chart .hcol");
  out.hist_title = await page.textContent("#hist-title");
  out.hist_legend = await page.textContent("#hist-legend");
  out.hist = await page.$$eval("#hist-chart .hcol", (cols) => cols.map((c) => ({
    lo: Number(c.dataset.lo), hi: Number(c.dataset.hi), count: Number(c.dataset.count),
    marks: [...c.querySelectorAll(".pmark")].map((m) => m.textContent),
    height: c.querySelector(".hbar").getBoundingClientRect().height,
  })));
  out.injected += await page.$$eval("#hist img, #hist script", (e) => e.length);
  await page.screenshot({ path: join(artifacts, "histogram.png"), fullPage: true });
  // Drill-down: the family's first non-empty bucket lists its latest spans.
  const link = page.locator("#families tbody tr").nth(row).locator("a.bucket:not(.zero)").first();
  await link.click();
  await page.waitForSelector("#detail:not([hidden]) #traces tbody tr");
  out.detail_title = await page.textContent("#detail-title");
  out.detail_rows = await page.$$eval("#traces tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  await page.screenshot({ path: join(artifacts, "drill-down.png"), fullPage: true });
  // Live: after another poll the selection is kept.
  await page.waitForTimeout(1200);
  out.detail_after_poll = await page.textContent("#detail-title");
  // Drill-down to the call tree and timeline of the newest span listed.
  await page.locator("#traces a.tree-link").first().click();
  await page.waitForSelector('body[data-page="trace"][data-done="true"]');
  out.tree = await page.$$eval("#tree tbody tr", (trs) => trs.map((tr) => tr.children[0].textContent.trim()));
  out.tree_nodes = await page.$$eval("#tree tbody tr", (trs) => trs.map((tr) => tr.children[1].textContent));
  out.lanes = await page.$$eval("#flame .lane-label", (ls) => ls.map((l) => l.textContent));
  out.trace_status = await page.textContent("#status");
  out.bars = await page.$$eval("#flame .bar", (bs) => bs.length);
  await page.screenshot({ path: join(artifacts, "trace.png"), fullPage: true });
  // Zoom in on the timeline: fewer or narrower bars, no errors.
  await page.mouse.move(300, (await page.locator("#flame").boundingBox()).y + 30);
  await page.mouse.wheel(0, -500);
  out.bars_zoomed = await page.$$eval("#flame .bar", (bs) => bs.length);

  // The Events page: one row per event name.
  await page.goto(new URL("/events", url).href);
  await page.waitForSelector('body[data-done="true"]', { timeout: 20000 });
  out.events = await page.$$eval("#events tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  out.events_health = await page.textContent("#health");
  await page.screenshot({ path: join(artifacts, "events.png"), fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
