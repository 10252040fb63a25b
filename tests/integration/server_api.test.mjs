// The server API across two edges (issue #4, points 7, 8 and 9), driven by
// wirehubctl against SDK clients: Subscribe (server-side subscription: SDK
// client-level subscribed + publication), Unsubscribe (2000), Disconnect
// (3503 / 3011 with --reconnect / explicit code), Refresh (--expired: 3005;
// --ttl), Connections (filters, paging), Channels (counts summed over edges,
// --prefix), Info (control and both edges).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64, waitFor } from './harness.mjs';

const env = new Env('wirehub-server-api');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    // Nothing allowed to clients: only the server subscribes here.
    { name: 'feed', options: {} },
    { name: 'pub', options: { allow_subscribe_for_client: true } },
  ],
};

let control;
let e1;
let e2;
let u1; // user u on edge 1
let u2; // user u on edge 2
let v1; // user v on edge 1
const clientId = (c) => c.eventsNamed('connected').at(-1).ctx.client;

before(async () => {
  const file = env.writeConfig('config.json', config);
  control = await env.startControl([`--config=${file}`]);
  e1 = await env.startEdge(control, { edge_id: 'edge-s1', config: file, expired_close_delay: '1s' });
  e2 = await env.startEdge(control, { edge_id: 'edge-s2', config: file, expired_close_delay: '1s' });
  // Both edges attached before anything runs.
  await env.waitStats((s) => (s.edges ?? []).length === 2, 10_000, 'two edges attached');
});

function connect(url, user, extra = {}, options = {}) {
  const c = env.sdk(url, {
    token: env.connToken({ sub: user, ...extra }),
    getToken: async () => env.connToken({ sub: user, ...extra }),
    ...options,
  });
  return c.connectAndWait().then(() => c);
}

test('subscribe --user reaches the connections on both edges (client-level subscribed + publication)', async () => {
  u1 = await connect(e1.url, 'u', { info: { at: 'e1' } });
  u2 = await connect(e2.url, 'u', { info: { at: 'e2' } });
  v1 = await connect(e1.url, 'v');
  const r = await env.ctlCount(['subscribe', '--user=u', 'feed:1']);
  assert.equal(r.connections, 2, JSON.stringify(r));
  assert.equal(r.edgesMissing, 0);
  for (const c of [u1, u2]) {
    await c.waitEvent('subscribed', (ctx) => ctx.channel === 'feed:1', 5000, 'server-side subscribed to feed:1');
  }
  await env.publish('feed:1', { n: 1 });
  for (const c of [u1, u2]) {
    const pub = await c.waitEvent('publication', (ctx) => ctx.channel === 'feed:1' && ctx.data?.n === 1, 5000, 'client-level publication');
    assert.deepEqual(pub.data, { n: 1 });
  }
  assert.ok(!v1.events.some((e) => e.name === 'subscribed' || e.name === 'publication'), 'v was not subscribed');
  // Again: already subscribed connections are not counted.
  assert.equal((await env.ctlCount(['subscribe', '--user=u', 'feed:1'])).connections, 0);
  // --client picks one connection.
  assert.equal((await env.ctlCount(['subscribe', `--client=${clientId(u2)}`, 'feed:2'])).connections, 1);
  await u2.waitEvent('subscribed', (ctx) => ctx.channel === 'feed:2', 5000, 'u2 subscribed to feed:2');
  await sleep(200);
  assert.ok(!u1.events.some((e) => e.name === 'subscribed' && e.ctx.channel === 'feed:2'), 'u1 not subscribed to feed:2');
  // An unknown user: nothing.
  assert.equal((await env.ctlCount(['subscribe', '--user=nobody', 'feed:1'])).connections, 0);
});

