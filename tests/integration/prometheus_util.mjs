// A real Prometheus for the integration tests (Debian's `prometheus` package:
// /usr/bin/prometheus and /usr/bin/promtool), and the pieces that check
// metric names: the text exposition format, PromQL, the Grafana dashboard.
//
// startPrometheus() runs one on 127.0.0.1 with an ephemeral port, its storage
// in the caller's temp dir, scraping static targets; stop() ends it (the
// harness's exit hook kills it as a last resort, like every ServerProcess).

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { ServerProcess, freePort, waitFor } from './harness.mjs';

export { freePort };

export const PROMETHEUS_BIN = process.env.WIREHUB_PROMETHEUS ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.WIREHUB_PROMTOOL ?? '/usr/bin/promtool';

/** Bound for one HTTP request to Prometheus or an admin listener. */
const HTTP_TIMEOUT_MS = 5000;

/**
 * The admin listener's port of a wirehub process: `proc.adminPort` as the
 * harness records it from the banner, else read from the banner in its
 * stdout (`wirehub-edge: admin listening on HOST:PORT`). Other test files
 * use it too.
 */
export function adminPortOf(proc) {
  if (proc.adminPort) return proc.adminPort;
  for (const line of proc.stdoutLines) {
    const m = /^wirehub-(?:edge|control): admin listening on \S+:(\d+)$/.exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error(`${proc.name} printed no admin listener banner: ${JSON.stringify(proc.stdoutLines)}`);
}

/** GET url; resolves {status, text}. Bounded. */
export async function httpGet(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  return { status: res.status, text: await res.text() };
}

/** Runs a command with a bound; resolves {stdout, stderr}, rejects on a non-zero exit. */
export function run(command, args, { timeoutMs = 30_000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', cwd }, (err, stdout, stderr) => {
      if (err) {
        const why = err.killed ? `timed out after ${timeoutMs} ms` : `failed (exit code ${err.code})`;
        reject(new Error(`${command} ${args.join(' ')} ${why}; stdout:\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/** A running Prometheus: its base URL and the PromQL helpers over its HTTP API. */
export class Prometheus {
  constructor(proc, port) {
    this.proc = proc;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
  }

  async _api(pathAndQuery) {
    const { status, text } = await httpGet(`${this.url}${pathAndQuery}`);
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`Prometheus ${pathAndQuery} answered ${status} with no JSON: ${text.slice(0, 500)}`);
    }
    if (body.status !== 'success') {
      throw new Error(`Prometheus ${pathAndQuery} failed (${status}): ${body.errorType}: ${body.error}`);
    }
    return body.data;
  }

  /** Instant query at `time` (ms since the epoch; default now): resolves data.result. */
  async query(expr, time = undefined) {
    const params = new URLSearchParams({ query: expr });
    if (time !== undefined) params.set('time', (time / 1000).toFixed(3));
    const data = await this._api(`/api/v1/query?${params}`);
    return data.result;
  }

  /** The single value of a query returning one series or a scalar, or null when it returns none. */
  async queryValue(expr, time = undefined) {
    const result = await this.query(expr, time);
    if (!Array.isArray(result)) return Number(result[1]); // scalar
    if (result.length === 0) return null;
    if (result.length > 1) throw new Error(`${expr} returned ${result.length} series, expected one`);
    return Number(result[0].value[1]);
  }

  /** Range query over [startMs, endMs] with `stepS`: resolves data.result (as Grafana asks). */
  async queryRange(expr, startMs, endMs, stepS) {
    const params = new URLSearchParams({
      query: expr,
      start: (startMs / 1000).toFixed(3),
      end: (endMs / 1000).toFixed(3),
      step: String(stepS),
    });
    const data = await this._api(`/api/v1/query_range?${params}`);
    return data.result;
  }

  async activeTargets() {
    return (await this._api('/api/v1/targets?state=active')).activeTargets;
  }

  async labelValues(label, match) {
    const params = new URLSearchParams();
    if (match) params.append('match[]', match);
    return this._api(`/api/v1/label/${encodeURIComponent(label)}/values?${params}`);
  }

  async ruleGroups() {
    return (await this._api('/api/v1/rules')).groups;
  }

  /** Waits until every target is `up`; returns them. */
  async waitTargetsUp(count, timeoutMs) {
    let last = [];
    try {
      return await waitFor(
        async () => {
          last = await this.activeTargets();
          return last.length === count && last.every((t) => t.health === 'up') ? last : undefined;
        },
        timeoutMs,
        `${count} Prometheus targets to be up`,
        { intervalMs: 200 },
      );
    } catch (err) {
      const seen = last.map((t) => `${t.labels.job} ${t.scrapeUrl}: ${t.health} ${t.lastError}`);
      err.message += `; targets: ${JSON.stringify(seen)}`;
      throw err;
    }
  }

  /** SIGTERM, SIGKILL after graceMs. */
  stop({ graceMs = 5000 } = {}) {
    return this.proc.stop({ graceMs });
  }
}

/**
 * Starts Prometheus on 127.0.0.1 (an ephemeral port; retried on a port taken
 * meanwhile) with its storage under `dir`, scraping `jobs` ({job name:
 * ['host:port', ...]}) every `scrapeInterval` and evaluating `ruleFiles`.
 * Resolves when /-/ready answers 200.
 */
export async function startPrometheus(dir, { jobs, scrapeInterval = '1s', ruleFiles = [], readyTimeoutMs = 20_000 }) {
  fs.mkdirSync(dir, { recursive: true });
  // JSON is YAML: the config needs no YAML writer.
  const config = {
    global: { scrape_interval: scrapeInterval, scrape_timeout: scrapeInterval, evaluation_interval: scrapeInterval },
    rule_files: ruleFiles,
    scrape_configs: Object.entries(jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  if (!fs.existsSync(PROMETHEUS_BIN)) {
    throw new Error(`${PROMETHEUS_BIN} not found: install Debian's prometheus package (tools/dev/install-deps)`);
  }
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${configFile}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
    );
    const proc = new ServerProcess('prometheus', child);
    child.stdout.resume();
    const prom = new Prometheus(proc, port);
    try {
      await waitFor(
        async () => {
          if (!proc.running) throw new Error(`prometheus exited: ${JSON.stringify(proc.exitInfo)}`);
          return (await httpGet(`${prom.url}/-/ready`)).status === 200;
        },
        readyTimeoutMs,
        `prometheus on port ${port} to be ready`,
        { intervalMs: 100 },
      );
      return prom;
    } catch (err) {
      lastError = new Error(`${err.message}; prometheus stderr:\n${proc.stderrText.slice(-4000)}`);
      await proc.stop({ graceMs: 2000 });
      if (!/address already in use/.test(proc.stderrText)) break;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------
// Metric names

/**
 * Parses the text exposition format: {families: Map(name -> type),
 * samples: [{name, labels, value}]}, and `names`, the set of every sample
 * name a family declares (a histogram `h`: h_bucket, h_sum, h_count) or a
 * sample carries, so a family with no series yet still counts.
 */
export function parseExposition(text) {
  const families = new Map();
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type) {
      families.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[2]) {
      for (const lm of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  const names = new Set(samples.map((s) => s.name));
  for (const [name, type] of families) {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return { families, samples, names };
}

/** The sample name a histogram or summary sample name belongs to (h_bucket -> h), else itself. */
export function familyOf(name, families) {
  if (families.has(name)) return name;
  const m = /^(.*)_(?:bucket|sum|count)$/.exec(name);
  return m && families.has(m[1]) ? m[1] : name;
}

/**
 * wirehub's metric names in a text: wirehub_*, process_* (and up in PromQL)
 * as whole words, leaving out prefixes written with a trailing `_` or `*`
 * (`wirehub_edge_*`).
 */
export function metricNamesIn(text, { includeUp = false } = {}) {
  const names = new Set();
  for (const m of text.matchAll(/(?<![A-Za-z0-9_:.\-/])((?:wirehub|process)_[a-zA-Z0-9_:]*)(?![A-Za-z0-9_*])/g)) {
    if (!m[1].endsWith('_')) names.add(m[1]);
  }
  if (includeUp && /(?<![A-Za-z0-9_])up(?![A-Za-z0-9_(])/.test(text)) names.add('up');
  return names;
}

// ---------------------------------------------------------------------------
// Grafana dashboards

/**
 * Every PromQL query of a dashboard: panel targets (rows' nested panels
 * too) and `label_values(METRIC, LABEL)` variables, as
 * {where, expr} / {where, labelValues: {metric, label}}.
 */
export function dashboardQueries(dashboard) {
  const out = [];
  const visit = (panels) => {
    for (const panel of panels ?? []) {
      if (panel.type === 'row') {
        visit(panel.panels);
        continue;
      }
      for (const target of panel.targets ?? []) {
        if (target.hide) continue;
        out.push({ where: `panel "${panel.title}" target ${target.refId}`, expr: target.expr, legend: target.legendFormat });
      }
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const q = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    const m = /^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(q ?? '');
    if (!m) throw new Error(`variable ${variable.name}: unsupported query ${JSON.stringify(q)}`);
    out.push({ where: `variable $${variable.name}`, labelValues: { metric: m[1], label: m[2] } });
  }
  return out;
}

/**
 * Replaces Grafana's variables in expr ($name, ${name}, ${name:format},
 * [[name]]) with `values`; throws on a variable it has no value for.
 */
export function substituteVariables(expr, values) {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a, b, c) => {
    const name = a ?? b ?? c;
    if (!(name in values)) throw new Error(`no value for dashboard variable ${whole} in ${expr}`);
    return values[name];
  });
}
