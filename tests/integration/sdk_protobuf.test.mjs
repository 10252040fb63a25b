// The centrifuge SDK's protobuf build (`centrifuge/build/protobuf`, which
// offers the `centrifuge-protobuf` subprotocol) against real binaries (issue
// 18): connect, publications from wirehubctl and from clients, recovery
// after a dropped connection, history, presence, join/leave, connection and
// subscription token refresh, server-side subscriptions, a binary_data
// namespace carrying every byte value, and a JSON and a protobuf subscriber
// of one channel receiving the same publications in the same order.
//
// Publication data, connInfo and chanInfo reach a protobuf client as bytes
// (Uint8Array): the JSON text for JSON namespaces, any bytes for binary ones.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256, sleep, waitFor } from './harness.mjs';
import { SUBPROTOCOL, fromJsonBytes, jsonBytes, protobufSdk, publishBytes, tryJson } from './protobuf_util.mjs';

const env = new Env('wirehub-sdk-protobuf');
after(() => env.cleanup());

const DELAY_S = 1; // --expired_close_delay
// The edge checks expiries on a periodic sweep; allowed lateness of a close.
const SWEEP_SLACK_MS = 1500;

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    {
      name: 'hist',
      options: {
        allow_subscribe_for_client: true, history_size: 100, history_ttl: '60s',
        allow_history_for_subscriber: true, allow_recovery: true,
      },
    },
    {
      name: 'chat',
      options: {
        allow_subscribe_for_client: true, allow_publish_for_subscriber: true, presence: true, join_leave: true,
        allow_presence_for_subscriber: true,
      },
    },
    // Token-only: subscription tokens, the `channels` claim, the Subscribe RPC.
    { name: 'private', options: {} },
    {
      name: 'frames',
      options: {
        binary_data: true, allow_subscribe_for_client: true, allow_publish_for_subscriber: true,
        history_size: 300, history_ttl: '60s', allow_history_for_subscriber: true,
      },
    },
  ],
};

// Every byte value, and a few that are neither UTF-8 nor JSON.
const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const NOT_UTF8 = Buffer.from([0x00, 0xff, 0x0a, 0x7b, 0xc3, 0x00, 0x80]);

let control;
let edge;

before(async () => {
  const file = env.writeConfig('config.json', config);
  control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, { edge_id: 'edge-pb', config: file, expired_close_delay: `${DELAY_S}s` });
});

/** A connected protobuf SDK client for `user` (token claims `extra`). */
async function connectPb(user, extra = {}, options = {}, url = edge.url) {
  const c = protobufSdk(env, url, { token: env.connToken({ sub: user, ...extra }), ...options });
  await c.connectAndWait();
  return c;
}

const bytesOf = (data) => Buffer.from(data);
const clientId = (c) => c.eventsNamed('connected').at(-1).ctx.client;

test('the protobuf SDK offers centrifuge-protobuf, gets it, and speaks binary frames only', async () => {
  const token = env.connToken({ sub: 'alice' });
  const c = protobufSdk(env, edge.url, { token });
  const ctx = await c.connectAndWait();
  assert.equal(typeof ctx.client, 'string');
  assert.ok(ctx.client.length > 0, 'connect result carries a client id');
  assert.equal(c.sockets.length, 1);
  const ws = c.sockets[0];
  assert.equal(ws.offered, SUBPROTOCOL, 'the SDK offered centrifuge-protobuf');
  assert.equal(ws.protocol, SUBPROTOCOL, 'the edge chose centrifuge-protobuf');
  const connects = c.sentCommands('connect');
  assert.equal(connects.length, 1);
  assert.equal(connects[0].connect.token, token);
  assert.ok(ws.receivedFrames.length > 0 && ws.receivedFrames.every((f) => f.binary), 'every frame from the edge is binary');
  const reply = c.receivedMessages().find((r) => r.connect);
  assert.equal(reply.connect.client, ctx.client);
  assert.equal(reply.id, connects[0].id);
  c.close();
});

