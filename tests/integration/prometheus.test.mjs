// A real Prometheus (Debian's package) scrapes the admin listeners of one
// control and one edge while SDK clients receive a known publication load:
// its rate and increase queries must match that load, every panel query of
// docs/monitoring/grafana-dashboard.json must run, the alert rules of
// docs/monitoring/alerts.rules.yml must pass promtool and evaluate cleanly,
// and every metric the dashboard, the rules and docs/operations.md name must
// be one the binaries export (and every exported one documented). Last,
// control is killed under the edge: Prometheus sees the link down and the
// edge unready, and the matching alerts go pending.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Env, sleep, waitFor } from './harness.mjs';
import {
  PROMTOOL_BIN,
  dashboardQueries,
  httpGet,
  metricNamesIn,
  parseExposition,
  run,
  startPrometheus,
  substituteVariables,
} from './prometheus_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOCS = path.resolve(here, '../../docs');
const MONITORING = path.join(DOCS, 'monitoring');
const RULES = path.join(MONITORING, 'alerts.rules.yml');
const RULE_TESTS = path.join(MONITORING, 'alerts.rules.test.yml');
const DASHBOARD = path.join(MONITORING, 'grafana-dashboard.json');
const OPERATIONS = path.join(DOCS, 'operations.md');

/** SDK clients subscribed to the load channel. */
const CLIENTS = 5;
/** The load: BATCHES wirehubctl publish-stream runs of BATCH publications, one every BATCH_EVERY_MS. */
const BATCHES = 32;
const BATCH = 5;
const BATCH_EVERY_MS = 250;
const PUBLICATIONS = BATCHES * BATCH; // 160 over 8 s: 20/s
const CHANNEL = 'load';

const env = new Env('wirehub-prometheus');
let prom = null;
after(async () => {
  try {
    if (prom) await prom.stop();
  } finally {
    await env.cleanup();
  }
});

let control;
let edge;
let edgeAdmin;
let controlAdmin;
const clients = [];

before(async () => {
  control = await env.startControl();
  // A short link_ready_timeout lets the last test see readiness flip fast.
  edge = await env.startEdge(control, { edge_id: 'edge-prom', link_ready_timeout: '2s' });
  edgeAdmin = edge.adminPort;
  controlAdmin = control.adminPort;
  assert.ok(edgeAdmin > 0 && controlAdmin > 0, `admin ports ${edgeAdmin}, ${controlAdmin}`);
  prom = await startPrometheus(path.join(env.dir, 'prometheus'), {
    jobs: {
      'wirehub-edge': [`127.0.0.1:${edgeAdmin}`],
      'wirehub-control': [`127.0.0.1:${controlAdmin}`],
    },
    scrapeInterval: '1s',
    ruleFiles: [RULES],
  });
});

/** Both processes' /metrics, fetched directly: {edge, control, names (union), sampled (names with a sample)}. */
async function scrapeBoth() {
  const out = {};
  for (const [who, port] of [['edge', edgeAdmin], ['control', controlAdmin]]) {
    const { status, text } = await httpGet(`http://127.0.0.1:${port}/metrics`);
    assert.equal(status, 200, `${who} /metrics answered ${status}: ${text.slice(0, 500)}`);
    out[who] = parseExposition(text);
  }
  out.names = new Set([...out.edge.names, ...out.control.names]);
  out.sampled = new Set([...out.edge.samples, ...out.control.samples].map((s) => s.name));
  out.families = new Map([...out.edge.families, ...out.control.families]);
  return out;
}

/** Polls an instant query until pred(value) holds; returns the value. */
async function waitQuery(expr, pred, timeoutMs, what) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = await prom.queryValue(expr);
        return pred(last) ? { value: last } : undefined;
      },
      timeoutMs,
      what,
      { intervalMs: 200 },
    );
  } catch (err) {
    err.message += `; last value of ${expr}: ${last}`;
    throw err;
  }
}

