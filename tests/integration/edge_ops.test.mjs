// The edge's operations (issue 14): its admin listener's /healthz and
// /readyz, readiness following the control link (control killed under the
// edge, then restarted on the same link address), a drain that closes its
// clients with 3001 in waves spread over --drain_duration after
// --drain_delay (unready at once, still accepting during the delay, /metrics
// answering throughout, exit 0 in time; a second SIGTERM closes every client
// at once), a taken admin port (exit 1), and a live config reload on SIGHUP
// (a vanished namespace's subscription ends with unsubscribe push 2000, a
// changed one keeps delivering and new commands follow the new rules; an
// invalid file is refused and the old config stays).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { Env, RawClient, sleep, waitFor, withTimeout } from './harness.mjs';

const env = new Env('wirehub-edge-ops');
after(() => env.cleanup());

// The control the tests use; the first test replaces it.
let control = null;
async function liveControl() {
  control ??= await env.startControl();
  return control;
}

/** GET http://address/path; resolves with {status, body}. */
function get(address, path, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${path}`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on ${address} timed out`)));
    req.on('error', reject);
  });
}

/** The value of the sample `series` (name with labels, exactly) in a /metrics body. */
function sample(body, series) {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function connected(url, user) {
  const c = await RawClient.open(url);
  env.clients.push(c);
  await c.connect(env.connToken({ sub: user }));
  return c;
}

test('/healthz answers from the loop; /readyz follows the control link', async () => {
  const first = await env.startControl();
  const edge = await env.startEdge(first, { link_ready_timeout: '1s', edge_id: 'readiness' });
  assert.ok(edge.adminPort > 0, 'the harness read the admin port from the banner');

  const health = await get(edge.adminAddress, '/healthz');
  assert.deepEqual(health, { status: 200, body: 'ok\n' });
  // Attached, not merely inside --link_ready_timeout since start (a slow,
  // sanitized build may answer /readyz before the link is up).
  await waitFor(
    async () => (await get(edge.adminAddress, '/metrics')).body.includes('\nwirehub_edge_control_link_up 1\n'),
    10_000,
    'the control link up',
  );
  await waitFor(async () => (await get(edge.adminAddress, '/readyz')).status === 200, 5000, '/readyz 200');
  assert.equal((await get(edge.adminAddress, '/readyz')).body, 'ready\n');
  const missing = await get(edge.adminAddress, '/nope');
  assert.equal(missing.status, 404);

  // Control dies: once the link has been detached for more than 1s the edge
  // is not ready, and says why; it stays healthy.
  first.expectExit({ signal: 'SIGKILL' });
  first.child.kill('SIGKILL');
  await first.exited;
  const notReady = await waitFor(
    async () => {
      const r = await get(edge.adminAddress, '/readyz');
      return r.status === 503 ? r : undefined;
    },
    8000,
    '/readyz 503 after control died',
    { intervalMs: 100 },
  );
  assert.match(notReady.body, /^control link detached for \d+s\n$/);
  assert.equal((await get(edge.adminAddress, '/healthz')).status, 200);

  // Control back on the same link address: ready again.
  control = await env.startControl([`--edge_listen=${first.edgeAddress}`]);
  await waitFor(async () => (await get(edge.adminAddress, '/readyz')).status === 200, 15_000, '/readyz 200 after control came back', {
    intervalMs: 100,
  });
  await edge.stop();
});

test('SIGTERM drains: unready at once, accepting during the delay, 3001 in waves, exit 0', async () => {
  const DELAY_MS = 1000;
  const DURATION_MS = 3000;
  const CLIENTS = 60;
  await liveControl();
  const edge = await env.startEdge(control, { drain_delay: `${DELAY_MS}ms`, drain_duration: `${DURATION_MS}ms`, edge_id: 'drain' });
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connected(edge.url, `user-${i}`)));
  // Attached, not merely inside --link_ready_timeout since start (a slow,
  // sanitized build may answer /readyz before the link is up).
  await waitFor(
    async () => (await get(edge.adminAddress, '/metrics')).body.includes('\nwirehub_edge_control_link_up 1\n'),
    10_000,
    'the control link up',
  );
  await waitFor(async () => (await get(edge.adminAddress, '/readyz')).status === 200, 5000, '/readyz 200');

  const sigterm = Date.now();
  edge.child.kill('SIGTERM');
  const draining = await waitFor(
    async () => {
      const r = await get(edge.adminAddress, '/readyz');
      return r.status === 503 ? r : undefined;
    },
    DELAY_MS / 2,
    '/readyz 503 right after SIGTERM',
    { intervalMs: 10 },
  );
  assert.equal(draining.body, 'draining\n');
  // Still accepting during the delay: a late client connects, and is drained
  // with the others.
  const late = await connected(edge.url, 'late');
  assert.ok(Date.now() - sigterm < DELAY_MS, 'the late client connected within the delay');
  clients.push(late);

  // /metrics answers while the edge drains.
  const scrapes = [];
  const scraping = (async () => {
    while (edge.running && Date.now() - sigterm < DELAY_MS + DURATION_MS) {
      scrapes.push(await get(edge.adminAddress, '/metrics').catch((e) => ({ status: 0, body: e.message })));
      await sleep(250);
    }
  })();

  // After the delay no new connection gets through.
  await sleep(DELAY_MS + 600 - (Date.now() - sigterm));
  await assert.rejects(RawClient.open(edge.url, {}, 2000), 'a connection after accepting stopped');

  const closes = await Promise.all(clients.map((c) => c.waitClose(DELAY_MS + DURATION_MS + 5000)));
  await scraping;
  const info = await withTimeout(edge.exited, 5000, 'the drained edge to exit');
  assert.deepEqual({ code: info.code, signal: info.signal }, { code: 0, signal: null });
  const exitedAfter = Date.now() - sigterm;

  for (const close of closes) assert.equal(close.code, 3001, JSON.stringify(close));
  const times = closes.map((c) => c.at - sigterm).sort((a, b) => a - b);
  assert.ok(times[0] >= DELAY_MS - 100, `first close ${times[0]} ms after SIGTERM, before the delay ended`);
  assert.ok(times.at(-1) <= DELAY_MS + DURATION_MS + 1000, `last close ${times.at(-1)} ms after SIGTERM`);
  // Spread: no third of a second holds more than half of the clients (all
  // at once would put every one of them in one window).
  let crowded = 0;
  for (let i = 0, j = 0; i < times.length; ++i) {
    while (times[i] - times[j] > 333) ++j;
    crowded = Math.max(crowded, i - j + 1);
  }
  assert.ok(crowded <= times.length / 2, `${crowded} of ${times.length} closes within 1/3 s: ${JSON.stringify(times)}`);
  assert.ok(exitedAfter < DELAY_MS + DURATION_MS + 3000, `exited ${exitedAfter} ms after SIGTERM`);

  assert.ok(scrapes.length >= 3, `scrapes during the drain: ${scrapes.length}`);
  for (const scrape of scrapes) {
    assert.equal(scrape.status, 200, scrape.body.slice(0, 200));
    assert.match(scrape.body, /^wirehub_config_version 1$/m);
  }
  for (const event of ['drain_started', 'accepting_stopped', 'drain_finished']) {
    assert.match(edge.stderrText, new RegExp(`event=${event}\\b|"event":"${event}"`), `${event} logged`);
  }
});