test('subscribe, then wirehubctl publications arrive as their JSON bytes with their offsets, in order', async () => {
  const c = await connectPb('reader');
  const rec = await c.subscribeAndWait('news-pb');
  const first = { text: 'hello', n: 1, nested: { list: [1, 2, 3], unicode: 'héllo ✓' } };
  const p1 = await env.publish('news-pb', first);
  const p2 = await env.publish('news-pb', { n: 2 });
  await waitFor(() => rec.publications.length >= 2, 5000, 'two publications on news-pb');
  await sleep(100);
  assert.equal(rec.publications.length, 2, 'each once');
  const [a, b] = rec.publications;
  assert.ok(a.data instanceof Uint8Array, `data is bytes: ${typeof a.data}`);
  assert.ok(bytesOf(a.data).equals(Buffer.from(JSON.stringify(first))), `the published JSON text: ${bytesOf(a.data).toString()}`);
  assert.deepEqual(fromJsonBytes(b.data), { n: 2 });
  assert.deepEqual([a.offset, b.offset], [p1.offset, p2.offset]);
  assert.equal(p2.offset, p1.offset + 1);
  // The push on the wire, decoded by the SDK's codec.
  const push = c.receivedMessages().find((r) => r.push?.pub && r.push.channel === 'news-pb');
  assert.equal(push.id, 0, 'pushes carry no id');
  assert.equal(Number(push.push.pub.offset), p1.offset);
  c.close();
});

test('after a dropped connection the SDK recovers exactly the publications it missed, in order', async () => {
  const proxy = await env.tcpProxy(edge.port);
  const c = await connectPb('recoverer', {}, {}, `ws://${proxy.address}/connection/websocket`);
  const channel = 'hist:recover';
  const rec = await c.subscribeAndWait(channel);
  const firstSubscribed = rec.events.find((e) => e.name === 'subscribed').ctx;
  assert.equal(firstSubscribed.recoverable, true, JSON.stringify(firstSubscribed));
  for (const n of [1, 2]) await env.publish(channel, { n });
  await waitFor(() => rec.publications.length === 2, 5000, 'two live publications');
  const epoch = firstSubscribed.streamPosition.epoch;

  proxy.cut();
  await waitFor(() => c.state === 'connecting', 5000, 'the SDK to notice the drop');
  for (const n of [3, 4, 5]) await env.publish(channel, { n });
  proxy.restore();

  const resubscribed = await waitFor(
    () => rec.events.filter((e) => e.name === 'subscribed')[1]?.ctx,
    10_000,
    'the subscription to come back after the reconnect',
  );
  assert.equal(resubscribed.wasRecovering, true, JSON.stringify(resubscribed));
  assert.equal(resubscribed.recovered, true, JSON.stringify(resubscribed));
  assert.equal(resubscribed.streamPosition.epoch, epoch, 'same epoch');
  // The resubscribe asked for recovery from the last offset it had.
  const again = c.sentCommands('subscribe').filter((s) => s.subscribe.channel === channel).at(-1).subscribe;
  assert.equal(again.recover, true, JSON.stringify(again));
  assert.equal(again.epoch, epoch);
  assert.equal(Number(again.offset), 2);

  await env.publish(channel, { n: 6 });
  await waitFor(() => rec.publications.length >= 6, 5000, 'six publications');
  await sleep(100);
  assert.deepEqual(rec.publications.map((p) => fromJsonBytes(p.data).n), [1, 2, 3, 4, 5, 6], 'each once, in order');
  assert.deepEqual(rec.publications.map((p) => p.offset), [1, 2, 3, 4, 5, 6]);
  assert.ok(c.sockets.length >= 2, 'a second WebSocket after the drop');
  c.close();
});

test('history: limit, reverse, since, and an unknown epoch (112)', async () => {
  const channel = 'hist:read';
  for (let n = 1; n <= 5; n++) await env.publish(channel, { n });
  const c = await connectPb('historian');
  const rec = await c.subscribeAndWait(channel);
  const epoch = rec.events.find((e) => e.name === 'subscribed').ctx.streamPosition.epoch;
  const ns = (h) => h.publications.map((p) => fromJsonBytes(p.data).n);

  const oldest = await rec.sub.history({ limit: 3 });
  assert.deepEqual(ns(oldest), [1, 2, 3]);
  assert.deepEqual(oldest.publications.map((p) => p.offset), [1, 2, 3]);
  assert.equal(oldest.offset, 5, 'the current top');
  assert.equal(oldest.epoch, epoch);
  const newest = await rec.sub.history({ limit: 2, reverse: true });
  assert.deepEqual(ns(newest), [5, 4]);
  const since = await rec.sub.history({ limit: -1, since: { offset: 2, epoch } });
  assert.deepEqual(ns(since), [3, 4, 5]);
  const position = await rec.sub.history();
  assert.deepEqual(position.publications, [], 'no limit: the position only');
  assert.equal(position.offset, 5);
  await assert.rejects(rec.sub.history({ limit: -1, since: { offset: 2, epoch: 'nope' } }), (e) => e.code === 112, 'unknown epoch');
  c.close();
});

