// The status page in headless Chromium (Debian's, driven by playwright-core), for
// tests/status_page.rs, which starts `eosflow process` and talks to this script by lines:
//   this script prints `drained` once the page showed the lag fall to 0, then waits for
//   `poison-sent` on stdin, then for the page to show the poison record's reason; it takes a
//   screenshot and prints one line `result {json}` with what it saw and how long it took.
// Any failure exits non-zero with the reason (and a screenshot of the page as it was).
//
// Environment: STATUS_URL (the page), STATUS_SCREENSHOT (the PNG to write),
// EOSFLOW_TEST_CHROMIUM (the browser), EOSFLOW_TEST_PLAYWRIGHT (playwright-core's directory).

import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run scripts/test-env start; . <(scripts/test-env env))`);
  return v;
};
const url = need("STATUS_URL");
const screenshot = need("STATUS_SCREENSHOT");
const { chromium } = createRequire(import.meta.url)(need("EOSFLOW_TEST_PLAYWRIGHT"));

const started = Date.now();
const since = () => Date.now() - started;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/// Wait until `probe()` returns a truthy value, at most `ms`, or fail naming `what`.
async function until(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms`);
    await sleep(200);
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), "eosflow-chromium-"));
// Without the background-networking flags Chromium keeps reaching for the internet, which this
// machine does not have, and misbehaves.
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: need("EOSFLOW_TEST_CHROMIUM"),
  headless: true,
  viewport: { width: 1280, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
const requests = [];
page.on("request", (r) => requests.push(r.url()));
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
const result = { launched_ms: since() };

try {
  const response = await page.goto(url, { waitUntil: "load", timeout: 30000 });
  if (!response || response.status() !== 200) throw new Error(`GET ${url}: ${response && response.status()}`);
  result.loaded_ms = since();
  const title = await page.title();
  if (!title.startsWith("eosflow process")) throw new Error(`title ${JSON.stringify(title)}`);

  // The total lag tile, as the page shows it (null while unknown).
  const lag = async () => {
    const text = await page.locator("#total-lag b").textContent({ timeout: 5000 }).catch(() => null);
    const n = text === null ? NaN : Number(text.replace(/,/g, ""));
    return Number.isFinite(n) ? n : null;
  };
  const samples = [];
  const sample = async () => {
    const v = await lag();
    if (samples.length === 0 || samples[samples.length - 1][1] !== v) samples.push([since(), v]);
    return v;
  };
  result.first_positive_lag = await until("a total lag above 0", 60000, async () => {
    const v = await sample();
    return v !== null && v > 0 ? v : null;
  });
  result.lag_seen_ms = since();
  await until("the lag falling to 0", 120000, async () => (await sample()) === 0);
  result.drained_ms = since();
  result.lag_samples = samples;
  const values = samples.map(([, v]) => v).filter((v) => v !== null);
  const firstPositive = values.findIndex((v) => v > 0);
  if (values.slice(firstPositive).filter((v) => v > 0).length < 2) {
    throw new Error(`the lag did not fall in steps: ${JSON.stringify(samples)}`);
  }
  // The partitions table has a row per assigned partition, each at lag 0.
  const rows = await page.locator("#partitions tr").count();
  if (rows < 3) throw new Error(`partitions table has ${rows - 1} rows`);

  console.log("drained");
  // An unref'd timer: it must not keep node alive once the run is over.
  const timeout = new Promise((r) => setTimeout(() => r({ value: null }), 60000).unref());
  const line = await Promise.race([stdin.next(), timeout]);
  if (!line.value || line.value.trim() !== "poison-sent") throw new Error(`expected poison-sent, got ${line.value}`);
  result.poison_sent_ms = since();
  await until("the poison record's class and reason in the dead letters", 60000, async () => {
    const text = await page.locator("#letters").textContent();
    return text.includes("bad-magic") && text.includes("bad magic byte 0x7b");
  });
  result.reason_shown_ms = since();

  await until("this process among the group's members", 30000, async () =>
    (await page.locator("#members").textContent()).includes("(this process)"));
  const points = await page.locator("#chart polyline").first().getAttribute("points");
  if (points.trim().split(/\s+/).length !== 60) throw new Error(`chart has ${points} points`);
  const config = await page.locator("#config").textContent();
  if (!config.includes("sink") || !config.includes("postgres://")) throw new Error(`config: ${config}`);

  const foreign = requests.filter((r) => !r.startsWith(new URL(url).origin));
  if (foreign.length) throw new Error(`requests off the metrics port: ${foreign.join(", ")}`);
  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join("; ")}`);
  result.requests = requests.length;
  result.page_text = await page.locator("body").innerText();
  await page.screenshot({ path: screenshot, fullPage: true });
  result.total_ms = since();
  console.log("result " + JSON.stringify(result));
} catch (e) {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  console.error(`status page test failed after ${since()} ms: ${e.message}`);
  console.error("seen so far: " + JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  process.stdin.destroy();
}