test('promtool accepts the alert rules and their unit tests pass', async () => {
  const check = await run(PROMTOOL_BIN, ['check', 'rules', RULES]);
  const alerts = (fs.readFileSync(RULES, 'utf8').match(/^\s*- alert: /gm) ?? []).length;
  assert.match(check.stdout, new RegExp(`SUCCESS: ${alerts} rules found`), check.stdout);
  const unit = await run(PROMTOOL_BIN, ['test', 'rules', RULE_TESTS], { cwd: MONITORING });
  assert.match(unit.stdout, /SUCCESS/, unit.stdout);
  // Every alert has a unit test that expects it to fire.
  const tests = fs.readFileSync(RULE_TESTS, 'utf8');
  for (const [, name] of fs.readFileSync(RULES, 'utf8').matchAll(/^\s*- alert: (\w+)$/gm)) {
    assert.match(tests, new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `no firing case for ${name}`);
  }
});

test('Prometheus scrapes both admin listeners and sees the clients and the link', async () => {
  const targets = await prom.waitTargetsUp(2, 15_000);
  assert.deepEqual(targets.map((t) => t.labels.job).sort(), ['wirehub-control', 'wirehub-edge']);

  for (let i = 0; i < CLIENTS; i++) {
    const c = env.sdk(edge.url, { token: env.connToken({ sub: `user-${i}` }) });
    await c.connectAndWait();
    await c.subscribeAndWait(CHANNEL);
    clients.push(c);
  }
  await waitQuery('sum(wirehub_edge_connections)', (v) => v === CLIENTS, 10_000, `${CLIENTS} connections`);
  await waitQuery('sum(wirehub_edge_subscriptions)', (v) => v === CLIENTS, 10_000, `${CLIENTS} subscriptions`);
  await waitQuery('sum(wirehub_edge_channels)', (v) => v === 1, 10_000, 'one channel');
  await waitQuery('sum(wirehub_edge_connects_total)', (v) => v === CLIENTS, 10_000, `${CLIENTS} connects`);
  await waitQuery('wirehub_edge_control_link_up', (v) => v === 1, 10_000, 'the control link up');
  await waitQuery('wirehub_edge_ready', (v) => v === 1, 10_000, 'the edge ready');
  await waitQuery('wirehub_control_ready', (v) => v === 1, 10_000, 'control ready');
  await waitQuery('wirehub_control_edges', (v) => v === 1, 10_000, 'one edge attached');
  await waitQuery('sum(up{job=~"wirehub-edge|wirehub-control"})', (v) => v === 2, 10_000, 'both targets up');
});