test('presence, presence stats and join/leave carry the token info as bytes', async () => {
  const channel = 'chat:presence';
  const alice = await connectPb('alice', { info: { name: 'Alice' } });
  const aliceSub = await alice.subscribeAndWait(channel);
  // A JSON SDK client joins and leaves.
  const bob = env.sdk(edge.url, { token: env.connToken({ sub: 'bob', info: { name: 'Bob' } }) });
  await bob.connectAndWait();
  const bobSub = await bob.subscribeAndWait(channel);

  const join = await alice.waitSubEvent(channel, 'join', (x) => x.info?.user === 'bob', 5000, 'join of bob');
  assert.equal(join.info.client, clientId(bob));
  assert.ok(join.info.connInfo instanceof Uint8Array, 'connInfo is bytes');
  assert.deepEqual(fromJsonBytes(join.info.connInfo), { name: 'Bob' });

  const p = await waitFor(async () => {
    const answer = await aliceSub.sub.presence();
    return Object.keys(answer.clients).length === 2 ? answer : undefined;
  }, 5000, 'two clients in presence');
  assert.deepEqual(Object.keys(p.clients).sort(), [clientId(alice), clientId(bob)].sort(), JSON.stringify(Object.keys(p.clients)));
  assert.equal(p.clients[clientId(alice)].user, 'alice');
  assert.equal(p.clients[clientId(bob)].client, clientId(bob));
  assert.deepEqual(fromJsonBytes(p.clients[clientId(alice)].connInfo), { name: 'Alice' });
  assert.deepEqual(fromJsonBytes(p.clients[clientId(bob)].connInfo), { name: 'Bob' });
  const s = await aliceSub.sub.presenceStats();
  assert.equal(s.numClients, 2, JSON.stringify(s));
  assert.equal(s.numUsers, 2, JSON.stringify(s));

  // The JSON client sees the protobuf one's info as JSON.
  const jp = await bobSub.sub.presence();
  assert.deepEqual(jp.clients[clientId(alice)].connInfo, { name: 'Alice' });

  bobSub.sub.unsubscribe();
  const leave = await alice.waitSubEvent(channel, 'leave', (x) => x.info?.user === 'bob', 5000, 'leave of bob');
  assert.equal(leave.info.client, clientId(bob));
  assert.deepEqual(fromJsonBytes(leave.info.connInfo), { name: 'Bob' });
  await waitFor(async () => (await aliceSub.sub.presenceStats()).numClients === 1, 5000, 'presence stats without bob');
  // Not subscribed: refused as for JSON.
  await assert.rejects(alice.client.presence('chat:other'), (e) => e.code === 103);
  alice.close();
  bob.close();
});

test('a protobuf client publishes bytes: JSON and protobuf subscribers get it with the publisher info', async () => {
  const channel = 'chat:publish';
  const alice = await connectPb('alice', { info: { name: 'Alice' } });
  const aliceSub = await alice.subscribeAndWait(channel);
  const bob = env.sdk(edge.url, { token: env.connToken({ sub: 'bob' }) });
  await bob.connectAndWait();
  await bob.subscribeAndWait(channel);

  const before = await env.publish(channel, { from: 'backend', n: 1 });
  await aliceSub.sub.publish(jsonBytes({ from: 'alice', n: 2 }));
  await alice.client.publish(channel, jsonBytes({ from: 'alice', n: 3 }));
  const last = await env.publish(channel, { from: 'backend', n: 4 });
  assert.equal(last.offset, before.offset + 3, 'the client publications took the offsets between');

  await alice.waitPublication(channel, (d) => tryJson(d)?.n === 4, 5000, 'n=4 on the protobuf client');
  await bob.waitPublication(channel, (d) => d?.n === 4, 5000, 'n=4 on the JSON client');
  const pb = aliceSub.publications;
  const js = bob.subs.get(channel).publications;
  assert.deepEqual(pb.map((p) => fromJsonBytes(p.data).n), [1, 2, 3, 4]);
  assert.deepEqual(js.map((p) => p.data.n), [1, 2, 3, 4]);
  assert.deepEqual(pb.map((p) => p.offset), js.map((p) => p.offset));
  for (const [i, p] of [pb[1], pb[2]].entries()) {
    assert.equal(p.info?.user, 'alice', `protobuf publication ${i + 2} carries the publisher`);
    assert.equal(p.info.client, clientId(alice));
    assert.deepEqual(fromJsonBytes(p.info.connInfo), { name: 'Alice' });
  }
  assert.equal(js[1].info?.user, 'alice');
  assert.deepEqual(js[1].info.connInfo, { name: 'Alice' });
  assert.equal(pb[0].info, undefined, 'a backend publication has no client info');

  // Bytes that are not JSON are refused in a JSON namespace (the connection stays).
  await assert.rejects(
    aliceSub.sub.publish(new Uint8Array(NOT_UTF8)),
    (e) => e.code === 107 && /invalid JSON/.test(e.message),
    'non-JSON data in a JSON namespace: 107',
  );
  assert.equal(alice.state, 'connected');
  alice.close();
  bob.close();
});