test('a second SIGTERM cuts the drain short: every client closed with 3001 at once', async () => {
  await liveControl();
  const edge = await env.startEdge(control, { drain_delay: '30s', drain_duration: '30s', edge_id: 'hurried' });
  const clients = await Promise.all(Array.from({ length: 5 }, (_, i) => connected(edge.url, `hurried-${i}`)));
  edge.child.kill('SIGTERM');
  await waitFor(() => /drain_started/.test(edge.stderrText), 5000, 'the drain to start');
  await sleep(200);
  for (const c of clients) assert.ok(c.isOpen, 'served during the delay');
  edge.child.kill('SIGTERM');
  const closes = await Promise.all(clients.map((c) => c.waitClose(3000)));
  for (const close of closes) assert.equal(close.code, 3001);
  const info = await withTimeout(edge.exited, 5000, 'the hurried edge to exit');
  assert.deepEqual({ code: info.code, signal: info.signal }, { code: 0, signal: null });
});

test('SIGHUP reloads the config: vanished namespaces unsubscribe (2000), changed ones keep working', async () => {
  await liveControl();
  const config = (keep) => ({ defaults: { allow_subscribe_for_client: true }, namespaces: [keep] });
  const file = env.writeConfig('reload.json', {
    defaults: { allow_subscribe_for_client: true },
    namespaces: [
      { name: 'keep', options: { allow_subscribe_for_client: true } },
      { name: 'gone', options: { allow_subscribe_for_client: true } },
    ],
  });
  const edge = await env.startEdge(control, { config: file, edge_id: 'reload' });
  const c = await connected(edge.url, 'alice');
  c.sendCommands({ id: 2, subscribe: { channel: 'keep:1' } }, { id: 3, subscribe: { channel: 'gone:1' } });
  assert.ok((await c.reply(2)).subscribe, 'subscribed to keep:1');
  assert.ok((await c.reply(3)).subscribe, 'subscribed to gone:1');
  c.sendCommands({ id: 4, publish: { channel: 'keep:1', data: { n: 0 } } });
  assert.equal((await c.reply(4)).error?.code, 103, 'client publish not allowed before the reload');

  // keep: now open to client publications; gone: removed.
  env.writeConfig('reload.json', config({ name: 'keep', options: { allow_subscribe_for_client: true, allow_publish_for_client: true } }));
  edge.child.kill('SIGHUP');
  const push = await c.waitMessage((m) => m.push?.channel === 'gone:1', 5000, 'the unsubscribe push of gone:1');
  assert.equal(push.push.unsubscribe?.code, 2000, JSON.stringify(push));
  await waitFor(() => /config_reloaded/.test(edge.stderrText), 5000, 'the config_reloaded log line');
  assert.match(edge.stderrText, /config_reloaded.*version.{0,3}2|version.{0,3}2.*config_reloaded/);

  // The changed namespace's subscription goes on; new commands follow the new rules.
  await env.publish('keep:1', { n: 1 }, control);
  await c.waitMessage((m) => m.push?.channel === 'keep:1' && m.push.pub?.data?.n === 1, 5000, 'publication on keep:1');
  c.sendCommands({ id: 5, publish: { channel: 'keep:1', data: { n: 2 } } });
  assert.deepEqual((await c.reply(5)).publish, {}, 'client publish allowed after the reload');
  c.sendCommands({ id: 6, subscribe: { channel: 'gone:2' } });
  assert.equal((await c.reply(6)).error?.code, 102, 'gone is an unknown namespace now');
  let metrics = (await get(edge.adminAddress, '/metrics')).body;
  assert.equal(sample(metrics, 'wirehub_config_version'), 2);
  assert.equal(sample(metrics, 'wirehub_config_reloads_total{result="ok"}'), 1);

  // An invalid file is refused: one ERROR line naming the problem, and the
  // config in force stays.
  env.writeConfig('reload.json', { defaults: { allow_subscribe_for_clent: true } });
  edge.child.kill('SIGHUP');
  await waitFor(() => /allow_subscribe_for_clent/.test(edge.stderrText), 5000, 'the refused reload logged');
  const refusal = edge.stderrText.split('\n').find((l) => /allow_subscribe_for_clent/.test(l));
  assert.match(refusal, /^E |"level":"error"/, refusal);
  metrics = (await get(edge.adminAddress, '/metrics')).body;
  assert.equal(sample(metrics, 'wirehub_config_version'), 2);
  assert.equal(sample(metrics, 'wirehub_config_reloads_total{result="error"}'), 1);
  c.sendCommands({ id: 7, publish: { channel: 'keep:1', data: { n: 3 } } });
  assert.deepEqual((await c.reply(7)).publish, {}, 'the reloaded rules stay in force');
  await env.publish('keep:1', { n: 4 }, control);
  await c.waitMessage((m) => m.push?.channel === 'keep:1' && m.push.pub?.data?.n === 4, 5000, 'publication on keep:1 after the refused reload');
  await edge.stop();
});

test('a taken --admin_listen port stops the edge with status 1, naming the address', async () => {
  await liveControl();
  const first = await env.startEdge(control, { edge_id: 'holder' });
  const edge = env.spawnBinary('wirehub-edge[taken-admin]', 'wirehub-edge', [
    '--listen=127.0.0.1:0',
    `--admin_listen=${first.adminAddress}`,
    `--control=${control.edgeAddress}`,
    `--token_hmac_secret_file=${env.secretFile}`,
  ]);
  edge.expectExit({ code: 1 });
  edge.child.stdout.resume();
  const info = await withTimeout(edge.exited, 10_000, 'the edge on a taken admin port to exit');
  assert.equal(info.code, 1, edge.stderrText);
  await sleep(50);
  assert.ok(edge.stderrText.includes(first.adminAddress), edge.stderrText);
});