test('rate() and increase() through the HTTP API match a known publication load', async (t) => {
  // A warm-up publication creates the labelled series (publications_total
  // gets its namespace series on first use), so the load is measured from a
  // baseline Prometheus has scraped: 1 publication, CLIENTS deliveries.
  await env.publish(CHANNEL, { warmup: true });
  for (const c of clients) await c.waitPublication(CHANNEL, (d) => d.warmup === true, 5000, 'the warm-up publication');
  await waitQuery('sum(wirehub_control_publications_total)', (v) => v === 1, 10_000, 'the warm-up publication scraped');
  await waitQuery('sum(wirehub_edge_deliveries_total)', (v) => v === CLIENTS, 10_000, 'the warm-up deliveries scraped');
  const baselineAt = Date.now();
  await sleep(2000); // two more scrapes at the baseline

  // BATCH publications every BATCH_EVERY_MS on a fixed schedule (not after
  // the previous batch returns), so the pace is PUBLICATIONS / 8 s however
  // long one wirehubctl run takes.
  const loadStart = Date.now();
  const batches = [];
  for (let b = 0; b < BATCHES; b++) {
    const due = loadStart + b * BATCH_EVERY_MS;
    if (due > Date.now()) await sleep(due - Date.now());
    const lines = [];
    for (let i = 0; i < BATCH; i++) lines.push(`${CHANNEL} ${JSON.stringify({ n: b * BATCH + i })}`);
    batches.push(env.publishLines(lines, { timeoutMs: 15_000 }));
  }
  await Promise.all(batches);
  const loadEnd = Date.now();
  const loadSeconds = (loadEnd - loadStart) / 1000;
  assert.ok(loadSeconds < 12, `the load took ${loadSeconds} s, meant to take 8 s`);
  for (const c of clients) {
    await waitFor(() => c.subs.get(CHANNEL).publications.length === PUBLICATIONS + 1, 10_000,
      `every client to receive ${PUBLICATIONS + 1} publications (has ${c.subs.get(CHANNEL).publications.length})`);
  }

  // The raw counters, once scraped after the load, are exact.
  await waitQuery('sum(wirehub_control_publications_total)', (v) => v === PUBLICATIONS + 1, 10_000,
    `publications_total to reach ${PUBLICATIONS + 1}`);
  await waitQuery('sum(wirehub_edge_deliveries_total)', (v) => v === CLIENTS * (PUBLICATIONS + 1), 10_000,
    `deliveries_total to reach ${CLIENTS * (PUBLICATIONS + 1)}`);
  const direct = await scrapeBoth();
  const directValue = (scrape, name) => scrape.samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
  assert.equal(directValue(direct.control, 'wirehub_control_publications_total'), PUBLICATIONS + 1);
  assert.equal(directValue(direct.edge, 'wirehub_edge_deliveries_total'), CLIENTS * (PUBLICATIONS + 1));
  // One latency observation per publication (control stamps its accept time).
  await waitQuery('sum(wirehub_edge_publish_latency_seconds_count)', (v) => v === PUBLICATIONS + 1, 10_000,
    'one publish latency observation per publication');

  // increase() over a window from the baseline to now holds the whole load.
  // Prometheus extrapolates the first-to-last sample difference (exactly
  // the load: both ends are flat) to the window's edges, by at most about
  // one scrape interval (1 s) each side, and never shrinks it: the result
  // lies in [load, load * W / (W - 2.5)], which for W >= 10 s is within
  // +33% and fails if a single publication is lost or counted twice below.
  await sleep(1500);
  const evalAt = Date.now();
  const window = Math.floor((evalAt - baselineAt) / 1000);
  assert.ok(window >= 10, `window ${window} s`);
  const upper = (n) => (n * window) / (window - 2.5);
  const pubIncrease = await prom.queryValue(`sum(increase(wirehub_control_publications_total[${window}s]))`, evalAt);
  assert.ok(pubIncrease >= PUBLICATIONS - 1e-9 && pubIncrease <= upper(PUBLICATIONS),
    `increase(publications_total[${window}s]) = ${pubIncrease}, expected [${PUBLICATIONS}, ${upper(PUBLICATIONS)}]`);
  const deliveries = CLIENTS * PUBLICATIONS;
  const delIncrease = await prom.queryValue(`sum(increase(wirehub_edge_deliveries_total[${window}s]))`, evalAt);
  assert.ok(delIncrease >= deliveries - 1e-9 && delIncrease <= upper(deliveries),
    `increase(deliveries_total[${window}s]) = ${delIncrease}, expected [${deliveries}, ${upper(deliveries)}]`);

  // rate() over 5 s inside the load: the pace it was generated at, +-35%
  // (a 1 s scrape sees 4 or 6 batches' worth of steps at the window's ends).
  const midAt = loadStart + 6500;
  const pace = PUBLICATIONS / ((BATCHES * BATCH_EVERY_MS) / 1000);
  const pubRate = await prom.queryValue('sum(rate(wirehub_control_publications_total[5s]))', midAt);
  assert.ok(Math.abs(pubRate - pace) <= 0.35 * pace, `rate(publications_total[5s]) = ${pubRate}, load pace ${pace}/s`);
  const delRate = await prom.queryValue('sum(rate(wirehub_edge_deliveries_total[5s]))', midAt);
  assert.ok(Math.abs(delRate - CLIENTS * pace) <= 0.35 * CLIENTS * pace,
    `rate(deliveries_total[5s]) = ${delRate}, load pace ${CLIENTS * pace}/s`);
  const byNamespace = await prom.query('sum by (namespace) (rate(wirehub_control_publications_total[5s]))', midAt);
  assert.equal(byNamespace.length, 1, `one namespace series: ${JSON.stringify(byNamespace)}`);
  const bytesRate = await prom.queryValue('sum(rate(wirehub_edge_written_bytes_total[5s]))', midAt);
  // Each delivery is a push frame of at least ~40 bytes (channel, data, offset).
  assert.ok(bytesRate >= 30 * CLIENTS * pace * 0.65, `rate(written_bytes_total[5s]) = ${bytesRate}`);

  t.diagnostic(`increase over ${window}s: publications ${pubIncrease} (load ${PUBLICATIONS}), ` +
    `deliveries ${delIncrease} (load ${deliveries}); rate over 5s: publications ${pubRate}/s, ` +
    `deliveries ${delRate}/s (pace ${pace}/s, ${CLIENTS * pace}/s); load took ${loadSeconds} s`);

  // Publish latency from the histogram: local and light, well under a second.
  const p99 = await prom.queryValue(
    `histogram_quantile(0.99, sum by (le) (rate(wirehub_edge_publish_latency_seconds_bucket[${window}s])))`, evalAt);
  assert.ok(Number.isFinite(p99) && p99 > 0 && p99 < 1, `publish latency p99 = ${p99} s`);
  const loopP99 = await prom.queryValue(
    `histogram_quantile(0.99, sum by (le) (rate(wirehub_edge_loop_turn_seconds_bucket[${window}s])))`, evalAt);
  assert.ok(Number.isFinite(loopP99) && loopP99 < 0.5, `loop turn p99 = ${loopP99} s`);
  t.diagnostic(`publish latency p99 ${p99} s, loop turn p99 ${loopP99} s`);
});

