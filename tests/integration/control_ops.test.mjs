// wirehub-control operability (issue 14): the admin listener's /metrics,
// /healthz and /readyz; the drain on SIGTERM (unready at once, serving
// through --drain_delay, then UNAVAILABLE, exit 0, lifecycle events); the
// live reload of --config on SIGHUP (a namespace added, an invalid file
// refused with the old configuration kept, API keys added and removed).
// gRPC health per service while draining is checked by control_server_test
// (the C++ stub; there is no gRPC client for node in node_modules).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';

import { CTL_TIMEOUT_MS, Env, binPath, recordSecret, waitFor, withTimeout } from './harness.mjs';

const env = new Env('wirehub-control-ops');
after(() => env.cleanup());

/** GET of `path` on the admin listener; resolves {status, body}. */
async function admin(proc, path) {
  const response = await fetch(`http://127.0.0.1:${proc.adminPort}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text(), type: response.headers.get('content-type') };
}

/** The value of one series in a /metrics text, or undefined. */
function sample(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Runs wirehubctl; resolves {code, stdout, stderr} whatever the exit status. */
function ctl(args) {
  return new Promise((resolve) => {
    execFile(binPath('wirehubctl'), args, { timeout: CTL_TIMEOUT_MS, killSignal: 'SIGKILL', cwd: env.dir }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 'killed') : 0, stdout, stderr }),
    );
  });
}

function publishWith(control, channel, { key } = {}) {
  const args = [`--control=${control.address}`];
  if (key) args.push(`--api_key=${key}`);
  return ctl([...args, 'publish', channel, '{"n":1}']);
}

test('the admin listener serves metrics, health and readiness', async () => {
  const config = env.writeConfig('ops-metrics.json', { namespaces: [{ name: 'news' }, { name: 'chat' }] });
  const control = await env.startControl([`--config=${config}`]);
  assert.ok(control.adminPort > 0, `admin port from ${JSON.stringify(control.stdoutLines)}`);
  // The admin line comes first.
  assert.match(control.stdoutLines[0], /^wirehub-control: admin listening on 127\.0\.0\.1:\d+$/);

  await env.publish('news:1', { n: 1 }, control);
  await env.publish('news:2', { n: 2 }, control);
  await assert.rejects(env.publish('unknown:1', { n: 1 }, control), /INVALID_ARGUMENT/);
  await assert.rejects(env.publish('news:1', 'not json', control), /INVALID_ARGUMENT/);

  const metrics = await admin(control, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
  const text = metrics.body;
  assert.equal(sample(text, 'wirehub_control_publications_total{namespace="news"}'), 2, text);
  assert.equal(sample(text, 'wirehub_control_api_calls_total{method="Publish",code="OK"}'), 2, text);
  assert.equal(sample(text, 'wirehub_control_api_calls_total{method="Publish",code="INVALID_ARGUMENT"}'), 2, text);
  assert.equal(sample(text, 'wirehub_control_publication_refusals_total{namespace="",reason="unknown_namespace"}'), 1, text);
  assert.equal(sample(text, 'wirehub_control_publication_refusals_total{namespace="news",reason="not_json"}'), 1, text);
  assert.equal(sample(text, 'wirehub_control_api_call_duration_seconds_count{method="Publish"}'), 4, text);
  assert.equal(sample(text, 'wirehub_control_engine_up{engine="memory"}'), 1, text);
  assert.equal(sample(text, 'wirehub_control_ready'), 1, text);
  assert.equal(sample(text, 'wirehub_control_draining'), 0, text);
  assert.equal(sample(text, 'wirehub_config_version'), 1, text);
  assert.ok(sample(text, 'process_resident_memory_bytes') > 0, text);
  assert.doesNotMatch(text, /namespace="unknown"/, 'a refused namespace never becomes a label');

  assert.deepEqual(await admin(control, '/healthz').then(({ status, body }) => ({ status, body })), { status: 200, body: 'ok\n' });
  assert.deepEqual(await admin(control, '/readyz').then(({ status, body }) => ({ status, body })), { status: 200, body: 'ready\n' });
  assert.equal((await admin(control, '/nothing')).status, 404);

  // An edge attaches: counted, with its queue.
  await env.startEdge(control, { edge_id: 'ops-edge' });
  await waitFor(async () => sample((await admin(control, '/metrics')).body, 'wirehub_control_edges') === 1, 10_000, 'wirehub_control_edges 1');
  const withEdge = (await admin(control, '/metrics')).body;
  assert.equal(sample(withEdge, 'wirehub_control_edge_attaches_total'), 1, withEdge);
  assert.equal(sample(withEdge, 'wirehub_control_edge_queue_publications{edge="ops-edge"}'), 0, withEdge);
});

test('a taken admin port is a start-up error: exit 1 naming the address', async () => {
  const first = await env.startControl();
  const second = env
    .spawnBinary('wirehub-control[admin taken]', 'wirehub-control', [
      '--grpc_listen=127.0.0.1:0',
      '--edge_listen=127.0.0.1:0',
      `--admin_listen=127.0.0.1:${first.adminPort}`,
    ])
    .expectExit({ code: 1 });
  const info = await withTimeout(second.exited, 10_000, 'the second control to exit');
  assert.deepEqual(info, { code: 1, signal: null }, second.stderrText);
  assert.ok(second.stderrText.includes(`127.0.0.1:${first.adminPort}`), second.stderrText);
  assert.equal((await admin(first, '/healthz')).status, 200);
});

test('SIGTERM: unready at once, served through --drain_delay, then UNAVAILABLE and exit 0', async () => {
  const control = await env.startControl(['--drain_delay=3s']);
  await env.publish('before', { n: 1 }, control);
  const edge = await env.startEdge(control, { edge_id: 'drained-edge' });
  await waitFor(async () => sample((await admin(control, '/metrics')).body, 'wirehub_control_edges') === 1, 10_000, 'the edge attached');

  control.child.kill('SIGTERM');
  await waitFor(async () => (await admin(control, '/readyz')).status === 503, 5000, '/readyz 503');
  const readyz = await admin(control, '/readyz');
  assert.equal(readyz.body, 'draining\n');
  const metrics = (await admin(control, '/metrics')).body;
  assert.equal(sample(metrics, 'wirehub_control_draining'), 1, metrics);
  assert.equal(sample(metrics, 'wirehub_control_ready'), 0, metrics);
  // Liveness is not readiness.
  assert.equal((await admin(control, '/healthz')).status, 200);
  // The delay: calls are still served.
  const during = await publishWith(control, 'during');
  assert.equal(during.code, 0, during.stderr);

  // Then UNAVAILABLE ("draining" or the listener gone), and a clean exit.
  await waitFor(async () => /UNAVAILABLE/.test((await publishWith(control, 'after')).stderr), 10_000, 'Publish answered UNAVAILABLE');
  const info = await withTimeout(control.exited, 10_000, 'control to exit after the drain');
  assert.deepEqual(info, { code: 0, signal: null }, control.stderrText);
  for (const event of ['drain_started', 'draining_api', 'edges_closed', 'stopped']) {
    assert.match(control.stderrText, new RegExp(`event[=":]+${event}`), `no ${event} event in:\n${control.stderrText}`);
  }
  assert.match(control.stderrText, /edges_closed.*edges[=":]+1/, control.stderrText);
  assert.ok(edge.running, 'the edge outlives its control (it re-attaches elsewhere)');
});

test('a second SIGTERM cuts the drain delay short', async () => {
  const control = await env.startControl(['--drain_delay=60s']);
  control.child.kill('SIGTERM');
  await waitFor(async () => (await admin(control, '/readyz')).status === 503, 5000, '/readyz 503');
  control.child.kill('SIGTERM');
  const info = await withTimeout(control.exited, 10_000, 'control to exit after the second SIGTERM');
  assert.deepEqual(info, { code: 0, signal: null }, control.stderrText);
});

test('SIGHUP reloads --config: a namespace added, an invalid file refused, API keys added and removed', async () => {
  const file = env.writeConfig('ops-reload.json', { namespaces: [{ name: 'news' }] });
  const control = await env.startControl([`--config=${file}`]);
  const hangUp = () => control.child.kill('SIGHUP');
  const version = async () => sample((await admin(control, '/metrics')).body, 'wirehub_config_version');

  assert.match((await publishWith(control, 'sports:1')).stderr, /INVALID_ARGUMENT.*namespace/);
  fs.writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'news' }, { name: 'sports' }] }));
  hangUp();
  await waitFor(async () => (await version()) === 2, 10_000, 'wirehub_config_version 2');
  const sports = await publishWith(control, 'sports:1');
  assert.equal(sports.code, 0, sports.stderr);
  assert.match(control.stderrText, /config_reloaded.*version[=":]+2/);

  // An invalid file: an ERROR naming the problem; version 2 stays in force.
  fs.writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'news', options: { history_sise: 3 } }] }));
  hangUp();
  await waitFor(
    async () => sample((await admin(control, '/metrics')).body, 'wirehub_config_reloads_total{result="error"}') === 1,
    10_000,
    'the refused reload counted',
  );
  assert.match(control.stderrText, /refused.*history_sise/);
  assert.equal(await version(), 2);
  assert.equal((await publishWith(control, 'sports:2')).code, 0);

  // An API key added: calls need it from then on.
  const key = recordSecret(`wh_${randomBytes(24).toString('hex')}`, 'an API key of control_ops');
  const sha256 = createHash('sha256').update(key).digest('hex');
  fs.writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'news' }], api_keys: [{ name: 'ops', sha256, scope: 'full' }] }));
  hangUp();
  await waitFor(async () => (await version()) === 3, 10_000, 'wirehub_config_version 3');
  assert.match((await publishWith(control, 'news:1')).stderr, /UNAUTHENTICATED/);
  assert.equal((await publishWith(control, 'news:1', { key })).code, 0);
  assert.match((await publishWith(control, 'sports:3', { key })).stderr, /INVALID_ARGUMENT.*namespace/);

  // And removed again.
  fs.writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'news' }] }));
  hangUp();
  await waitFor(async () => (await version()) === 4, 10_000, 'wirehub_config_version 4');
  assert.equal((await publishWith(control, 'news:1')).code, 0);
  const metrics = (await admin(control, '/metrics')).body;
  assert.equal(sample(metrics, 'wirehub_config_reloads_total{result="ok"}'), 3, metrics);
  assert.ok(!control.stderrText.includes(key), 'the key never reaches the log');
});
