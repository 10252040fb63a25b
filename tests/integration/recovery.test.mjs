// Recovery on subscribe (client protocol recover/epoch/offset), table-driven,
// plus continuity of recovered and live publications while publishing goes on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

import { Env, binPath, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-recovery');
after(() => env.cleanup());

const config = {
  namespaces: [
    { name: 'chat', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 5, history_ttl: '60s', allow_recovery: true } },
    { name: 'brief', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 50, history_ttl: '1s', allow_recovery: true } },
    { name: 'live', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 2000, history_ttl: '60s', allow_recovery: true } },
    { name: 'norecover', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 10, history_ttl: '60s', allow_recovery: false } },
  ],
  recovery_max_publications: 500,
};
let edge;
let token;

before(async () => {
  const file = path.join(env.dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, { config: file });
  token = await env.token('recovery-user');
});

/**
 * Publishes `count` publications {i} to `channel` through one PublishStream;
 * with `paceMs`, feeds 20 lines every paceMs so publishing spans some time.
 */
function publishMany(channel, count, from = 1, paceMs = 0) {
  const lines = Array.from({ length: count }, (_, k) => `${channel} {"i":${from + k}}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(binPath('wirehubctl'), [`--control=${env.control.address}`, 'publish-stream']);
    child.stdout.resume(); // A full pipe would block the publisher.
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('publish-stream timed out'));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      code === 0 ? resolve() : reject(new Error(`publish-stream exit ${code}: ${stderr}`));
    });
    if (!paceMs) {
      child.stdin.end(lines.join(''));
      return;
    }
    let next = 0;
    const feed = () => {
      child.stdin.write(lines.slice(next, next + 20).join(''));
      next += 20;
      if (next >= lines.length) child.stdin.end();
      else setTimeout(feed, paceMs);
    };
    feed();
  });
}

let nextId = 10;
async function subscribe(raw, channel, extra = {}) {
  const id = nextId++;
  raw.sendCommands({ id, subscribe: { channel, ...extra } });
  const reply = await raw.reply(id);
  assert.equal(reply.error, undefined, JSON.stringify(reply));
  return reply.subscribe;
}

async function client() {
  const raw = await env.raw(edge.url);
  await raw.connect(token);
  return raw;
}

/** The stream position of `channel` as a fresh subscriber sees it. */
async function position(channel) {
  const raw = await client();
  const result = await subscribe(raw, channel);
  raw.close();
  return { epoch: result.epoch, offset: Number(result.offset ?? 0) };
}

test('a plain subscribe to a channel with history reports its position', async () => {
  await publishMany('chat:pos', 3);
  const raw = await client();
  const result = await subscribe(raw, 'chat:pos');
  assert.equal(result.recoverable, true);
  assert.equal(result.positioned, true);
  assert.equal(Number(result.offset), 3);
  assert.match(result.epoch, /^[0-9a-f]{16}$/);
  assert.equal(result.publications, undefined);
  raw.close();
});

const cases = [
  {
    name: 'short gap: recovered with exactly the missing publications',
    channel: 'chat:short', before: 3, after: 2,
    from: (p) => p, expect: { recovered: true, offsets: [4, 5] },
  },
  {
    name: 'gap larger than history_size: not recovered',
    channel: 'chat:large', before: 2, after: 7,
    from: (p) => p, expect: { recovered: false, offsets: [] },
  },
  {
    name: 'gap older than history_ttl: not recovered',
    channel: 'brief:old', before: 2, after: 2, waitMs: 1600,
    from: (p) => p, expect: { recovered: false, offsets: [] },
  },
  {
    name: 'wrong epoch: not recovered',
    channel: 'chat:epoch', before: 2, after: 1,
    from: (p) => ({ ...p, epoch: 'ffffffffffffffff' }), expect: { recovered: false, offsets: [] },
  },
  {
    name: 'offset from the future: not recovered',
    channel: 'chat:future', before: 2, after: 1,
    from: (p) => ({ ...p, offset: p.offset + 100 }), expect: { recovered: false, offsets: [] },
  },
  {
    name: 'empty position: not recovered',
    channel: 'chat:empty', before: 2, after: 1,
    from: () => ({ epoch: '', offset: 0 }), expect: { recovered: false, offsets: [] },
  },
  {
    name: 'nothing missed: recovered with no publications',
    channel: 'chat:none', before: 2, after: 0,
    from: (p) => p, expect: { recovered: true, offsets: [] },
  },
  {
    name: 'more missed than recovery_max_publications: not recovered',
    channel: 'live:cap', before: 1, after: 600,
    from: (p) => p, expect: { recovered: false, offsets: [] },
  },
  {
    name: 'namespace without allow_recovery: position only',
    channel: 'norecover:x', before: 2, after: 1,
    from: (p) => p, expect: { recovered: false, offsets: [], recoverable: false },
  },
];

for (const c of cases) {
  test(`recovery: ${c.name}`, async () => {
    await publishMany(c.channel, c.before);
    const known = await position(c.channel);
    await publishMany(c.channel, c.after, c.before + 1);
    if (c.waitMs) await sleep(c.waitMs);
    const from = c.from(known);
    const raw = await client();
    const result = await subscribe(raw, c.channel, { recover: true, epoch: from.epoch, offset: from.offset });
    assert.equal(result.recovered === true, c.expect.recovered, JSON.stringify(result));
    assert.equal(result.recoverable === true, c.expect.recoverable ?? true);
    assert.equal(Number(result.offset), c.before + c.after, 'reply carries the current position');
    assert.equal(result.epoch, known.epoch);
    assert.deepEqual((result.publications ?? []).map((p) => Number(p.offset)), c.expect.offsets);
    assert.deepEqual(
      (result.publications ?? []).map((p) => p.data.i),
      c.expect.offsets,
      'publication data matches its offset',
    );
    if (c.expect.recoverable !== false) assert.equal(result.was_recovering, true);
    raw.close();
  });
}

test('recovered and live publications join with no gap and no duplicate while publishing', async () => {
  const channel = 'live:flow';
  await publishMany(channel, 5);
  const known = await position(channel);
  // Below recovery_max_publications, so recovery succeeds whatever the
  // timing; paced over ~400 ms so the subscribe lands mid-flow.
  const total = 400;
  const publishing = publishMany(channel, total, 6, 20);
  await sleep(150);
  const raw = await client();
  const result = await subscribe(raw, channel, { recover: true, epoch: known.epoch, offset: known.offset });
  assert.equal(result.recovered, true, JSON.stringify({ ...result, publications: result.publications?.length }));
  await publishing;
  const offsets = () => [
    ...(result.publications ?? []).map((p) => Number(p.offset)),
    ...raw.messages.filter((m) => m.push?.channel === channel && m.push.pub).map((m) => Number(m.push.pub.offset)),
  ];
  await waitFor(() => offsets().length >= total, 15_000, `${total} publications`);
  await sleep(200);
  const got = offsets();
  assert.equal(got.length, total, 'no duplicates');
  assert.deepEqual(got, Array.from({ length: total }, (_, k) => known.offset + 1 + k), 'in order, no gap');
  raw.close();
});

test('client history command: subscribers of a channel with history can read it', async () => {
  await publishMany('chat:read', 4);
  const raw = await client();
  raw.sendCommands({ id: 90, history: { channel: 'chat:read', limit: 10 } });
  assert.equal((await raw.reply(90)).error?.code, 103, 'not subscribed: permission denied');
  const sub = await subscribe(raw, 'chat:read');
  raw.sendCommands({ id: 91, history: { channel: 'chat:read', limit: 2, reverse: true } });
  const newest = (await raw.reply(91)).history;
  assert.deepEqual(newest.publications.map((p) => p.data.i), [4, 3]);
  assert.equal(Number(newest.offset), 4);
  raw.sendCommands({ id: 92, history: { channel: 'chat:read', limit: -1, since: { offset: 2, epoch: sub.epoch } } });
  assert.deepEqual((await raw.reply(92)).history.publications.map((p) => Number(p.offset)), [3, 4]);
  raw.sendCommands({ id: 93, history: { channel: 'chat:read', limit: -1, since: { offset: 2, epoch: 'nope' } } });
  assert.equal((await raw.reply(93)).error?.code, 112, 'unrecoverable position');
  raw.close();
});