test('connections lists both edges, filters by user and channel, and pages', async () => {
  const all = await env.ctlJson(['connections', '--json']);
  const ids = [u1, u2, v1].map(clientId).sort();
  assert.deepEqual(all.connections.map((c) => c.client), ids, `ordered by client id: ${JSON.stringify(all)}`);
  const byId = Object.fromEntries(all.connections.map((c) => [c.client, c]));
  assert.equal(byId[clientId(u1)].edge_id, 'edge-s1');
  assert.equal(byId[clientId(u2)].edge_id, 'edge-s2');
  assert.equal(byId[clientId(u2)].user, 'u');
  assert.deepEqual([...byId[clientId(u2)].channels].sort(), ['feed:1', 'feed:2']);
  assert.ok(u64(byId[clientId(u1)].connected_at_unix_ms) > 0);
  assert.ok(u64(byId[clientId(u1)].expires_at_unix_ms) > Date.now(), 'expiry of the token shown');

  const ofU = await env.ctlJson(['connections', '--user=u', '--json']);
  assert.deepEqual(ofU.connections.map((c) => c.client), [u1, u2].map(clientId).sort());
  const onFeed2 = await env.ctlJson(['connections', '--channel=feed:2', '--json']);
  assert.deepEqual(onFeed2.connections.map((c) => c.client), [clientId(u2)]);

  const p1 = await env.ctlJson(['connections', '--page_size=2', '--json']);
  assert.equal(p1.connections.length, 2, JSON.stringify(p1));
  assert.ok(p1.next_page_token, 'next page token');
  const p2 = await env.ctlJson(['connections', '--page_size=2', `--page_token=${p1.next_page_token}`, '--json']);
  assert.equal(p2.connections.length, 1, JSON.stringify(p2));
  assert.ok(!p2.next_page_token);
  assert.deepEqual([...p1.connections, ...p2.connections].map((c) => c.client), ids);
});

test('channels sums subscribers over edges and filters by prefix', async () => {
  const v2 = await connect(e2.url, 'v');
  await v1.subscribeAndWait('pub:x');
  await v2.subscribeAndWait('pub:x');
  await u1.subscribeAndWait('pub:y');
  const r = await env.ctlJson(['channels', '--json']);
  const counts = Object.fromEntries(r.channels.map((c) => [c.channel, u64(c.subscribers)]));
  assert.deepEqual(counts, { 'feed:1': 2, 'feed:2': 1, 'pub:x': 2, 'pub:y': 1 });
  assert.deepEqual(r.channels.map((c) => c.channel), ['feed:1', 'feed:2', 'pub:x', 'pub:y'], 'ordered by name');
  const feed = await env.ctlJson(['channels', '--prefix=feed:', '--json']);
  assert.deepEqual(feed.channels.map((c) => c.channel), ['feed:1', 'feed:2']);
  const page = await env.ctlJson(['channels', '--page_size=3', '--json']);
  assert.equal(page.channels.length, 3);
  assert.ok(page.next_page_token);
  v2.close();
  v1.subs.get('pub:x').sub.unsubscribe();
});

test('info lists control and both edges', async () => {
  const info = await env.ctlJson(['info', '--json']);
  assert.equal(info.control?.kind, 'control', JSON.stringify(info));
  assert.equal(info.control.id, 'control');
  assert.ok(info.control.version, 'control version');
  assert.equal(u64(info.control.connections), 2, 'control counts attached edges');
  const edges = Object.fromEntries((info.edges ?? []).map((e) => [e.id, e]));
  assert.deepEqual(Object.keys(edges).sort(), ['edge-s1', 'edge-s2']);
  for (const e of Object.values(edges)) {
    assert.equal(e.kind, 'edge');
    assert.ok(e.version);
    assert.ok(u64(e.rss_bytes) > 0, 'rss reported');
    assert.ok(u64(e.uptime_seconds) >= 0);
  }
  assert.equal(u64(edges['edge-s1'].connections), 2, 'u1, v1');
  assert.ok(u64(edges['edge-s2'].connections) >= 1);
  assert.ok(!info.edges_missing);
  // The table form names them too.
  const { stdout } = await env.ctl([`--control=${control.address}`, 'info']);
  assert.match(stdout, /edge-s1/);
  assert.match(stdout, /edge-s2/);
});