test('every query of the Grafana dashboard runs, and every metric it names is exported', async (t) => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  assert.ok(dashboard.templating.list.some((v) => v.type === 'datasource' && v.query === 'prometheus'),
    'a Prometheus datasource variable');
  // What Grafana needs to lay the panels out and route their queries.
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, `panel ids repeat: ${ids}`);
  const cells = new Set();
  for (const p of panels) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && h > 0 && x + w <= 24, `panel "${p.title}" gridPos ${JSON.stringify(p.gridPos)}`);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        assert.ok(!cells.has(`${i},${j}`), `panel "${p.title}" overlaps another at ${i},${j}`);
        cells.add(`${i},${j}`);
      }
    }
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" does not use the datasource variable`);
    const refIds = p.targets.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `panel "${p.title}" repeats a refId`);
  }
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.filter((q) => q.expr).length >= 30, `only ${queries.length} queries found`);
  const scraped = await scrapeBoth();
  const values = {
    datasource: 'prometheus',
    edge_instance: '.*',
    control_instance: '.*',
    namespace: '.*',
    __rate_interval: '15s',
    __interval: '5s',
    __range: '1m',
  };
  const now = Date.now();
  const problems = [];
  let ran = 0;
  for (const q of queries) {
    if (q.labelValues) {
      if (!scraped.names.has(q.labelValues.metric)) problems.push(`${q.where}: unknown metric ${q.labelValues.metric}`);
      try {
        await prom.labelValues(q.labelValues.label, q.labelValues.metric);
        ran++;
      } catch (err) {
        problems.push(`${q.where}: ${err.message}`);
      }
      continue;
    }
    const expr = substituteVariables(q.expr, values);
    const names = metricNamesIn(expr);
    if (names.size === 0) problems.push(`${q.where}: names no wirehub metric: ${expr}`);
    for (const name of names) if (!scraped.names.has(name)) problems.push(`${q.where}: unknown metric ${name} in ${expr}`);
    let result;
    try {
      result = await prom.queryRange(expr, now - 60_000, now, 5);
      ran++;
    } catch (err) {
      problems.push(`${q.where}: ${err.message}`);
      continue;
    }
    // A query over series that exist must draw something: an empty answer
    // there means a label or selector that matches nothing.
    if ([...names].every((n) => scraped.sampled.has(n)) && result.length === 0) {
      problems.push(`${q.where}: no data although every metric has series: ${expr}`);
    }
  }
  assert.deepEqual(problems, [], `${problems.length} problem(s) in ${DASHBOARD}:\n${problems.join('\n')}`);
  assert.equal(ran, queries.length);
  t.diagnostic(`${ran} dashboard queries ran`);
});

