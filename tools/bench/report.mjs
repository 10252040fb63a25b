#!/usr/bin/env node
// Renders the results of wirehub-bench (one JSON object per line, appended by
// each scenario command) into docs/benchmarks.md: how it was measured, the
// machine, the commands, one table per scenario with wirehub and the peers
// side by side plus "wirehub / peer" ratios, and the issue #5 targets with
// met / not met computed from the data. Draws the latency plot with gnuplot
// when it is installed. Node 20, no npm dependencies.
//
//   node tools/bench/report.mjs --results FILE [--out docs/benchmarks.md]
//       [--svg docs/bench/latency.svg] [--commands FILE] [--command TEXT]
//       [--machine FILE.json] [--notes FILE.md] [--placeholder]
//
// The markdown depends only on the results, the commands and the machine
// facts; the facts are collected from this machine unless --machine gives
// them (see collectMachineFacts for the shape), which is how tests and
// re-renders of saved results stay deterministic.

import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import {dirname, relative, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {parseArgs} from 'node:util';

import {isRedisEngineCommand, isRedisEngineResult, redisSection} from './report_redis.mjs';

// Servers in column order; anything else the bench reports comes after them.
// "wirehub-wss" is wirehub measured over wss (wirehub-bench --tls).
export const SERVER_ORDER = ['wirehub', 'wirehub-wss', 'nchan', 'nats'];
const SERVER_LABELS = {
  'wirehub': 'wirehub',
  'wirehub-wss': 'wirehub (wss)',
  'nchan': 'nchan',
  'nats': 'NATS',
};

// The peers and the Debian packages each needs (what run-all checks).
export const PEER_PACKAGES = {
  nchan: ['nginx-light', 'libnginx-mod-nchan'],
  nats: ['nats-server'],
};
export const FACT_PACKAGES = ['nginx-light', 'libnginx-mod-nchan', 'nats-server'];

// Fan-out cases at this publish rate or below are scenario b (light); faster
// ones are scenario c (saturating). Issue #5: b is 10/s, c is 40 and 80/s.
export const LIGHT_FANOUT_MAX_RATE = 10;

// Scenarios with peers (a-d of issue #5); e and f are wirehub only.
const PEER_SCENARIOS = ['idle', 'fanout', 'latency'];

const DASH = '—';
const KIB = 1024;
const MIB = 1024 * 1024;
const GIB = 1024 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Number formatting: readable and deterministic (no locale).

// num(v): v when it is a finite number, else undefined (absent or garbage).
export function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

// Rounds to `digits` significant digits without an exponent and drops
// trailing zeros after the decimal point: sig(12.34) == "12.3",
// sig(10.04) == "10", sig(0.4567) == "0.457".
export function sig(x, digits = 3) {
  if (x === 0) return '0';
  const e = Math.floor(Math.log10(Math.abs(x)));
  let s = x.toFixed(Math.max(0, digits - 1 - e));
  // 99.96 rounds up to "100.0": one digit fewer after the point.
  if (Math.abs(Number(s)) >= 10 ** (e + 1)) s = x.toFixed(Math.max(0, digits - 2 - e));
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

// 1234567 -> "1,234,567".
export function fmtCount(v) {
  if (num(v) === undefined) return DASH;
  return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Latency given in µs: "850 µs", "2.1 ms", "1.4 s".
export function fmtLatencyUs(us) {
  if (num(us) === undefined) return DASH;
  if (Math.round(us) < 1000) return `${Math.round(us)} µs`;
  const ms = us / 1000;
  if (Number(sig(ms)) < 1000) return `${sig(ms)} ms`;
  return `${sig(ms / 1000)} s`;
}

// Per second: "850/s", "12.3k/s", "1.2M/s".
export function fmtRate(r) {
  if (num(r) === undefined) return DASH;
  if (Number(sig(r)) < 1000) return `${sig(r)}/s`;
  if (Number(sig(r / 1e3)) < 1000) return `${sig(r / 1e3)}k/s`;
  return `${sig(r / 1e6)}M/s`;
}

// Bytes in binary units: "900 B", "1.6 KiB", "118 MiB".
export function fmtBytes(b) {
  if (num(b) === undefined) return DASH;
  if (Math.round(b) < KIB) return `${Math.round(b)} B`;
  if (Number(sig(b / KIB)) < 1024) return `${sig(b / KIB)} KiB`;
  if (Number(sig(b / MIB)) < 1024) return `${sig(b / MIB)} MiB`;
  return `${sig(b / GIB)} GiB`;
}

// Microseconds that are a cost, not a latency: "4.2 µs".
export function fmtMicros(us) {
  return num(us) === undefined ? DASH : `${sig(us)} µs`;
}

export function fmtSeconds(s) {
  return num(s) === undefined ? DASH : `${sig(s)} s`;
}

// A ratio a / b: "2.9×", "0.53×"; "—" when either side is absent or b is 0.
export function fmtRatio(a, b) {
  if (num(a) === undefined || num(b) === undefined || b === 0) return DASH;
  return `${sig(a / b, 2)}×`;
}

// Missing messages with their share of the expected: "3,100 (0.044 %)".
function fmtLoss(missing, expected) {
  if (num(missing) === undefined) return DASH;
  if (missing === 0 || !(num(expected) > 0)) return fmtCount(missing);
  return `${fmtCount(missing)} (${sig((100 * missing) / expected, 2)} %)`;
}

// ---------------------------------------------------------------------------
// Results.

// Parses JSON lines. Returns {results, skipped}: unreadable lines (a line cut
// short by a timeout, say) are skipped with their line number and error, and
// so are objects without scenario and server.
export function parseResults(text) {
  const results = [];
  const skipped = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let value;
    try {
      value = JSON.parse(line);
    } catch (error) {
      skipped.push({line: index + 1, error: error.message});
      return;
    }
    if (value === null || typeof value !== 'object' || typeof value.scenario !== 'string' ||
        typeof value.server !== 'string') {
      skipped.push({line: index + 1, error: 'not an object with "scenario" and "server"'});
      return;
    }
    results.push(value);
  });
  return {results, skipped};
}

function serverRank(server) {
  const i = SERVER_ORDER.indexOf(server);
  return i < 0 ? SERVER_ORDER.length : i;
}

// Servers in column order: wirehub, nchan, nats, then others by name.
export function orderServers(servers) {
  return [...new Set(servers)].sort((a, b) => serverRank(a) - serverRank(b) || a.localeCompare(b));
}

function serverLabel(server) {
  return SERVER_LABELS[server] ?? server;
}

// Groups results of one scenario by case, in order of first appearance; per
// case a Map server -> result (a later line for the same case and server
// replaces an earlier one).
export function groupCases(results) {
  const cases = new Map();
  for (const r of results) {
    const name = typeof r.case === 'string' && r.case !== '' ? r.case : '(no case)';
    if (!cases.has(name)) cases.set(name, new Map());
    cases.get(name).set(r.server, r);
  }
  return cases;
}

export function isLightFanout(r) {
  return num(r.publish_rate) !== undefined && r.publish_rate <= LIGHT_FANOUT_MAX_RATE;
}

// The results split into the report's sections.
export function splitSections(results) {
  // The engine dimension (--engines) and redis_script have a section of
  // their own.
  const redis = results.filter(isRedisEngineResult);
  results = results.filter((r) => !isRedisEngineResult(r));
  const of = (scenario) => results.filter((r) => r.scenario === scenario);
  const fanout = of('fanout');
  return {
    idle: of('idle'),
    fanoutLight: fanout.filter(isLightFanout),
    fanoutSaturating: fanout.filter((r) => !isLightFanout(r)),
    latency: of('latency'),
    channels: of('channels'),
    slow: of('slow'),
    scale: of('scale'),
    tokens: of('tokens'),
    redis,
    other: results.filter(
        (r) => !['idle', 'fanout', 'latency', 'channels', 'slow', 'scale', 'tokens']
                    .includes(r.scenario)),
  };
}

// CPU seconds of the named process in r.processes, if listed.
function processCpu(r, name) {
  const p = Array.isArray(r?.processes) ? r.processes.find((x) => x?.name === name) : undefined;
  return num(p?.cpu_s);
}

// Peers that have no result in a scenario with peers although that scenario
// ran (has wirehub results). Returns [{peer, missingPackages}].
export function absentPeers(results, machine) {
  const ran = results.filter((r) => PEER_SCENARIOS.includes(r.scenario) && !isRedisEngineResult(r));
  if (!ran.some((r) => r.server === 'wirehub')) return [];
  const present = new Set(ran.map((r) => r.server));
  return Object.keys(PEER_PACKAGES)
      .filter((peer) => !present.has(peer))
      .map((peer) => ({
        peer,
        missingPackages: PEER_PACKAGES[peer].filter((p) => machine?.packages &&
                                                          !machine.packages[p]),
      }));
}

// ---------------------------------------------------------------------------
// Tables.

// A markdown table; `align` has 'l' or 'r' per column (default: the first
// left, numbers right).
export function markdownTable(header, rows, align = header.map((_, i) => (i === 0 ? 'l' : 'r'))) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const rule = align.map((a) => (a === 'r' ? '---:' : '---'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

// A metric row: label, value getter, formatter, and whether "wirehub / peer"
// means something for it (costs, rates, latencies; not counts).
function metric(label, get, fmt, ratio = false) {
  return {label, get: (r) => (r === undefined ? undefined : num(get(r))), fmt, ratio};
}

const latencyMetrics = (prefix = '') => [
  metric(`${prefix}p50`, (r) => r.latency_us?.p50, fmtLatencyUs, true),
  metric(`${prefix}p90`, (r) => r.latency_us?.p90, fmtLatencyUs, true),
  metric(`${prefix}p99`, (r) => r.latency_us?.p99, fmtLatencyUs, true),
  metric(`${prefix}p999`, (r) => r.latency_us?.p999, fmtLatencyUs, true),
  metric(`${prefix}max`, (r) => r.latency_us?.max, fmtLatencyUs, true),
];

const IDLE_METRICS = [
  metric('clients', (r) => r.clients, fmtCount),
  metric('RSS per client', (r) => r.rss_per_client_bytes, fmtBytes, true),
  metric('server RSS', (r) => r.server_rss_bytes, fmtBytes, true),
  metric('connects/s (with auth)', (r) => r.connects_per_s, fmtRate, true),
  metric('subscribes/s', (r) => r.subscribes_per_s, fmtRate, true),
  metric('server CPU', (r) => r.server_cpu_s, fmtSeconds, true),
  metric('wirehub-control CPU', (r) => processCpu(r, 'control'), fmtSeconds),
  metric('disconnected', (r) => r.disconnected, fmtCount),
  metric('failed clients', (r) => r.failed_clients, fmtCount),
];

const FANOUT_METRICS = [
  metric('clients', (r) => r.clients, fmtCount),
  metric('publishes/s', (r) => r.publishes_per_s, fmtRate, true),
  metric('deliveries/s', (r) => r.deliveries_per_s, fmtRate, true),
  metric('server CPU per delivery', (r) => r.server_cpu_us_per_delivery, fmtMicros, true),
  metric('server CPU', (r) => r.server_cpu_s, fmtSeconds, true),
  metric('wirehub-control CPU', (r) => processCpu(r, 'control'), fmtSeconds),
  ...latencyMetrics(),
  metric('expected', (r) => r.expected, fmtCount),
  metric('delivered', (r) => r.delivered, fmtCount),
  {...metric('missing', (r) => r.missing, fmtCount), show: (r) => fmtLoss(r.missing, r.expected)},
  metric('duplicated', (r) => r.duplicated, fmtCount),
  metric('late', (r) => r.late, fmtCount),
  metric('disconnected', (r) => r.disconnected, fmtCount),
  metric('failed clients', (r) => r.failed_clients, fmtCount),
  metric('publisher max lag', (r) => r.max_publisher_lag_ms, (v) => fmtLatencyUs(v * 1000)),
  metric('server RSS', (r) => r.server_rss_bytes, fmtBytes, true),
];

const SCALE_METRICS = [
  metric('clients', (r) => r.clients, fmtCount),
  metric('RSS per client', (r) => r.rss_per_client_bytes, fmtBytes),
  metric('connects/s (with auth)', (r) => r.connects_per_s, fmtRate),
  metric('deliveries/s', (r) => r.deliveries_per_s, fmtRate),
  metric('server CPU per delivery', (r) => r.server_cpu_us_per_delivery, fmtMicros),
  ...latencyMetrics(),
  {...metric('missing', (r) => r.missing, fmtCount), show: (r) => fmtLoss(r.missing, r.expected)},
  metric('failed clients', (r) => r.failed_clients, fmtCount),
  metric('server RSS', (r) => r.server_rss_bytes, fmtBytes),
];

const LATENCY_METRICS = [
  metric('subscribers', (r) => r.clients, fmtCount),
  metric('publishes/s', (r) => r.publishes_per_s, fmtRate),
  ...latencyMetrics(),
  metric('deliveries measured', (r) => r.latency_us?.count ?? r.delivered, fmtCount),
  {...metric('missing', (r) => r.missing, fmtCount), show: (r) => fmtLoss(r.missing, r.expected)},
  metric('duplicated', (r) => r.duplicated, fmtCount),
  metric('server CPU per delivery', (r) => r.server_cpu_us_per_delivery, fmtMicros, true),
];

// One case: a column per server, then a "wirehub / peer" column per peer.
// Rows whose value is absent for every server are left out.
export function comparisonTable(byServer, metrics) {
  const servers = orderServers([...byServer.keys()]);
  const peers = byServer.has('wirehub') ? servers.filter((s) => s !== 'wirehub') : [];
  const header = ['', ...servers.map(serverLabel), ...peers.map((p) => `wirehub / ${serverLabel(p)}`)];
  const rows = [];
  for (const m of metrics) {
    const values = servers.map((s) => m.get(byServer.get(s)));
    if (values.every((v) => v === undefined)) continue;
    const cells = servers.map((s, i) =>
      values[i] === undefined ? DASH : (m.show ?? ((r) => m.fmt(m.get(r))))(byServer.get(s)));
    const w = m.get(byServer.get('wirehub'));
    const ratios = peers.map((p) => (m.ratio ? fmtRatio(w, m.get(byServer.get(p))) : ''));
    rows.push([m.label, ...cells, ...ratios]);
  }
  return markdownTable(header, rows);
}

function notesOf(byServer) {
  return orderServers([...byServer.keys()])
      .filter((s) => typeof byServer.get(s).notes === 'string' && byServer.get(s).notes.trim())
      .map((s) => `- ${serverLabel(s)}: ${byServer.get(s).notes.trim()}`);
}

function casesSection(results, metrics) {
  const out = [];
  for (const [name, byServer] of groupCases(results)) {
    out.push(`### ${name}`, '', comparisonTable(byServer, metrics), '');
    const notes = notesOf(byServer);
    if (notes.length) out.push('Notes from the generator:', '', ...notes, '');
  }
  return out;
}

function channelsTable(results) {
  const header = ['API', 'offered', 'publishes/s accepted', 'delivered/s', 'missing',
                  'duplicated', 'p50', 'p99', 'edge CPU per delivery'];
  const many = orderServers(results.map((r) => r.server)).length > 1;
  const rows = results.map((r) => [
    (r.publish_api ?? DASH) + (many ? ` (${serverLabel(r.server)})` : ''),
    fmtRate(r.publish_rate), fmtRate(r.publishes_per_s), fmtRate(r.deliveries_per_s),
    fmtLoss(r.missing, r.expected), fmtCount(r.duplicated), fmtLatencyUs(r.latency_us?.p50),
    fmtLatencyUs(r.latency_us?.p99), fmtMicros(r.server_cpu_us_per_delivery),
  ]);
  return markdownTable(header, rows);
}

// Token streams: a row per case, the delivery and cost figures in one table
// and the timings in another.
function tokenCaseLabel(r, many) {
  return (r.publish_api ?? DASH) + (many ? ` (${serverLabel(r.server)})` : '');
}

function fmtPerToken(v) {
  return num(v) === undefined ? DASH : sig(v);
}

function tokensTables(results) {
  const many = orderServers(results.map((r) => r.server)).length > 1;
  const costs = markdownTable(
      ['API', 'conversations', 'offered', 'tokens/s accepted', 'failed', 'missing', 'duplicated',
       'out of order', 'control CPU per token', 'control switches per token',
       'edge CPU per token', 'edge switches per token'],
      results.map((r) => [
        tokenCaseLabel(r, many), fmtCount(r.channels), fmtRate(r.publish_rate),
        fmtRate(r.publishes_per_s), fmtLoss(r.publish_failed, r.published),
        fmtLoss(r.missing, r.expected), fmtCount(r.duplicated), fmtCount(r.late),
        fmtMicros(r.control_cpu_us_per_publication),
        fmtPerToken(r.control_context_switches_per_publication),
        fmtMicros(r.edge_cpu_us_per_publication),
        fmtPerToken(r.edge_context_switches_per_publication),
      ]));
  const timings = markdownTable(
      ['API', 'conversations', 'first token p50', 'first token p99', 'first token max',
       'token p50', 'token p99', 'token p999', 'token max', 'gap jitter p50', 'gap jitter p99',
       'gap jitter max', 'receive gap p50', 'receive gap p99', 'control answer p99',
       'publisher max lag'],
      results.map((r) => [
        tokenCaseLabel(r, many), fmtCount(r.channels), fmtLatencyUs(r.first_token_us?.p50),
        fmtLatencyUs(r.first_token_us?.p99), fmtLatencyUs(r.first_token_us?.max),
        fmtLatencyUs(r.latency_us?.p50), fmtLatencyUs(r.latency_us?.p99),
        fmtLatencyUs(r.latency_us?.p999), fmtLatencyUs(r.latency_us?.max),
        fmtLatencyUs(r.gap_jitter_us?.p50), fmtLatencyUs(r.gap_jitter_us?.p99),
        fmtLatencyUs(r.gap_jitter_us?.max), fmtLatencyUs(r.receive_gap_us?.p50),
        fmtLatencyUs(r.receive_gap_us?.p99), fmtLatencyUs(r.answer_us?.p99),
        num(r.max_publisher_lag_ms) === undefined ? DASH :
                                                    fmtLatencyUs(r.max_publisher_lag_ms * 1000),
      ]));
  return [costs, '', timings];
}

const SLOW_METRICS = [
  metric('clients', (r) => r.clients, fmtCount),
  {...metric('slow clients disconnected', (r) => r.slow_disconnected, fmtCount),
   show: (r) => num(r.slow_clients) === undefined ?
       fmtCount(r.slow_disconnected) :
       `${fmtCount(r.slow_disconnected)} of ${fmtCount(r.slow_clients)}`},
  metric('disconnected (all)', (r) => r.disconnected, fmtCount),
  metric('edge RSS max', (r) => r.edge_rss_max_bytes, fmtBytes, true),
  metric('server RSS', (r) => r.server_rss_bytes, fmtBytes, true),
  metric('deliveries/s', (r) => r.deliveries_per_s, fmtRate, true),
  ...latencyMetrics('healthy clients: '),
  {...metric('missing', (r) => r.missing, fmtCount), show: (r) => fmtLoss(r.missing, r.expected)},
  metric('duplicated', (r) => r.duplicated, fmtCount),
  metric('edge CPU per delivery', (r) => r.server_cpu_us_per_delivery, fmtMicros, true),
];

// Scenario f: the baseline beside each case with slow clients, and the ratio
// case / baseline for the figures that should stay put.
function slowTable(results) {
  const cases = [...groupCases(results.filter((r) => r.server === 'wirehub'))]
      .map(([name, byServer]) => [name, byServer.get('wirehub')]);
  const baseline = cases.find(([name]) => name === 'baseline');
  const others = cases.filter(([name]) => name !== 'baseline');
  const columns = baseline ? [baseline, ...others] : others;
  const header = ['', ...columns.map(([name]) => name),
                  ...(baseline ? others.map(([name]) => `${name} / baseline`) : [])];
  const rows = [];
  for (const m of SLOW_METRICS) {
    const values = columns.map(([, r]) => m.get(r));
    if (values.every((v) => v === undefined)) continue;
    const cells = columns.map(([, r], i) =>
      values[i] === undefined ? DASH : (m.show ?? ((x) => m.fmt(m.get(x))))(r));
    const ratios = baseline ?
        others.map(([, r]) => (m.ratio ? fmtRatio(m.get(r), m.get(baseline[1])) : '')) :
        [];
    rows.push([m.label, ...cells, ...ratios]);
  }
  return markdownTable(header, rows);
}

// ---------------------------------------------------------------------------
// Targets of issue #5.

export const VERDICT = {
  met: 'met',
  notMet: 'not met',
  noData: 'no data',
  notComparable: 'not comparable',
};

function wirehubOf(results) {
  return results.filter((r) => r.server === 'wirehub');
}

function maxBy(items, key) {
  let best;
  for (const item of items) {
    if (num(key(item)) !== undefined && (best === undefined || key(item) > key(best))) best = item;
  }
  return best;
}

// A threshold on one figure of one result. `minClients`: the target is about
// that many clients; a smaller run is "not comparable" rather than met.
function thresholdTarget({name, target, r, value, fmt, ok, minClients}) {
  if (r === undefined || num(value) === undefined) {
    return {name, target, measured: DASH, verdict: VERDICT.noData};
  }
  const measured = fmt(value);
  if (minClients !== undefined && !(num(r.clients) >= minClients)) {
    return {name, target, measured: `${measured} (${fmtCount(r.clients)} clients)`,
            verdict: VERDICT.notComparable,
            why: `measured with ${fmtCount(r.clients)} clients, the target is at ${fmtCount(minClients)}`};
  }
  return {name, target, measured, verdict: ok(value) ? VERDICT.met : VERDICT.notMet};
}

// Every target with its measured value and verdict, in the issue's order.
export function evaluateTargets(results) {
  const s = splitSections(results);
  const targets = [];
  const idle = wirehubOf(s.idle)[0];
  targets.push(thresholdTarget({
    name: 'Idle: edge memory per connected, subscribed client at 15k clients', target: '≤ 2 KiB',
    r: idle, value: idle?.rss_per_client_bytes, fmt: fmtBytes, ok: (v) => v <= 2 * KIB,
    minClients: 15000,
  }));

  const light = wirehubOf(s.fanoutLight)[0];
  targets.push(thresholdTarget({
    name: 'Fan-out light (1 → 10k at 10/s): edge CPU per delivery', target: '≤ 6 µs', r: light,
    value: light?.server_cpu_us_per_delivery, fmt: fmtMicros, ok: (v) => v <= 6, minClients: 10000,
  }));
  targets.push(thresholdTarget({
    name: 'Fan-out light (1 → 10k at 10/s): p99 publish → receive', target: '≤ 80 ms', r: light,
    value: light?.latency_us?.p99, fmt: fmtLatencyUs, ok: (v) => v <= 80000, minClients: 10000,
  }));

  targets.push(saturatingTarget(wirehubOf(s.fanoutSaturating)));
  targets.push(againstNchanTarget(s.fanoutSaturating));

  const latencyCases = groupCases(wirehubOf(s.latency));
  if (latencyCases.size === 0) {
    targets.push({name: 'Small fan-out: p50 publish → receive', target: '≤ 500 µs', measured: DASH,
                  verdict: VERDICT.noData});
    targets.push({name: 'Small fan-out: p99 publish → receive', target: '≤ 3 ms', measured: DASH,
                  verdict: VERDICT.noData});
  }
  for (const [name, byServer] of latencyCases) {
    const r = byServer.get('wirehub');
    targets.push(thresholdTarget({
      name: `Small fan-out (${name}): p50 publish → receive`, target: '≤ 500 µs', r,
      value: r.latency_us?.p50, fmt: fmtLatencyUs, ok: (v) => v <= 500,
    }));
    targets.push(thresholdTarget({
      name: `Small fan-out (${name}): p99 publish → receive`, target: '≤ 3 ms', r,
      value: r.latency_us?.p99, fmt: fmtLatencyUs, ok: (v) => v <= 3000,
    }));
  }

  targets.push(manyChannelsTarget(wirehubOf(s.channels)));

  targets.push(thresholdTarget({
    name: 'Connect: connections/s with JWT verification (idle scenario)', target: '≥ 10k/s',
    r: idle, value: idle?.connects_per_s, fmt: fmtRate, ok: (v) => v >= 10000, minClients: 15000,
  }));
  return targets;
}

const lossless = (r) => r.missing === 0 && (num(r.duplicated) ?? 0) === 0;

function saturatingTarget(wirehub) {
  const name = 'Fan-out saturating (1 → 10k): deliveries/s from one edge with zero loss';
  const target = '≥ 500k/s';
  const best = maxBy(wirehub.filter(lossless), (r) => r.deliveries_per_s);
  const fastest = maxBy(wirehub, (r) => r.deliveries_per_s);
  if (fastest === undefined) return {name, target, measured: DASH, verdict: VERDICT.noData};
  const parts = [];
  if (best) parts.push(`${fmtRate(best.deliveries_per_s)} without loss at ${best.case}`);
  else parts.push('no case without loss');
  if (fastest !== best) {
    parts.push(`${fmtRate(fastest.deliveries_per_s)} at ${fastest.case} with ` +
               `${fmtCount(fastest.missing)} missing, ${fmtCount(fastest.duplicated)} duplicated`);
  }
  const measured = parts.join('; ');
  if (!wirehub.every((r) => num(r.clients) >= 10000)) {
    return {name, target, measured, verdict: VERDICT.notComparable,
            why: 'measured with fewer than 10,000 subscribers'};
  }
  const met = best !== undefined && best.deliveries_per_s >= 500000;
  return {name, target, measured, verdict: met ? VERDICT.met : VERDICT.notMet};
}

function againstNchanTarget(saturating) {
  const name = 'Fan-out saturating: deliveries/s against nchan in the same run';
  const target = '≥ 2× nchan';
  const w = maxBy(wirehubOf(saturating), (r) => r.deliveries_per_s);
  const n = maxBy(saturating.filter((r) => r.server === 'nchan'), (r) => r.deliveries_per_s);
  if (w === undefined) return {name, target, measured: DASH, verdict: VERDICT.noData};
  if (n === undefined) {
    return {name, target, measured: 'nchan absent from this run', verdict: VERDICT.noData};
  }
  const ratio = w.deliveries_per_s / n.deliveries_per_s;
  const measured = `${fmtRatio(w.deliveries_per_s, n.deliveries_per_s)} ` +
                   `(${fmtRate(w.deliveries_per_s)} against ${fmtRate(n.deliveries_per_s)})`;
  if (!(num(w.clients) >= 10000)) {
    return {name, target, measured, verdict: VERDICT.notComparable,
            why: 'measured with fewer than 10,000 subscribers'};
  }
  return {name, target, measured, verdict: ratio >= 2 ? VERDICT.met : VERDICT.notMet};
}

function manyChannelsTarget(wirehub) {
  const name = 'Many channels: publishes/s accepted and delivered through PublishStream';
  const target = '≥ 100k/s';
  const stream = wirehub.filter((r) => /stream/i.test(String(r.publish_api ?? '')));
  const rate = (r) => Math.min(num(r.publishes_per_s) ?? 0, num(r.deliveries_per_s) ?? 0);
  const best = maxBy(stream.filter(lossless), rate) ?? maxBy(stream, rate);
  if (best === undefined) return {name, target, measured: DASH, verdict: VERDICT.noData};
  const measured = `${fmtRate(best.publishes_per_s)} accepted, ${fmtRate(best.deliveries_per_s)} ` +
                   `delivered at ${fmtRate(best.publish_rate)} offered, ` +
                   `${fmtLoss(best.missing, best.expected)} missing`;
  const met = lossless(best) && best.publishes_per_s >= 100000 && best.deliveries_per_s >= 100000;
  return {name, target, measured, verdict: met ? VERDICT.met : VERDICT.notMet};
}

function verdictCell(t) {
  if (t.verdict === VERDICT.notMet) return '**not met**';
  if (t.verdict === VERDICT.notComparable) return `not comparable (${t.why})`;
  return t.verdict;
}

// ---------------------------------------------------------------------------
// Plot: latency percentiles against load, per server, from the fan-out and
// latency scenarios.

const PLOT_COLORS = {wirehub: '#1c6bd0', nchan: '#d9480f', nats: '#2b8a3e'};
const PLOT_PERCENTILES = [['p50', 1, 7], ['p99', 2, 5], ['p999', 3, 9]];  // [key, dash, point]

// Per server, points sorted by load: {server: [{x, p50, p99, p999, label}]}
// with x in deliveries/s and percentiles in ms (undefined when absent).
export function plotSeries(results) {
  const series = {};
  for (const r of results) {
    if ((r.scenario !== 'fanout' && r.scenario !== 'latency') || isRedisEngineResult(r)) continue;
    const x = num(r.deliveries_per_s);
    if (x === undefined || x <= 0) continue;
    const ms = (k) => (num(r.latency_us?.[k]) > 0 ? r.latency_us[k] / 1000 : undefined);
    const point = {x, p50: ms('p50'), p99: ms('p99'), p999: ms('p999'), label: r.case ?? ''};
    if (point.p50 === undefined && point.p99 === undefined && point.p999 === undefined) continue;
    (series[r.server] ??= []).push(point);
  }
  for (const points of Object.values(series)) points.sort((a, b) => a.x - b.x);
  return series;
}

function gnuplotString(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

// A gnuplot script that writes the SVG to stdout, or null when there is
// nothing to plot. Data are inline datablocks; no paths in the script.
export function gnuplotScript(results, {title} = {}) {
  const series = plotSeries(results);
  const servers = orderServers(Object.keys(series));
  if (servers.length === 0) return null;
  const lines = [
    'set encoding utf8',
    "set terminal svg size 860,520 noenhanced font 'sans,12' background rgb 'white'",
    `set title ${gnuplotString(title ?? 'publish → receive latency against load')}`,
    "set xlabel 'load: deliveries/s (log scale)'",
    "set ylabel 'latency, ms (log scale)'",
    'set logscale xy',
    "set format x '%.0s%c'",
    'set grid xtics ytics mxtics mytics lc rgb "#dddddd"',
    'set key outside right top',
    "set datafile missing '-'",
    'set offsets graph 0.05, graph 0.05, 0, 0',
  ];
  const cell = (v) => (v === undefined ? '-' : sig(v, 4));
  servers.forEach((server, i) => {
    lines.push(`$s${i} << EOD`, '# deliveries/s  p50_ms  p99_ms  p999_ms');
    for (const p of series[server]) lines.push(`${sig(p.x, 6)} ${cell(p.p50)} ${cell(p.p99)} ${cell(p.p999)}`);
    lines.push('EOD');
  });
  const plots = [];
  servers.forEach((server, i) => {
    const color = PLOT_COLORS[server] ?? '#666666';
    for (const [key, dash, point] of PLOT_PERCENTILES) {
      const column = 2 + PLOT_PERCENTILES.findIndex(([k]) => k === key);
      plots.push(`$s${i} using 1:${column} with linespoints lw 2 dt ${dash} pt ${point} ` +
                 `lc rgb '${color}' title ${gnuplotString(`${serverLabel(server)} ${key}`)}`);
    }
  });
  lines.push(`plot ${plots.join(', \\\n     ')}`);
  return lines.join('\n') + '\n';
}

// Runs gnuplot on the script; returns {status: 'drawn'} after writing
// svgPath, or {status: 'no-gnuplot'} / {status: 'failed', error}.
export function drawPlot(script, svgPath) {
  const run = spawnSync('gnuplot', [], {input: script, encoding: 'utf8', timeout: 60000,
                                        maxBuffer: 64 * MIB});
  if (run.error?.code === 'ENOENT') return {status: 'no-gnuplot'};
  if (run.error || run.status !== 0 || !run.stdout.includes('</svg>')) {
    return {status: 'failed', error: (run.error?.message ?? run.stderr ?? '').trim()};
  }
  mkdirSync(dirname(svgPath), {recursive: true});
  writeFileSync(svgPath, run.stdout);
  return {status: 'drawn'};
}

// ---------------------------------------------------------------------------
// Machine facts.

function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, {encoding: 'utf8', timeout: 10000, ...options});
  return r.status === 0 ? r.stdout.trim() : undefined;
}

// What the report says about this machine:
//   {cpu_model, nproc, mem_total_bytes, kernel, debian,
//    packages: {name: version or null}, git_commit, git_dirty, date}
export function collectMachineFacts(repoRoot) {
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const meminfo = readText('/proc/meminfo') ?? '';
  const memKb = /^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo)?.[1];
  const packages = {};
  for (const p of FACT_PACKAGES) {
    const out = run('dpkg-query', ['-W', '-f=${db:Status-Status} ${Version}', p]);
    packages[p] = out?.startsWith('installed ') ? out.slice('installed '.length) : null;
  }
  const dirty = run('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no']);
  return {
    cpu_model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? null,
    nproc: Number(run('nproc', [])) || os.availableParallelism(),
    mem_total_bytes: memKb ? Number(memKb) * 1024 : os.totalmem(),
    kernel: os.release(),
    debian: readText('/etc/debian_version')?.trim() ?? null,
    packages,
    git_commit: run('git', ['-C', repoRoot, 'rev-parse', 'HEAD']) ?? null,
    git_dirty: dirty === undefined ? null : dirty !== '',
    date: new Date().toISOString().slice(0, 10),
  };
}

