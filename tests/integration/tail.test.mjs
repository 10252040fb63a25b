// wirehubctl tail CHANNEL (issue #4, point 8): a WebSocket subscriber that
// prints publications as they arrive, over ws:// or wss:// (the edge's
// certificate verified with --tls_ca_file, by IP address and by name).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { Env, binPath, sleep, u64, waitFor } from './harness.mjs';
import { makeCa, makeServerCert } from './tls_util.mjs';

const env = new Env('wirehub-tail');
const tails = new Set();
after(async () => {
  for (const t of tails) t.child.kill('SIGKILL');
  await env.cleanup();
});

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    { name: 'news', options: { allow_subscribe_for_client: true, history_size: 10, history_ttl: '60s', allow_recovery: true } },
    { name: 'private', options: {} },
  ],
};

let edge;
let control;
let configFile;

before(async () => {
  configFile = env.writeConfig('config.json', config);
  control = await env.startControl([`--config=${configFile}`]);
  edge = await env.startEdge(control, { edge_id: 'edge-tail', config: configFile });
});

/** Spawns wirehubctl tail; collects stdout lines and stderr; `exited` resolves {code, signal}. */
function startTail(channel, args = []) {
  const child = spawn(
    binPath('wirehubctl'),
    ['tail', channel, `--url=${edge.url}`, `--token_hmac_secret_file=${env.secretFile}`, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: env.dir },
  );
  const t = { child, lines: [], stderr: '', buffered: '' };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    t.buffered += chunk;
    let nl;
    while ((nl = t.buffered.indexOf('\n')) >= 0) {
      t.lines.push(t.buffered.slice(0, nl));
      t.buffered = t.buffered.slice(nl + 1);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => (t.stderr += chunk));
  t.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.exited.then(() => tails.delete(t));
  tails.add(t);
  return t;
}

async function waitSubscribers(channel, n) {
  await env.waitStats(
    (s) => u64((s.top_channels ?? []).find((c) => c.channel === channel)?.subscribers) === n,
    10_000,
    `${n} subscriber(s) on ${channel}`,
  );
}

test('tail prints each publication on its own line as it arrives', async () => {
  const t = startTail('news:1', ['--user=tailer']);
  await waitSubscribers('news:1', 1);
  await env.publish('news:1', { n: 1, text: 'first' });
  await waitFor(() => t.lines.length >= 1, 5000, `first line; stderr: ${t.stderr}`);
  assert.deepEqual(JSON.parse(t.lines[0]), { n: 1, text: 'first' });
  // Multi-line JSON prints on one line.
  await env.publish('news:1', '{\n  "n": 2\n}');
  await env.publish('news:1', { n: 3 });
  await waitFor(() => t.lines.length >= 3, 5000, `three lines; got ${JSON.stringify(t.lines)}`);
  assert.deepEqual(t.lines.map((l) => JSON.parse(l).n), [1, 2, 3]);
  assert.ok(!t.lines[1].includes('\n'));
  t.child.kill('SIGTERM');
  const exit = await Promise.race([t.exited, sleep(5000).then(() => null)]);
  assert.ok(exit, 'tail exits on SIGTERM');
  await waitSubscribers('news:1', 0);
});

test('tail --count=N --offsets exits 0 after N publications, each line led by its offset', async () => {
  const t = startTail('news:2', ['--user=tailer', '--count=2', '--offsets']);
  await waitSubscribers('news:2', 1);
  const a = await env.publish('news:2', { a: 1 });
  const b = await env.publish('news:2', { b: 2 });
  const exit = await Promise.race([t.exited, sleep(5000).then(() => null)]);
  assert.ok(exit, `tail did not exit after 2 publications; lines ${JSON.stringify(t.lines)}; stderr ${t.stderr}`);
  assert.equal(exit.code, 0, t.stderr);
  assert.deepEqual(t.lines, [`${a.offset} {"a":1}`, `${b.offset} {"b":2}`]);
});

test('tail on a private channel: refused without a subscription token (exit 1, 103), works with --sub_token', async () => {
  const refused = startTail('private:1', ['--user=tailer', '--timeout=5s']);
  const exit = await Promise.race([refused.exited, sleep(6000).then(() => null)]);
  assert.ok(exit, 'refused tail exits');
  assert.equal(exit.code, 1);
  assert.match(refused.stderr, /error: subscribe: 103/);

  const ok = startTail('private:1', ['--user=tailer', `--sub_token=${env.subToken('tailer', 'private:1')}`, '--count=1']);
  await waitSubscribers('private:1', 1);
  await env.publish('private:1', { secret: true });
  const done = await Promise.race([ok.exited, sleep(5000).then(() => null)]);
  assert.ok(done, `tail exits after one publication; stderr ${ok.stderr}`);
  assert.equal(done.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.lines[0]), { secret: true });
});

test('tail reports a server disconnect on stderr and exits 1', async () => {
  const t = startTail('news:3', ['--user=tail-kicked']);
  await waitSubscribers('news:3', 1);
  await env.ctlCount(['disconnect', '--user=tail-kicked']);
  const exit = await Promise.race([t.exited, sleep(5000).then(() => null)]);
  assert.ok(exit, 'tail exits when disconnected');
  assert.equal(exit.code, 1);
  assert.match(t.stderr, /closed: 3503/);
});

test('tail over wss: --tls_ca_file verifies the edge by IP address and by name; another CA is refused', async () => {
  const pki = path.join(env.dir, 'tail-pki');
  const ca = await makeCa(pki, 'tail edge CA');
  const other = await makeCa(pki, 'another CA');
  const pair = await makeServerCert(pki, ca, { name: 'edge-tail-wss', serial: 0x7a11n, keyType: 'ec' });
  const wss = await env.startEdge(control, {
    edge_id: 'edge-tail-wss', config: configFile, tls_cert_file: pair.cert, tls_key_file: pair.key,
  });
  assert.match(wss.url, /^wss:\/\/127\.0\.0\.1:\d+\//);
  const byName = wss.url.replace('127.0.0.1', 'localhost');
  for (const [i, url] of [wss.url, byName].entries()) {
    const channel = `news:wss${i}`;
    const t = startTail(channel, ['--user=tailer', '--count=1', `--url=${url}`, `--tls_ca_file=${ca.cert}`, '--timeout=10s']);
    await waitSubscribers(channel, 1);
    await env.publish(channel, { over: 'tls', i });
    const exit = await Promise.race([t.exited, sleep(10_000).then(() => null)]);
    assert.ok(exit, `tail over ${url} exits after one publication; stderr ${t.stderr}`);
    assert.equal(exit.code, 0, t.stderr);
    assert.deepEqual(JSON.parse(t.lines[0]), { over: 'tls', i });
  }

  const refused = startTail('news:wss', ['--user=tailer', `--url=${wss.url}`, `--tls_ca_file=${other.cert}`, '--timeout=5s']);
  const exit = await Promise.race([refused.exited, sleep(6000).then(() => null)]);
  assert.ok(exit, 'tail with another CA exits');
  assert.equal(exit.code, 1);
  // The edge sends its chain (leaf and CA), so OpenSSL finds a CA it does not trust.
  assert.match(
    refused.stderr,
    /^error: connect: TLS handshake with 127\.0\.0\.1:\d+ failed: certificate verify failed \(self-signed certificate in certificate chain\)\n$/,
  );
});