test('unsubscribe --user removes the subscription on both edges (unsubscribed, code 2000)', async () => {
  const r = await env.ctlCount(['unsubscribe', '--user=u', 'feed:1']);
  assert.equal(r.connections, 2);
  for (const c of [u1, u2]) {
    const ctx = await c.waitEvent('unsubscribed', (x) => x.channel === 'feed:1', 5000, 'client-level unsubscribed');
    const push = c.receivedMessages().find((m) => m.push?.unsubscribe && m.push.channel === 'feed:1');
    assert.equal(push?.push.unsubscribe.code, 2000, JSON.stringify(push ?? ctx));
  }
  // A client-side subscription ends too, and the SDK does not resubscribe (code < 2500).
  const rec = u1.subs.get('pub:y');
  assert.equal((await env.ctlCount(['unsubscribe', `--client=${clientId(u1)}`, 'pub:y'])).connections, 1);
  const ctx = await u1.waitSubEvent('pub:y', 'unsubscribed', () => true, 5000, 'pub:y unsubscribed');
  assert.equal(ctx.code, 2000, JSON.stringify(ctx));
  await sleep(300);
  assert.equal(rec.sub.state, 'unsubscribed');
  // No more publications on feed:1.
  await env.publish('feed:1', { n: 2 });
  await env.publish('feed:2', { barrier: true });
  await u2.waitEvent('publication', (x) => x.channel === 'feed:2' && x.data?.barrier, 5000, 'barrier on feed:2');
  await sleep(200);
  for (const c of [u1, u2]) {
    assert.ok(!c.events.some((e) => e.name === 'publication' && e.ctx.data?.n === 2), 'nothing after unsubscribe');
  }
});

test('disconnect --user closes the connections on both edges with 3503 and no reconnect', async () => {
  const r = await env.ctlCount(['disconnect', '--user=u']);
  assert.equal(r.connections, 2);
  for (const c of [u1, u2]) {
    const ctx = await c.waitEvent('disconnected', () => true, 5000, 'disconnected');
    assert.equal(ctx.code, 3503, JSON.stringify(ctx));
    assert.equal(c.sockets[0].closeInfo.code, 3503);
  }
  await sleep(500);
  for (const c of [u1, u2]) {
    assert.equal(c.state, 'disconnected');
    assert.equal(c.sockets.length, 1, 'no reconnect');
  }
  assert.equal(v1.state, 'connected', 'another user stays');
});

test('disconnect --reconnect: 3011 and the SDK reconnects; an explicit code and reason arrive as given', async () => {
  const a = await connect(e1.url, 'w');
  const b = await connect(e2.url, 'w');
  assert.equal((await env.ctlCount(['disconnect', '--user=w', '--reconnect'])).connections, 2);
  for (const c of [a, b]) {
    await waitFor(() => c.sockets[0].closeInfo, 5000, 'close');
    assert.equal(c.sockets[0].closeInfo.code, 3011, JSON.stringify(c.sockets[0].closeInfo));
    await waitFor(() => c.eventsNamed('connected').length === 2 && c.state === 'connected', 5000, 'reconnected');
    assert.ok(!c.eventsNamed('disconnected').length);
  }
  // Explicit code in the no-reconnect range, with a reason; by client id.
  assert.equal((await env.ctlCount(['disconnect', `--client=${clientId(a)}`, '--code=4501', '--reason=go away'])).connections, 1);
  const ctx = await a.waitEvent('disconnected', () => true, 5000, 'disconnected');
  assert.equal(ctx.code, 4501);
  assert.equal(ctx.reason, 'go away');
  assert.equal(b.state, 'connected', 'only that client');
  a.close();
  b.close();
});

test('refresh --expired closes the connections on both edges with 3005; the SDK reconnects', async () => {
  let asked = 0;
  const c = await connect(e2.url, 'x', {}, {
    getToken: async () => {
      asked++;
      return env.connToken({ sub: 'x' });
    },
  });
  const other = await connect(e1.url, 'x');
  assert.equal((await env.ctlCount(['refresh', '--user=x', '--expired'])).connections, 2);
  await waitFor(() => c.sockets[0].closeInfo, 5000, 'close');
  assert.equal(c.sockets[0].closeInfo.code, 3005, JSON.stringify(c.sockets[0].closeInfo));
  await waitFor(() => other.sockets[0].closeInfo, 5000, 'close of the other edge');
  assert.equal(other.sockets[0].closeInfo.code, 3005);
  // 3005 is a reconnect code (the SDK reconnects; it fetches a token only when
  // its current one is refused).
  await waitFor(() => c.eventsNamed('connected').length === 2, 5000, 'reconnected');
  assert.ok(asked >= 0);
  c.close();
  other.close();
});