function machineTable(m) {
  const rows = [
    ['CPU', `${m.nproc ?? DASH} × ${m.cpu_model ?? 'unknown'} (shared by the servers and the generator)`],
    ['memory', fmtBytes(m.mem_total_bytes)],
    ['kernel', m.kernel ?? DASH],
    ['Debian', m.debian ?? DASH],
  ];
  for (const p of FACT_PACKAGES) rows.push([p, m.packages?.[p] ?? 'not installed']);
  const commit = m.git_commit ? `\`${m.git_commit.slice(0, 12)}\`` : DASH;
  rows.push(['wirehub commit', commit + (m.git_dirty ? ' with uncommitted changes' : '')]);
  if (m.date) rows.push(['date', m.date]);
  return markdownTable(['', ''], rows, ['l', 'l']);
}

// ---------------------------------------------------------------------------
// Commands: the file run-all writes, one shell command per line, `#` comments.

export function parseCommands(text) {
  return (text ?? '').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

// The commands of one report section: by the bench subcommand, and for
// fan-out by the rates (all ≤ LIGHT_FANOUT_MAX_RATE is light).
function commandsFor(commands, section) {
  return commands.filter((c) => {
    if (section === 'redis' || isRedisEngineCommand(c)) {
      return section === 'redis' && isRedisEngineCommand(c);
    }
    const sub = /wirehub-bench\s+(\S+)/.exec(c)?.[1];
    if (section === 'fanoutLight' || section === 'fanoutSaturating') {
      if (sub !== 'fanout') return false;
      const rates = /--rates=([\d.,]+)/.exec(c)?.[1]?.split(',').map(Number);
      if (!rates || rates.some(Number.isNaN)) return true;
      const light = rates.every((r) => r <= LIGHT_FANOUT_MAX_RATE);
      return section === 'fanoutLight' ? light : !light;
    }
    return sub === section;
  });
}

function codeBlock(lines) {
  return ['```sh', ...lines, '```'];
}

// ---------------------------------------------------------------------------
// The report.

const SECTIONS = [
  {key: 'idle', title: 'a. Idle connections',
   what: 'Clients connect (with a JWT for wirehub), subscribe to one channel and stay idle. ' +
         'RSS per client is the growth of the server\'s resident memory over the clients it ' +
         'holds; connects/s is the number of clients over the time it took to connect them all ' +
         '(for wirehub with JWT verification), subscribes/s the same for subscribing.'},
  {key: 'fanoutLight', title: 'b. Fan-out, light',
   what: 'One channel, every client subscribed, a publisher at a low fixed rate with a ~100-byte ' +
         'payload. Server CPU per delivery is the judge here: the generator shares the cores.'},
  {key: 'fanoutSaturating', title: 'c. Fan-out, saturating',
   what: 'The same channel at publish rates the servers cannot all keep up with: how many ' +
         'deliveries per second each pushes, at what CPU cost, and what is lost.'},
  {key: 'latency', title: 'd. Small fan-out latency',
   what: 'Publish → receive latency with little load: one channel to 100 subscribers, and one to ' +
         'one. For wirehub the path is gRPC Publish → control → edge → WebSocket.'},
  {key: 'channels', title: 'e. Many channels (wirehub only)',
   what: 'Every client on its own channel; publications round-robin over the channels through ' +
         'PublishStream and Broadcast at a fixed offered rate.'},
  {key: 'slow', title: 'f. Slow consumers (wirehub only)',
   what: 'A share of the subscribers stop reading. They should be disconnected at the ' +
         'per-client queue bound, edge memory should stay bounded and the other clients\' ' +
         'latency should stay where the baseline run put it (latency figures are for the ' +
         'healthy clients).'},
  {key: 'scale', title: 'g. Beyond one process (wirehub only)',
   what: 'More clients than one process may hold open (the open-files limit here is 20000 ' +
         'per process): the generator spreads them over child processes and the server side ' +
         'over several wirehub-edge processes on one wirehub-control. Server figures sum the ' +
         'edges.'},
  {key: 'tokens', title: 'Token streams (issue 15)',
   what: 'LLM replies streamed token by token: each conversation is a channel with 1 + i % 3 ' +
         'subscribers (2 on average), fed by a backend at a fixed rate per conversation, the ' +
         'conversations staggered over the first token interval. The backend publishes through ' +
         'one PublishStream per conversation (stream), all conversations on a few streams with ' +
         'one batch request per write (multiplexed), or one Publish call per token (unary). ' +
         'Costs are per token control accepted, over the publishing and the drain; "switches" are ' +
         'voluntary and involuntary context switches summed over the threads. First token is ' +
         'the first token of every reply, backend write → subscriber; gap jitter is, between ' +
         'consecutive tokens of one reply at one subscriber, the receive gap minus the send gap ' +
         '(what the gateway added; catching up counts as 0).'},
  {key: 'redis', title: 'Redis engine (issue 16)',
   what: 'wirehub-control with its Redis engine beside the memory engine, in the same runs: ' +
         'one replica, and two replicas sharing one redis-server with the edges and the ' +
         'publishers spread over them, so that publications cross from one replica to the ' +
         'other through Redis (no persistence unless the engine column says so). Each ' +
         'publish runs control\'s Lua script (EVALSHA, pipelined on one connection per ' +
         'replica); every replica hears its channels back through SSUBSCRIBE. The servers, ' +
         'redis-server and the generator share the two cores. The profiles and the findings ' +
         'are in [Redis engine: profiles and findings](#redis-engine-profiles-and-findings).'},
];

const METRICS_OF = {
  idle: IDLE_METRICS,
  fanoutLight: FANOUT_METRICS,
  fanoutSaturating: FANOUT_METRICS,
  latency: LATENCY_METRICS,
  scale: SCALE_METRICS,
};

// Renders docs/benchmarks.md.
//   results:      parsed result objects
//   machine:      facts as collectMachineFacts returns them
//   commands:     the scenario commands as run (strings)
//   command:      how the whole run was started ("tools/bench/run-all")
//   plot:         {status: 'drawn', path} (path relative to the markdown),
//                 {status: 'no-gnuplot'}, {status: 'failed', error},
//                 {status: 'empty'} or {status: 'off'}
//   skipped:      unreadable result lines, from parseResults
//   placeholder:  the name of the fixture the figures come from, if they do
//   notes:        markdown appended after the targets (the profiles that explain misses)
export function generateReport({results, machine = {}, commands = [], command = 'tools/bench/run-all',
                                plot = {status: 'off'}, skipped = [], placeholder, notes} = {}) {
  const out = [];
  const s = splitSections(results);
  const targets = evaluateTargets(results);
  const quick = /(^|\s)--quick(\s|$)/.test(command);

  out.push('# Benchmarks', '');
  out.push('<!-- Generated by tools/bench/report.mjs from the results of tools/bench/run-all. ' +
           'Do not edit by hand: run tools/bench/run-all. -->', '');
  if (placeholder) {
    out.push(`> **Placeholder figures from a fixture — not measured.** Every number on this page ` +
             `comes from \`${placeholder}\`, the report generator's test fixture; the machine ` +
             'facts are those of the machine that rendered it. `tools/bench/run-all` replaces ' +
             'this page with measured figures.', '');
  }
  if (quick) {
    out.push('> **Quick run** (`--quick`): small client counts and short runs, to try the ' +
             'pipeline. The figures are not comparable with the targets.', '');
  }
  const absent = absentPeers(results, machine);
  if (absent.length) {
    const list = absent.map(({peer, missingPackages}) => serverLabel(peer) +
        (missingPackages.length ? ` (not installed: ${missingPackages.join(', ')})` :
                                  ' (no results in this run)'));
    const install = absent.flatMap((x) => x.missingPackages);
    out.push(`> **Absent peers: ${list.join('; ')}.** Their columns are missing from every ` +
             'table below' + (install.length ?
                 `; \`apt-get install ${install.join(' ')}\` and run \`tools/bench/run-all\` again.` :
                 '; the run\'s log (build/bench/*/run.log) says why.'), '');
  }
  if (skipped.length) {
    out.push(`> **${skipped.length} unreadable result line(s) skipped** ` +
             `(line ${skipped.map((x) => x.line).join(', ')}).`, '');
  }

  out.push('wirehub against the servers people would otherwise pick — nginx with Nchan and NATS ' +
           'with its WebSocket listener — measured in the same run with the same load generator. ' +
           'Each table puts wirehub and the peers side by side; a "wirehub / peer" column is ' +
           'the ratio of the two figures (below 1 is better for costs and latencies, above 1 for ' +
           'rates).', '');
  const counts = Object.values(VERDICT).map((v) => [v, targets.filter((t) => t.verdict === v).length]);
  const fixtureNote = placeholder ? ' (fixture, not measured)' : '';
  out.push(`**Targets${fixtureNote}:** ${counts.filter(([, n]) => n > 0).map(([v, n]) => `${n} ${v}`).join(', ')} ` +
           '(see [Targets](#targets)).', '');

  out.push('## How it is measured', '');
  out.push(
      '- **One generator for every server.** `wirehub-bench` (tools/bench) holds the WebSocket ' +
          'clients on epoll with its own framing. Against wirehub it speaks the Centrifugo ' +
          'client protocol (connect with a JWT, subscribe) and publishes through the gRPC API ' +
          '(Publish, Broadcast, PublishStream); against nchan it subscribes over WebSocket and ' +
          'publishes over HTTP (one nginx worker); against NATS it speaks the NATS text protocol ' +
          'inside WebSocket frames. The bench starts and stops every server itself.',
      '- **Loopback only** (127.0.0.0/8). The generator runs on the same cores as the servers, ' +
          'so raw rates are a floor set by both; judge by server CPU per delivery as well.',
      '- **Latency** is publish → receive: each payload carries its send time and a per-channel ' +
          'sequence number; the generator records the difference in a log-bucketed histogram ' +
          '(p50/p90/p99/p999/max) and counts missing, duplicated and late messages from the ' +
          'sequence numbers.',
      '- **Server CPU** is utime + stime from `/proc/PID/stat` over the measured interval, ' +
          'divided by the deliveries. For wirehub it is the edge alone (wirehub-control is ' +
          'listed separately); for the peers it is all of their processes.',
      '- **Memory** is the resident set from `/proc/PID/statm`; per client it is how much ' +
          'the server\'s RSS grew while the idle clients connected and subscribed, divided ' +
          'by their number.',
      '- Single runs: allow ±10–20 %.', '');

  out.push('## Machine', '', machineTable(machine), '');

  out.push('## Reproduce', '');
  out.push('On a Debian bookworm machine after the README\'s set-up, with the peers and gnuplot ' +
           'installed (`apt-get install nginx-light libnginx-mod-nchan nats-server ' +
           'gnuplot-nox`):', '');
  out.push(...codeBlock(['tools/bench/run-all']), '');
  if (command.trim() !== 'tools/bench/run-all') {
    out.push(`This page comes from \`${command.trim()}\`.`, '');
  }
  if (commands.length) {
    out.push('It runs these commands, each under `timeout`, and then this report:', '');
    out.push(...codeBlock(commands), '');
  }

  for (const section of SECTIONS) {
    out.push(`## ${section.title}`, '', section.what, '');
    const sectionCommands = commandsFor(commands, section.key);
    if (sectionCommands.length) out.push(...codeBlock(sectionCommands), '');
    const sectionResults = s[section.key];
    if (sectionResults.length === 0) {
      out.push('_No results in this run._', '');
      continue;
    }
    if (section.key === 'channels') {
      out.push(channelsTable(sectionResults), '');
    } else if (section.key === 'tokens') {
      out.push(...tokensTables(sectionResults), '');
    } else if (section.key === 'redis') {
      out.push(...redisSection(sectionResults));
    } else if (section.key === 'slow') {
      out.push(slowTable(sectionResults), '');
    } else {
      out.push(...casesSection(sectionResults, METRICS_OF[section.key]));
    }
    if (section.key === 'latency') out.push(...plotParagraph(plot), '');
  }
  if (s.other.length) {
    const names = [...new Set(s.other.map((r) => r.scenario))].sort();
    out.push(`_Results of scenarios this report does not know were left out: ${names.join(', ')}._`, '');
  }

  out.push('## Targets', '');
  out.push('The floor set by issue #5 for this 2-core machine, checked against the figures above' +
           (placeholder ? ' — here the fixture\'s, so these verdicts say nothing about wirehub.' : '.'),
           '');
  out.push(markdownTable(['target', 'goal', 'measured', 'verdict'],
                         targets.map((t) => [t.name, t.target, t.measured, verdictCell(t)]),
                         ['l', 'l', 'l', 'l']), '');
  if (notes && notes.trim()) out.push(notes.trim(), '');
  return out.join('\n').replace(/\n+$/, '\n');
}

function plotParagraph(plot) {
  switch (plot.status) {
    case 'drawn':
      return ['### Latency against load', '',
              `![p50, p99 and p999 publish → receive latency against deliveries/s, per server](${plot.path})`,
              '', 'From the fan-out (b, c) and small fan-out (d) results: solid p50, dashed p99, ' +
              'dotted p999; both axes logarithmic.'];
    case 'no-gnuplot':
      return ['_The latency plot was not drawn: gnuplot is not installed ' +
              '(`apt-get install gnuplot-nox`)._'];
    case 'failed':
      return [`_The latency plot was not drawn: gnuplot failed (${plot.error || 'no output'})._`];
    case 'empty':
      return ['_No latency figures to plot._'];
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------
// Command line.

function main(argv) {
  const {values} = parseArgs({
    args: argv,
    options: {
      results: {type: 'string'},
      out: {type: 'string', default: 'docs/benchmarks.md'},
      svg: {type: 'string'},
      commands: {type: 'string'},
      command: {type: 'string', default: 'tools/bench/run-all'},
      machine: {type: 'string'},
      notes: {type: 'string'},
      placeholder: {type: 'boolean', default: false},
      help: {type: 'boolean', default: false},
    },
  });
  if (values.help || !values.results) {
    const usage = 'usage: node tools/bench/report.mjs --results FILE [--out docs/benchmarks.md] ' +
                  '[--svg docs/bench/latency.svg] [--commands FILE] [--command TEXT] ' +
                  '[--machine FILE.json] [--notes FILE.md] [--placeholder]\n';
    (values.help ? process.stdout : process.stderr).write(usage);
    return values.help ? 0 : 2;
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const {results, skipped} = parseResults(readFileSync(values.results, 'utf8'));
  for (const x of skipped) {
    process.stderr.write(`report: ${values.results}:${x.line}: skipped: ${x.error}\n`);
  }
  const machine = values.machine ? JSON.parse(readFileSync(values.machine, 'utf8')) :
                                   collectMachineFacts(repoRoot);
  const commands = values.commands ? parseCommands(readFileSync(values.commands, 'utf8')) : [];
  const notes = values.notes && existsSync(values.notes) ? readFileSync(values.notes, 'utf8') :
                                                           undefined;
  const placeholder = values.placeholder ? relative(repoRoot, resolve(values.results)) : undefined;

  let plot = {status: 'off'};
  if (values.svg) {
    const script = gnuplotScript(results, {
      title: (placeholder ? 'PLACEHOLDER (fixture, not measured): ' : '') +
             'publish → receive latency against load',
    });
    plot = script === null ? {status: 'empty'} : drawPlot(script, values.svg);
    if (plot.status === 'drawn') {
      plot.path = relative(dirname(resolve(values.out)), resolve(values.svg));
    } else if (plot.status === 'no-gnuplot') {
      process.stderr.write('report: gnuplot is not installed (apt-get install gnuplot-nox); ' +
                           'writing the report without the plot\n');
    } else if (plot.status === 'failed') {
      process.stderr.write(`report: gnuplot failed: ${plot.error}\n`);
    }
  }

  const markdown = generateReport({results, machine, commands, command: values.command, plot,
                                   skipped, placeholder, notes});
  mkdirSync(dirname(resolve(values.out)), {recursive: true});
  writeFileSync(values.out, markdown);
  process.stdout.write(`report: wrote ${values.out}` +
                       (plot.status === 'drawn' ? ` and ${values.svg}` : '') + '\n');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