test('the alert rules name exported metrics, load into Prometheus and evaluate without error', async () => {
  const scraped = await scrapeBoth();
  const text = fs.readFileSync(RULES, 'utf8');
  const unknown = [...metricNamesIn(text)].filter((n) => !scraped.names.has(n));
  assert.deepEqual(unknown, [], `metrics in ${RULES} that neither binary exports`);

  const expected = (text.match(/^\s*- alert: /gm) ?? []).length;
  let rules = [];
  await waitFor(
    async () => {
      rules = (await prom.ruleGroups()).flatMap((g) => g.rules);
      return rules.length === expected && rules.every((r) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001'));
    },
    10_000,
    `Prometheus to load and evaluate ${expected} rules (has ${rules.length})`,
    { intervalMs: 200 },
  );
  const bad = rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError}`);
  assert.deepEqual(bad, [], 'rules whose evaluation failed');
  const firing = rules.flatMap((r) => r.alerts ?? []).filter((a) => a.state === 'firing');
  assert.deepEqual(firing, [], 'alerts firing on a healthy cluster');
});

test('docs/operations.md documents exactly the metrics the binaries export, and its queries run', async () => {
  const scraped = await scrapeBoth();
  const doc = fs.readFileSync(OPERATIONS, 'utf8');
  // Its ```promql examples: one expression per line, an indented line continues it.
  const examples = [];
  for (const [, block] of doc.matchAll(/```promql\n([\s\S]*?)```/g)) {
    for (const line of block.split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      if (/^\s/.test(line) && examples.length > 0) examples[examples.length - 1] += ` ${line.trim()}`;
      else examples.push(line);
    }
  }
  assert.ok(examples.length >= 3, `promql examples: ${JSON.stringify(examples)}`);
  for (const expr of examples) {
    const result = await prom.query(expr);
    assert.ok(result.length > 0, `docs/operations.md example returns nothing: ${expr}`);
  }
  const documented = metricNamesIn(doc);
  const unknown = [...documented].filter((n) => !scraped.names.has(n));
  assert.deepEqual(unknown, [], 'metrics docs/operations.md names that neither binary exports');
  const undocumented = [...scraped.families.keys()].filter((f) => !documented.has(f));
  assert.deepEqual(undocumented, [], 'exported metric families docs/operations.md does not describe');
  // Each exported family has a row of its own in a metrics table (`| \`name\`...`)
  // that gives the type it is exported with.
  const rows = doc.split('\n').filter((l) => l.startsWith('| `'));
  for (const [family, type] of scraped.families) {
    const row = rows.find((l) => l.startsWith(`| \`${family}\``));
    assert.ok(row, `docs/operations.md has no table row for ${family}`);
    assert.ok(row.split('|')[2].includes(type), `docs/operations.md: the row of ${family} does not say ${type}: ${row}`);
  }
});

test('killing control under the edge: link down and unready in Prometheus, the alerts go pending', async () => {
  control.expectExit({ signal: 'SIGKILL' });
  control.child.kill('SIGKILL');
  await control.exited;
  await waitQuery('wirehub_edge_control_link_up', (v) => v === 0, 10_000, 'the control link down');
  await waitQuery('wirehub_edge_ready', (v) => v === 0, 10_000, 'the edge unready');
  await waitQuery('up{job="wirehub-control"}', (v) => v === 0, 10_000, 'the control target down');
  const ready = await httpGet(`http://127.0.0.1:${edgeAdmin}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(ready.text, /^control link detached for \d+s$/m);
  // The rules see it too: pending until their `for:` has passed.
  const pending = new Set();
  await waitFor(
    async () => {
      for (const r of (await prom.ruleGroups()).flatMap((g) => g.rules)) {
        for (const a of r.alerts ?? []) if (a.state === 'pending') pending.add(`${r.name} ${a.labels.job}`);
      }
      return ['WirehubEdgeControlLinkDown wirehub-edge', 'WirehubEdgeNotReady wirehub-edge', 'WirehubTargetDown wirehub-control']
        .every((a) => pending.has(a));
    },
    10_000,
    'link-down, not-ready and target-down alerts to be pending',
    { intervalMs: 200 },
  ).catch((err) => {
    err.message += `; pending: ${JSON.stringify([...pending])}`;
    throw err;
  });
});
