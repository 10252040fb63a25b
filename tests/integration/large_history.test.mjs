// Channels whose kept history is larger than one gRPC message (~2.2 MB):
// subscribing, recovering a few, recovery refused by count or by size, and
// gap repair all keep working. Each channel gets about 10 MB of history
// (200 publications of ~50 KB) before its test.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-large-history');
after(() => env.cleanup());

const PUBLICATIONS = 200;
const PAD_BYTES = 50_000; // JSON of ~50 KB each, under control's 64 KiB payload limit
const SUBSCRIBE_BOUND_MS = 15_000;

const namespace = {
  name: 'big',
  options: {
    allow_subscribe_for_client: true,
    allow_history_for_subscriber: true,
    allow_recovery: true,
    history_size: 1000,
    history_ttl: '600s',
  },
};

let capped; // {control, edge}: recovery_max_publications 50
let wide; // {control, edge}: recovery_max_publications 1000

before(async () => {
  const cappedFile = env.writeConfig('capped.json', { namespaces: [namespace], recovery_max_publications: 50 });
  const wideFile = env.writeConfig('wide.json', { namespaces: [namespace], recovery_max_publications: 1000 });
  const cappedControl = await env.startControl([`--config=${cappedFile}`]);
  const wideControl = await env.startControl([`--config=${wideFile}`]);
  capped = {
    control: cappedControl,
    file: cappedFile,
    edge: await env.startEdge(cappedControl, { config: cappedFile, edge_id: 'edge-capped' }),
  };
  wide = {
    control: wideControl,
    file: wideFile,
    edge: await env.startEdge(wideControl, { config: wideFile, edge_id: 'edge-wide' }),
  };
});

const pad = 'x'.repeat(PAD_BYTES);

/** Publishes `count` publications {i, pad} of ~50 KB to `channel`; returns their positions. */
async function fill(channel, control, count = PUBLICATIONS, from = 1) {
  const lines = Array.from({ length: count }, (_, k) => `${channel} ${JSON.stringify({ i: from + k, pad })}`);
  const positions = await env.publishLines(lines, { control, timeoutMs: 60_000 });
  assert.deepEqual(
    positions.map((p) => p.offset),
    Array.from({ length: count }, (_, k) => from + k),
    'publications took consecutive offsets',
  );
  return positions;
}

async function sdkClient(edge, user) {
  const c = env.sdk(edge.url, { token: env.connToken({ sub: user }) });
  await c.connectAndWait();
  return c;
}

/**
 * Subscribes `rec` (already created) and waits for `subscribed`; the failure
 * names the errors the SDK reported meanwhile (each a retried subscribe).
 */
async function subscribed(rec, what) {
  rec.sub.subscribe();
  try {
    const ev = await waitFor(
      () => rec.events.find((e) => e.name === 'subscribed' || e.name === 'unsubscribed'),
      SUBSCRIBE_BOUND_MS,
      what,
    );
    assert.equal(ev.name, 'subscribed', `${what}: ended unsubscribed ${JSON.stringify(ev.ctx)}`);
    return ev.ctx;
  } catch (err) {
    const errors = rec.events.filter((e) => e.name === 'error').map((e) => e.ctx.error);
    err.message += `; subscribe errors meanwhile (${errors.length}): ${JSON.stringify(errors.slice(0, 3))}`;
    throw err;
  }
}

const errorsOf = (rec) => rec.events.filter((e) => e.name === 'error').map((e) => e.ctx.error);

test('a plain subscribe to a channel with ~10 MB of history succeeds and later publications arrive', async () => {
  const channel = 'big:plain';
  const positions = await fill(channel, capped.control);
  const top = positions.at(-1);
  const client = await sdkClient(capped.edge, 'plain-user');
  const rec = client.newSubscription(channel);
  const ctx = await subscribed(rec, `subscribe to ${channel}`);
  assert.deepEqual(errorsOf(rec), [], 'no subscribe error on the way');
  assert.equal(ctx.recoverable, true, JSON.stringify(ctx));
  assert.equal(ctx.positioned, true, JSON.stringify(ctx));
  assert.equal(Number(ctx.streamPosition.offset), top.offset, 'reports the stream position');
  assert.equal(ctx.streamPosition.epoch, top.epoch);

  for (let n = 1; n <= 3; n++) await env.publish(channel, { live: n }, capped.control);
  await waitFor(() => rec.publications.length >= 3, 5000, '3 live publications');
  await sleep(200);
  assert.deepEqual(rec.publications.map((p) => p.data.live), [1, 2, 3]);
  assert.deepEqual(rec.publications.map((p) => Number(p.offset)), [top.offset + 1, top.offset + 2, top.offset + 3]);
  assert.deepEqual(errorsOf(rec), []);
  client.close();
});

test('recovering the last 3 of ~10 MB of history: recovered with exactly those 3, in order', async () => {
  const channel = 'big:few';
  const positions = await fill(channel, capped.control);
  const top = positions.at(-1);
  const client = await sdkClient(capped.edge, 'few-user');
  const rec = client.newSubscription(channel, {
    since: { offset: top.offset - 3, epoch: top.epoch },
    recoverable: true,
    positioned: true,
  });
  const ctx = await subscribed(rec, `recovering subscribe to ${channel}`);
  assert.deepEqual(errorsOf(rec), [], 'no subscribe error on the way');
  assert.equal(ctx.wasRecovering, true, JSON.stringify(ctx));
  assert.equal(ctx.recovered, true, JSON.stringify(ctx));
  await waitFor(() => rec.publications.length >= 3, 5000, '3 recovered publications');
  await sleep(200);
  const expected = [top.offset - 2, top.offset - 1, top.offset];
  assert.deepEqual(rec.publications.map((p) => Number(p.offset)), expected, 'exactly the missed ones, oldest first');
  assert.deepEqual(rec.publications.map((p) => p.data.i), expected, 'their data');
  assert.ok(rec.publications.every((p) => p.data.pad === pad), 'whole payloads');
  client.close();
});