test('refresh --ttl moves the expiry: a raw client is closed with 3005 after it', async () => {
  const raw = await env.raw(e1.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'y' }));
  const before = Date.now();
  assert.equal((await env.ctlCount(['refresh', '--user=y', '--ttl=2s'])).connections, 1);
  const conns = await env.ctlJson(['connections', '--user=y', '--json']);
  const exp = u64(conns.connections[0].expires_at_unix_ms);
  assert.ok(exp > before && exp <= before + 3500, `new expiry ${exp - before} ms ahead`);
  const close = await raw.waitClose(8000);
  assert.equal(close.code, 3005);
  assert.ok(close.at - before >= 2000, `closed after ${close.at - before} ms`);
});

test('the server API is per tenant: the same user id in another tenant is not reached', async () => {
  const ta = await connect(e1.url, 'z', { tenant: 'ta' });
  const tb = await connect(e2.url, 'z', { tenant: 'tb' });
  const plain = await connect(e2.url, 'z');
  assert.equal((await env.ctlCount(['subscribe', '--user=z', '--tenant=ta', 'feed:t'])).connections, 1);
  await ta.waitEvent('subscribed', (x) => x.channel === 'feed:t', 5000);
  const conns = await env.ctlJson(['connections', '--tenant=tb', '--json']);
  assert.deepEqual(conns.connections.map((c) => c.client), [clientId(tb)]);
  assert.equal((await env.ctlCount(['disconnect', '--user=z', '--tenant=ta'])).connections, 1);
  await ta.waitEvent('disconnected', () => true, 5000);
  await sleep(300);
  assert.equal(tb.state, 'connected');
  assert.equal(plain.state, 'connected');
  assert.ok(!tb.events.some((e) => e.name === 'subscribed'));
  assert.ok(!plain.events.some((e) => e.name === 'subscribed'));
  // Without --tenant: the default space's z only.
  assert.equal((await env.ctlCount(['disconnect', '--user=z'])).connections, 1);
  await plain.waitEvent('disconnected', () => true, 5000);
  await sleep(300);
  assert.equal(tb.state, 'connected', 'a tenant user with the same id stays');
  tb.close();
  plain.close();
});

test('an edge that does not answer (SIGSTOP) is left out and counted in edges_missing', async () => {
  const c1 = await connect(e1.url, 'm');
  const c2 = await connect(e2.url, 'm');
  e2.child.kill('SIGSTOP');
  try {
    let t0 = Date.now();
    const r = await env.ctlJson(['--timeout=10', 'connections', '--user=m', '--json']);
    const took = Date.now() - t0;
    assert.deepEqual(r.connections.map((c) => c.client), [clientId(c1)], JSON.stringify(r));
    assert.equal(r.edges_missing, 1, JSON.stringify(r));
    assert.ok(took < 7000, `answered after ${took} ms (deadline at most 5 s)`);
    // A shorter client deadline is honoured: still an answer, not DEADLINE_EXCEEDED.
    t0 = Date.now();
    const info = await env.ctlJson(['--timeout=2', 'info', '--json']);
    assert.equal(info.edges_missing, 1, JSON.stringify(info));
    assert.deepEqual(info.edges.map((e) => e.id), ['edge-s1']);
    assert.ok(Date.now() - t0 < 3000, `info answered after ${Date.now() - t0} ms with --timeout=2`);
    const d = await env.ctlCount(['--timeout=10', 'disconnect', '--user=m']);
    assert.deepEqual(d, { connections: 1, edgesMissing: 1 });
  } finally {
    e2.child.kill('SIGCONT');
  }
  await c1.waitEvent('disconnected', () => true, 5000);
  // The resumed edge answers again. (The Disconnect it missed reaches it
  // late: its connection of m is closed too once it runs; not asserted.)
  const c3 = await connect(e2.url, 'm2');
  const r = await env.ctlJson(['connections', '--user=m2', '--json']);
  assert.deepEqual(r.connections.map((c) => c.client), [clientId(c3)]);
  assert.ok(!r.edges_missing);
  const info = await env.ctlJson(['info', '--json']);
  assert.deepEqual(info.edges.map((e) => e.id).sort(), ['edge-s1', 'edge-s2']);
  c2.close();
  c3.close();
});