test('connection and subscription tokens are refreshed (refresh, sub_refresh) on one WebSocket', async () => {
  const exp = nowSeconds() + 2;
  let connCalls = 0;
  let subCalls = 0;
  const c = protobufSdk(env, edge.url, {
    token: signHs256(env.secret, { sub: 'refresher', exp }),
    getToken: async () => {
      connCalls++;
      return env.connToken({ sub: 'refresher' }, { ttl: 3 });
    },
  });
  await c.connectAndWait();
  const connectReply = c.receivedMessages().find((r) => r.connect);
  assert.equal(connectReply.connect.expires, true, 'connect result: expires');
  assert.ok(connectReply.connect.ttl >= 1 && connectReply.connect.ttl <= 2, `ttl ${connectReply.connect.ttl}`);
  const rec = await c.subscribeAndWait('private:expiring', 5000, {
    getToken: async (ctx) => {
      subCalls++;
      return env.subToken('refresher', ctx.channel, {}, { ttl: 2 });
    },
  });
  const subReply = c.receivedMessages().find((r) => r.subscribe && r.id);
  assert.equal(subReply.subscribe.expires, true, 'subscribe result: expires');

  // Well past the first expiries + delay + sweep.
  await sleep(Math.max(0, exp * 1000 + DELAY_S * 1000 + SWEEP_SLACK_MS + 1500 - Date.now()));
  assert.equal(c.state, 'connected');
  assert.equal(c.sockets.length, 1, `one WebSocket throughout; closes: ${JSON.stringify(c.sockets.map((s) => s.closeInfo))}`);
  assert.ok(connCalls >= 1, 'getToken called for the connection');
  assert.ok(subCalls >= 2, `getToken called for subscribe and sub_refresh (${subCalls})`);
  assert.ok(c.sentCommands('refresh').length >= 1, 'refresh sent');
  assert.ok(c.sentCommands('sub_refresh').length >= 1, 'sub_refresh sent');
  const refreshed = c.receivedMessages().find((r) => r.refresh);
  assert.equal(refreshed?.refresh.expires, true, 'refresh answered with expires');
  assert.ok(refreshed.refresh.ttl >= 1);
  assert.ok(c.receivedMessages().some((r) => r.sub_refresh?.expires === true), 'sub_refresh answered with expires');
  assert.ok(!c.receivedMessages().some((r) => r.push?.unsubscribe), 'no unsubscribe push');
  assert.equal(rec.events.filter((e) => e.name === 'unsubscribed').length, 0);
  await env.publish('private:expiring', { still: true });
  await c.waitPublication('private:expiring', (d) => tryJson(d)?.still === true, 5000);
  c.close();
});

test('server-side subscriptions (channels claim, Subscribe RPC) deliver publications as bytes', async () => {
  const c = await connectPb('dave', { channels: ['private:dave-feed'] });
  await c.waitEvent('subscribed', (x) => x.channel === 'private:dave-feed', 5000, 'subscribed to private:dave-feed');
  const push = c.receivedMessages().find((r) => r.push?.subscribe && r.push.channel === 'private:dave-feed');
  assert.ok(push, 'a subscribe push announced it');
  await env.publish('private:dave-feed', { for: 'dave' });
  const pub = await c.waitEvent('publication', (x) => x.channel === 'private:dave-feed', 5000, 'client-level publication');
  assert.deepEqual(fromJsonBytes(pub.data), { for: 'dave' });

  assert.equal((await env.ctlCount(['subscribe', '--user=dave', 'private:dave-rpc'])).connections, 1);
  await c.waitEvent('subscribed', (x) => x.channel === 'private:dave-rpc', 5000, 'subscribed by the Subscribe RPC');
  await env.publish('private:dave-rpc', { via: 'rpc' });
  const rpcPub = await c.waitEvent('publication', (x) => x.channel === 'private:dave-rpc', 5000, 'publication after Subscribe RPC');
  assert.deepEqual(fromJsonBytes(rpcPub.data), { via: 'rpc' });
  assert.equal((await env.ctlCount(['unsubscribe', '--user=dave', 'private:dave-rpc'])).connections, 1);
  await c.waitEvent('unsubscribed', (x) => x.channel === 'private:dave-rpc', 5000, 'unsubscribed by the Unsubscribe RPC');
  const unsub = c.receivedMessages().find((r) => r.push?.unsubscribe && r.push.channel === 'private:dave-rpc');
  assert.equal(unsub?.push.unsubscribe.code, 2000, 'an unsubscribe push with code 2000');
  c.close();
});