test('recovering more than recovery_max_publications (100 missed, cap 50): not recovered, still subscribed without error', async () => {
  const channel = 'big:overcap';
  const positions = await fill(channel, capped.control);
  const top = positions.at(-1);
  const client = await sdkClient(capped.edge, 'overcap-user');
  const rec = client.newSubscription(channel, {
    since: { offset: top.offset - 100, epoch: top.epoch },
    recoverable: true,
    positioned: true,
  });
  const ctx = await subscribed(rec, `recovering subscribe to ${channel}`);
  assert.deepEqual(errorsOf(rec), [], 'never an error');
  assert.equal(ctx.wasRecovering, true, JSON.stringify(ctx));
  assert.equal(ctx.recovered, false, JSON.stringify(ctx));
  assert.equal(Number(ctx.streamPosition.offset), top.offset, 'the current position');
  assert.equal(ctx.streamPosition.epoch, top.epoch);
  await env.publish(channel, { live: 1 }, capped.control);
  await waitFor(() => rec.publications.some((p) => p.data.live === 1), 5000, 'a live publication');
  await sleep(200);
  assert.deepEqual(rec.publications.map((p) => Number(p.offset)), [top.offset + 1], 'no recovered publications, then live ones');
  assert.equal(rec.events.filter((e) => e.name === 'subscribed').length, 1);
  client.close();
});

test('recovering 150 missed (within the cap of 1000) of ~7.5 MB: too large for one reply, not recovered, never an error', async () => {
  const channel = 'big:oversize';
  const positions = await fill(channel, wide.control);
  const top = positions.at(-1);
  const client = await sdkClient(wide.edge, 'oversize-user');
  const rec = client.newSubscription(channel, {
    since: { offset: top.offset - 150, epoch: top.epoch },
    recoverable: true,
    positioned: true,
  });
  const ctx = await subscribed(rec, `recovering subscribe to ${channel}`);
  assert.deepEqual(errorsOf(rec), [], 'never an error');
  assert.equal(ctx.wasRecovering, true, JSON.stringify(ctx));
  assert.equal(ctx.recovered, false, JSON.stringify(ctx));
  assert.equal(Number(ctx.streamPosition.offset), top.offset, 'the current position');
  await env.publish(channel, { live: 1 }, wide.control);
  await waitFor(() => rec.publications.some((p) => p.data.live === 1), 5000, 'a live publication');
  await sleep(200);
  assert.deepEqual(rec.publications.map((p) => Number(p.offset)), [top.offset + 1]);
  assert.equal(rec.events.filter((e) => e.name === 'subscribed').length, 1);
  client.close();
});

test('gap repair on a channel with ~10 MB of history: every publication missed while cut arrives once, in order', async () => {
  const channel = 'big:gap';
  const control = capped.control;
  const positions = await fill(channel, control);
  const top = positions.at(-1).offset;
  const proxy = await env.tcpProxy(control.edgePort);
  const edge = await env.startEdge({ address: proxy.address }, { config: capped.file, edge_id: 'edge-big-proxied' });
  const edgeListed = (s) => (s.edges ?? []).some((e) => e.id === 'edge-big-proxied');
  await env.waitStats(edgeListed, 10_000, 'the proxied edge to attach');

  const client = await sdkClient(edge, 'gap-user');
  const rec = client.newSubscription(channel);
  await subscribed(rec, `subscribe to ${channel} through the proxy`);
  assert.deepEqual(errorsOf(rec), [], 'no subscribe error on the way');

  // n = 1..3 before the cut, 4..8 (~50 KB each) while cut, 9..11 after.
  const publishLarge = (from, count) =>
    env.publishLines(
      Array.from({ length: count }, (_, k) => `${channel} ${JSON.stringify({ n: from + k, pad })}`),
      { control },
    );
  await publishLarge(1, 3);
  await waitFor(() => rec.publications.length >= 3, 5000, '3 publications before the cut');

  proxy.cut();
  await env.waitStats((s) => !edgeListed(s), 10_000, 'control to see the proxied edge go');
  await publishLarge(4, 5);
  proxy.restore();
  await env.waitStats(edgeListed, 15_000, 'the proxied edge to re-attach');
  await publishLarge(9, 3);

  await waitFor(() => rec.publications.length >= 11, 15_000, '11 publications').catch((err) => {
    err.message += `; got n = ${JSON.stringify(rec.publications.map((p) => p.data.n))}`;
    throw err;
  });
  await sleep(300);
  assert.deepEqual(rec.publications.map((p) => p.data.n), Array.from({ length: 11 }, (_, k) => k + 1), 'every one once, in order');
  assert.deepEqual(
    rec.publications.map((p) => Number(p.offset)),
    Array.from({ length: 11 }, (_, k) => top + 1 + k),
  );
  assert.ok(rec.publications.every((p) => p.data.pad === pad), 'whole payloads');
  assert.equal(rec.events.filter((e) => e.name === 'subscribing').length, 1, 'never resubscribed');
  assert.equal(rec.events.filter((e) => e.name === 'unsubscribed').length, 0);
  assert.equal(client.sockets.length, 1, 'one connection throughout');
  client.close();
});
