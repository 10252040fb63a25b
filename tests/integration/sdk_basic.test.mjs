// One control, one edge, the centrifuge SDK: connect, subscribe, receive
// publications made with wirehubctl, unsubscribe, and the stats that follow.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64, waitFor } from './harness.mjs';

const env = new Env('wirehub-sdk-basic');
after(() => env.cleanup());

let control;
let edge;
let client;
let news;
let barrier;

before(async () => {
  control = await env.startControl();
  edge = await env.startEdge(control, { edge_id: 'edge-basic' });
});

test('SDK connects with a token minted by wirehubctl', async () => {
  const token = await env.token('alice');
  client = env.sdk(edge.url, { token });
  const ctx = await client.connectAndWait();
  assert.equal(typeof ctx.client, 'string');
  assert.ok(ctx.client.length > 0, 'connect result carries a client id');
  assert.equal(client.state, 'connected');
  assert.equal(client.sockets.length, 1, 'one WebSocket for one connect');
  // The connect command went out with the token.
  const connectFrame = client.sockets[0].sentFrames.find((f) => f.includes('"connect"'));
  assert.ok(connectFrame, 'connect command sent');
  assert.equal(JSON.parse(connectFrame.split('\n')[0]).connect.token, token);
});

test('subscribe, then a wirehubctl publish is delivered with its data and offset', async () => {
  news = await client.subscribeAndWait('news');
  barrier = await client.subscribeAndWait('barrier');

  const data = { text: 'hello', n: 1, nested: { list: [1, 2, 3], unicode: 'héllo ✓' } };
  const pos = await env.publish('news', data);
  assert.ok(pos.offset >= 1, `publish returned offset ${pos.offset}`);
  const pub = await client.waitPublication('news', (d) => d && d.n === 1, 5000, 'first publication on news');
  assert.deepEqual(pub.data, data);
  assert.equal(pub.offset, pos.offset, 'publication offset equals the offset publish returned');
  assert.equal(pub.channel, 'news');

  // The push on the wire has the documented shape.
  const push = client
    .receivedMessages()
    .find((m) => m.push && m.push.channel === 'news' && m.push.pub && m.push.pub.data && m.push.pub.data.n === 1);
  assert.ok(push, 'publication arrived as a push');
  assert.deepEqual(push.push.pub.data, data);
  assert.equal(Number(push.push.pub.offset), pos.offset);
  assert.equal(push.id, undefined, 'pushes carry no id');

  // Offsets grow by one per publication, in order.
  const pos2 = await env.publish('news', { text: 'second', n: 2 });
  assert.equal(pos2.offset, pos.offset + 1);
  assert.equal(pos2.epoch, pos.epoch, 'epoch is stable while control runs');
  const pub2 = await client.waitPublication('news', (d) => d && d.n === 2, 5000, 'second publication on news');
  assert.equal(pub2.offset, pos2.offset);
  assert.deepEqual(
    news.publications.map((p) => p.data.n),
    [1, 2],
    'each publication delivered once, in order',
  );
});

test('stats show the connection, the user and the subscriptions', async () => {
  const stats = await env.waitStats(
    (s) => u64(s.total_connections) === 1 && u64(s.subscriptions) === 2,
    10_000,
    'stats to show 1 connection and 2 subscriptions',
  );
  assert.equal(u64(stats.unique_users), 1);
  assert.equal(u64(stats.channels_with_subscribers), 2);
  assert.equal(stats.total_connections, '1', 'uint64 fields are JSON strings (proto3 JSON mapping)');
  assert.ok(Array.isArray(stats.edges) && stats.edges.length === 1, `one edge listed: ${JSON.stringify(stats.edges)}`);
  const e = stats.edges[0];
  assert.equal(e.id, 'edge-basic');
  assert.equal(u64(e.connections), 1);
  assert.equal(u64(e.subscriptions), 2);
  assert.ok(typeof e.address === 'string' && e.address.length > 0, 'edge address present');
  assert.ok(u64(e.connected_since_unix_ms) > 0, 'connected_since_unix_ms present');
  const top = Object.fromEntries((stats.top_channels ?? []).map((c) => [c.channel, u64(c.subscribers)]));
  assert.deepEqual(top, { news: 1, barrier: 1 });
  assert.ok(u64(stats.publications_accepted) >= 2, 'both publications accepted');
  await env.waitStats((s) => u64(s.deliveries) >= 2, 10_000, 'deliveries to count the two publications');
});

test('after unsubscribe a further publish is not received', async () => {
  news.sub.unsubscribe();
  await waitFor(() => news.events.find((e) => e.name === 'unsubscribed'), 5000, 'unsubscribed event');
  // The edge has dropped the subscription once control reports one subscription left.
  await env.waitStats(
    (s) => u64(s.subscriptions) === 1 && u64(s.channels_with_subscribers) === 1,
    10_000,
    'stats to show the news subscription gone',
  );

  const before = news.publications.length;
  await env.publish('news', { text: 'after unsubscribe', n: 3 });
  // A later publication on another channel of the same connection acts as a barrier.
  await env.publish('barrier', { marker: 1 });
  await client.waitPublication('barrier', (d) => d && d.marker === 1, 5000, 'barrier publication');
  await sleep(300);

  assert.equal(news.publications.length, before, 'no publication event after unsubscribe');
  const leaked = client.receivedMessages().filter((m) => m.push && m.push.channel === 'news' && m.push.pub?.data?.n === 3);
  assert.deepEqual(leaked, [], 'the edge sent no push for the unsubscribed channel');
  assert.equal(client.state, 'connected');
});

test('stats drop the connection after the client disconnects', async () => {
  client.client.disconnect();
  await env.waitStats(
    (s) => u64(s.total_connections) === 0 && u64(s.subscriptions) === 0 && u64(s.unique_users) === 0,
    10_000,
    'stats to show no connections',
  );
});

test('SIGTERM stops edge and control promptly', async () => {
  const edgeExit = await edge.stop({ graceMs: 5000 });
  assert.equal(edgeExit.forced, false, `edge did not exit within 5 s of SIGTERM; stderr:\n${edge.stderrText}`);
  const controlExit = await control.stop({ graceMs: 5000 });
  assert.equal(controlExit.forced, false, `control did not exit within 5 s of SIGTERM; stderr:\n${control.stderrText}`);
});