test('a binary_data namespace carries every byte value end to end (API, client publish, history)', async () => {
  const channel = 'frames:bytes';
  const a = await connectPb('bin-a');
  const b = await connectPb('bin-b');
  const ra = await a.subscribeAndWait(channel);
  const rb = await b.subscribeAndWait(channel);

  const p1 = await publishBytes(control, channel, EVERY_BYTE);
  const p2 = await publishBytes(control, channel, NOT_UTF8);
  // A client publication of bytes that are not UTF-8.
  const fromClient = Buffer.from([0xfe, 0x00, 0xff, 0x01]);
  await ra.sub.publish(new Uint8Array(fromClient));
  const p3 = await publishBytes(control, channel, Buffer.from([0x00]));
  assert.equal(p3.offset, p1.offset + 3);

  for (const rec of [ra, rb]) {
    await waitFor(() => rec.publications.length >= 4, 5000, `four publications on ${channel}`);
    const got = rec.publications.map((p) => bytesOf(p.data));
    assert.ok(got[0].equals(EVERY_BYTE), `every byte value: got ${got[0].toString('hex')}`);
    assert.ok(got[1].equals(NOT_UTF8), `got ${got[1].toString('hex')}`);
    assert.ok(got[2].equals(fromClient), `client bytes: got ${got[2].toString('hex')}`);
    assert.ok(got[3].equals(Buffer.from([0x00])), `one NUL byte: got ${got[3].toString('hex')}`);
    assert.deepEqual(rec.publications.map((p) => p.offset), [p1.offset, p2.offset, p1.offset + 2, p3.offset]);
  }
  assert.equal(rb.publications[2].info?.user, 'bin-a', 'the client publication carries its publisher');

  const h = await rb.sub.history({ limit: 10 });
  assert.equal(h.publications.length, 4);
  assert.ok(bytesOf(h.publications[0].data).equals(EVERY_BYTE), 'history keeps every byte');
  assert.ok(bytesOf(h.publications[2].data).equals(fromClient));
  a.close();
  b.close();
});

test('a JSON and a protobuf subscriber of one channel get the same 500 publications in the same order', async () => {
  const channel = 'news-race';
  const total = 500;
  const pb = await connectPb('race-pb');
  const json = env.sdk(edge.url, { token: env.connToken({ sub: 'race-json' }) });
  await json.connectAndWait();
  const pbRec = await pb.subscribeAndWait(channel);
  const jsonRec = await json.subscribeAndWait(channel);
  const positions = await env.publishLines(Array.from({ length: total }, (_, i) => `${channel} {"i":${i},"s":"${'x'.repeat(i % 50)}"}`));
  await waitFor(
    () => pbRec.publications.length >= total && jsonRec.publications.length >= total,
    15_000,
    `${total} publications on both (protobuf ${pbRec.publications.length}, JSON ${jsonRec.publications.length})`,
  );
  await sleep(200);
  const pbSeq = pbRec.publications.map((p) => ({ offset: p.offset, data: fromJsonBytes(p.data) }));
  const jsonSeq = jsonRec.publications.map((p) => ({ offset: p.offset, data: p.data }));
  assert.equal(pbSeq.length, total, 'no duplicate on the protobuf client');
  assert.equal(jsonSeq.length, total, 'no duplicate on the JSON client');
  assert.deepEqual(pbSeq, jsonSeq, 'the same publications in the same order');
  assert.deepEqual(pbSeq.map((p) => p.data.i), Array.from({ length: total }, (_, i) => i));
  assert.deepEqual(pbSeq.map((p) => p.offset), positions.map((p) => p.offset));
  assert.equal(pb.sockets.length, 1);
  assert.equal(json.sockets.length, 1);
  pb.close();
  json.close();
});
