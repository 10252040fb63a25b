// Configuration with namespaces, history, idempotent publish and
// PublishStream, through the real binaries.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

import { Env, binPath, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-streams');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    { name: 'conversation', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 5, history_ttl: '2s', allow_recovery: true } },
    { name: 'typing', options: { allow_subscribe_for_client: true } },
  ],
  idempotency_window: '60s',
};
let configFile;
let edge;
let control;

before(async () => {
  configFile = path.join(env.dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  control = await env.startControl([`--config=${configFile}`]);
  edge = await env.startEdge(control, { config: configFile });
});

/** Runs a binary to completion; resolves {code, stdout, stderr}. */
function run(binary, args, input = '', timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(binPath(binary), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${binary} ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

test('an unknown or mistyped config key fails start-up naming the key and the file', async () => {
  const bad = path.join(env.dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ namespaces: [{ name: 'x', options: { history_sise: 3 } }] }));
  for (const binary of ['wirehub-control', 'wirehub-edge']) {
    const args = binary === 'wirehub-control'
      ? ['--grpc_listen=127.0.0.1:0', `--config=${bad}`]
      : ['--listen=127.0.0.1:0', '--control=127.0.0.1:1', `--token_hmac_secret_file=${env.secretFile}`, `--config=${bad}`];
    const { code, stderr } = await run(binary, args);
    assert.notEqual(code, 0, `${binary} started with a bad config`);
    assert.match(stderr, /history_sise/, `${binary} did not name the key: ${stderr}`);
    assert.ok(stderr.includes(bad), `${binary} did not name the file: ${stderr}`);
  }
});

test('publishing or subscribing outside the configured namespaces is refused', async () => {
  await assert.rejects(env.publish('unknown:1', { a: 1 }), /INVALID_ARGUMENT.*namespace/);
  const raw = await env.raw(edge.url);
  await raw.connect(await env.token('ns-user'));
  raw.sendCommands({ id: 2, subscribe: { channel: 'unknown:1' } });
  const reply = await raw.reply(2);
  assert.equal(reply.error?.code, 102, JSON.stringify(reply));
  raw.sendCommands({ id: 3, subscribe: { channel: 'typing:1' } });
  assert.ok((await raw.reply(3)).subscribe);
  raw.close();
});

test('idempotent publish: a retry with the same key returns the same position and delivers once', async () => {
  const client = env.sdk(edge.url, { token: await env.token('idem-user') });
  await client.connectAndWait();
  const sub = await client.subscribeAndWait('conversation:idem');
  const publish = (data, key) =>
    env.ctl([`--control=${control.address}`, 'publish', 'conversation:idem', JSON.stringify(data), `--idempotency_key=${key}`]);
  const first = (await publish({ n: 1 }, 'k-1')).stdout.trim();
  const retry = (await publish({ n: 1 }, 'k-1')).stdout.trim();
  assert.equal(retry, first);
  const other = (await publish({ n: 2 }, 'k-2')).stdout.trim();
  assert.notEqual(other, first);
  await client.waitPublication('conversation:idem', (d) => d.n === 2, 5000, 'second publication');
  await sleep(200);
  assert.deepEqual(sub.publications.map((p) => p.data.n), [1, 2]);
  const stats = await env.stats();
  assert.equal(Number(stats.idempotent_replays), 1);
});

test('history keeps the last history_size publications for history_ttl', async () => {
  for (let i = 1; i <= 7; i++) await env.publish('conversation:hist', { i });
  const { stdout } = await env.ctl([`--control=${control.address}`, 'history', 'conversation:hist', '--limit=-1', '--json']);
  const history = JSON.parse(stdout);
  assert.equal(Number(history.offset), 7);
  assert.deepEqual(history.publications.map((p) => Number(p.offset)), [3, 4, 5, 6, 7]);
  assert.deepEqual(history.publications.map((p) => p.data.i), [3, 4, 5, 6, 7]);

  const since = JSON.parse((await env.ctl([
    `--control=${control.address}`, 'history', 'conversation:hist', '--limit=-1', '--json',
    '--since_offset=5', `--since_epoch=${history.epoch}`,
  ])).stdout);
  assert.deepEqual(since.publications.map((p) => Number(p.offset)), [6, 7]);

  await assert.rejects(
    env.ctl([`--control=${control.address}`, 'history', 'conversation:hist', '--since_offset=1', '--since_epoch=wrong']),
    /FAILED_PRECONDITION/,
  );
  await assert.rejects(env.ctl([`--control=${control.address}`, 'history', 'typing:1']), /FAILED_PRECONDITION/);

  // After history_ttl (2 s) everything has aged out; the position stays.
  const aged = await waitFor(async () => {
    const h = JSON.parse((await env.ctl([`--control=${control.address}`, 'history', 'conversation:hist', '--limit=-1', '--json'])).stdout);
    return (h.publications ?? []).length === 0 ? h : undefined;
  }, 6000, 'history to expire');
  assert.equal(Number(aged.offset), 7);
  assert.equal(aged.epoch, history.epoch);
});

test('PublishStream delivers in order and reports per-item errors without ending the stream', async () => {
  const client = env.sdk(edge.url, { token: await env.token('stream-user') });
  await client.connectAndWait();
  const sub = await client.subscribeAndWait('conversation:stream');
  const lines = [];
  for (let i = 1; i <= 200; i++) {
    if (i === 50) lines.push('bad channel!! {"i":50}');
    else if (i === 100) lines.push('conversation:stream {"i":');
    else lines.push(`conversation:stream {"i":${i}}`);
  }
  const { code, stdout, stderr } = await run('wirehubctl', [`--control=${control.address}`, 'publish-stream'], lines.join('\n') + '\n', 30_000);
  assert.equal(code, 1, `two items failed, so exit 1; stderr: ${stderr}`);
  const out = stdout.trim().split('\n');
  assert.equal(out.length, 200, stdout);
  assert.match(out[49], /^50 error=INVALID_ARGUMENT/);
  assert.match(out[99], /^100 error=INVALID_ARGUMENT .*JSON/);
  const ok = out.filter((l) => /offset=/.test(l)).map((l) => Number(/offset=(\d+)/.exec(l)[1]));
  assert.equal(ok.length, 198);
  assert.deepEqual(ok, Array.from({ length: 198 }, (_, i) => i + 1), 'offsets follow the stream order');
  await waitFor(() => sub.publications.length === 198, 10_000, '198 publications');
  const expected = Array.from({ length: 200 }, (_, i) => i + 1).filter((i) => i !== 50 && i !== 100);
  assert.deepEqual(sub.publications.map((p) => p.data.i), expected);
});
