// One control, two edges: SDK clients on both edges receive the same
// publication exactly once, with the same offset.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64 } from './harness.mjs';

const env = new Env('wirehub-two-edges');
after(() => env.cleanup());

let edgeA;
let edgeB;
const clients = {};

before(async () => {
  const control = await env.startControl();
  [edgeA, edgeB] = await Promise.all([
    env.startEdge(control, { edge_id: 'edge-a' }),
    env.startEdge(control, { edge_id: 'edge-b' }),
  ]);
});

test('both edges attach to control', async () => {
  const stats = await env.waitStats((s) => (s.edges ?? []).length === 2, 10_000, 'two edges in stats');
  assert.deepEqual(stats.edges.map((e) => e.id).sort(), ['edge-a', 'edge-b']);
});

test('clients on both edges subscribe to the same channel', async () => {
  const specs = [
    ['a1', edgeA, 'user-a1'],
    ['a2', edgeA, 'user-a2'],
    ['b1', edgeB, 'user-b1'],
  ];
  await Promise.all(
    specs.map(async ([name, edge, user]) => {
      const c = env.sdk(edge.url, { token: await env.token(user) });
      await c.connectAndWait();
      await c.subscribeAndWait('room');
      clients[name] = c;
    }),
  );
  const stats = await env.waitStats(
    (s) => u64(s.total_connections) === 3 && u64(s.subscriptions) === 3,
    10_000,
    'stats to show 3 connections and 3 subscriptions',
  );
  assert.equal(u64(stats.unique_users), 3);
  assert.equal(u64(stats.channels_with_subscribers), 1);
  const byId = Object.fromEntries(stats.edges.map((e) => [e.id, e]));
  assert.equal(u64(byId['edge-a'].connections), 2);
  assert.equal(u64(byId['edge-b'].connections), 1);
  assert.deepEqual(
    (stats.top_channels ?? []).map((c) => [c.channel, u64(c.subscribers)]),
    [['room', 3]],
  );
});

test('one publication reaches every client on both edges exactly once', async () => {
  const pos = await env.publish('room', { msg: 'to everyone', seq: 1 });
  for (const [name, c] of Object.entries(clients)) {
    const pub = await c.waitPublication('room', (d) => d && d.seq === 1, 5000, `publication at client ${name}`);
    assert.equal(pub.offset, pos.offset, `client ${name} sees the offset control assigned`);
    assert.deepEqual(pub.data, { msg: 'to everyone', seq: 1 });
  }
  // A second publication orders after the first: once every client has it, a
  // duplicate of the first would already have arrived.
  const pos2 = await env.publish('room', { msg: 'second', seq: 2 });
  assert.equal(pos2.offset, pos.offset + 1);
  for (const [name, c] of Object.entries(clients)) {
    await c.waitPublication('room', (d) => d && d.seq === 2, 5000, `second publication at client ${name}`);
  }
  await sleep(300);
  for (const [name, c] of Object.entries(clients)) {
    const rec = c.subs.get('room');
    assert.deepEqual(
      rec.publications.map((p) => [p.data.seq, p.offset]),
      [
        [1, pos.offset],
        [2, pos2.offset],
      ],
      `client ${name} got each publication once, in order`,
    );
    const pushes = c.receivedMessages().filter((m) => m.push && m.push.channel === 'room' && m.push.pub);
    assert.equal(pushes.length, 2, `client ${name} received exactly two pushes on the wire`);
  }
});

test('stats count the publications and their deliveries over both edges', async () => {
  const stats = await env.waitStats((s) => u64(s.deliveries) >= 6, 10_000, 'deliveries to reach 6');
  assert.equal(u64(stats.publications_accepted), 2);
  assert.equal(u64(stats.deliveries), 6, '2 publications x 3 subscribers');
});

test('a client on one edge keeps receiving when the other edge stops', async () => {
  const exit = await edgeB.stop({ graceMs: 5000 });
  assert.equal(exit.forced, false, 'edge-b exited on SIGTERM');
  await env.waitStats((s) => (s.edges ?? []).length === 1, 10_000, 'control to drop edge-b');
  await env.publish('room', { msg: 'after edge-b left', seq: 3 });
  await clients.a1.waitPublication('room', (d) => d && d.seq === 3, 5000, 'publication at a1 after edge-b stopped');
  await clients.a2.waitPublication('room', (d) => d && d.seq === 3, 5000, 'publication at a2 after edge-b stopped');
  // Stop the SDK client of the stopped edge from reconnecting in the background.
  clients.b1.close();
});
