// Client publish (issue #4, point 6): where the namespace allows it, a
// client's publication reaches every subscriber (on every edge) carrying the
// publisher's ClientInfo, sequenced by control with backend publications;
// refused (103) where it does not; rate limited per connection (111).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep } from './harness.mjs';

const env = new Env('wirehub-client-publish');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    {
      name: 'chat',
      options: {
        allow_subscribe_for_client: true,
        allow_publish_for_subscriber: true,
        history_size: 100,
        history_ttl: '60s',
        allow_history_for_subscriber: true,
      },
    },
    { name: 'board', options: { allow_subscribe_for_client: true, allow_publish_for_client: true } },
    { name: 'ro', options: { allow_subscribe_for_client: true } },
  ],
};

let e1;
let e2;
let limited; // edge with a small publish burst
const clientId = (c) => c.eventsNamed('connected')[0].ctx.client;

before(async () => {
  const file = env.writeConfig('config.json', config);
  const control = await env.startControl([`--config=${file}`]);
  e1 = await env.startEdge(control, { edge_id: 'edge-cp1', config: file });
  e2 = await env.startEdge(control, { edge_id: 'edge-cp2', config: file });
  limited = await env.startEdge(control, { edge_id: 'edge-cp-limited', config: file, client_publish_burst: 3, client_publish_rate: 1 });
});

async function connect(url, user, info) {
  const c = env.sdk(url, { token: env.connToken({ sub: user, info }) });
  await c.connectAndWait();
  return c;
}

test('a subscriber publishes: every subscriber on both edges gets it with the publisher info and a sequenced offset', async () => {
  const alice = await connect(e1.url, 'alice', { name: 'Alice' });
  const bob = await connect(e2.url, 'bob', { name: 'Bob' });
  const ra = await alice.subscribeAndWait('chat:1');
  await bob.subscribeAndWait('chat:1');

  const first = await env.publish('chat:1', { from: 'backend', n: 1 });
  await ra.sub.publish({ from: 'alice', n: 2 });
  const third = await env.publish('chat:1', { from: 'backend', n: 3 });
  assert.equal(third.offset, first.offset + 2, 'the client publication took the offset between the two backend ones');

  for (const c of [alice, bob]) {
    await c.waitPublication('chat:1', (d) => d.n === 3, 5000);
    const pubs = c.subs.get('chat:1').publications;
    assert.deepEqual(pubs.map((p) => p.data.n), [1, 2, 3], 'in order, once each');
    assert.deepEqual(pubs.map((p) => p.offset), [first.offset, first.offset + 1, first.offset + 2]);
    const mine = pubs[1];
    assert.ok(mine.info, `publication carries info: ${JSON.stringify(mine)}`);
    assert.equal(mine.info.user, 'alice');
    assert.equal(mine.info.client, clientId(alice));
    assert.deepEqual(mine.info.connInfo, { name: 'Alice' });
    assert.equal(pubs[0].info, undefined, 'a backend publication has no client info');
  }
  // History keeps it, with the info.
  const h = await ra.sub.history({ limit: 10 });
  const kept = h.publications.find((p) => p.data.n === 2);
  assert.ok(kept, JSON.stringify(h));
  assert.equal(kept.info?.user, 'alice', `history keeps the publisher: ${JSON.stringify(kept)}`);
  const ctlHistory = await env.ctlJson(['history', 'chat:1', '--limit=10', '--json']);
  assert.equal(ctlHistory.publications.length, 3, JSON.stringify(ctlHistory));
  alice.close();
  bob.close();
});

test('allow_publish_for_subscriber: a client that is not subscribed is refused with 103', async () => {
  const c = await connect(e1.url, 'outsider', {});
  await assert.rejects(c.client.publish('chat:2', { x: 1 }), (e) => e.code === 103, 'publish without subscription');
  c.close();
});

test('allow_publish_for_client: any client may publish without subscribing', async () => {
  const reader = await connect(e2.url, 'reader', {});
  await reader.subscribeAndWait('board:1');
  const writer = await connect(e1.url, 'writer', {});
  await writer.client.publish('board:1', { note: 'hi' });
  const pub = await reader.waitPublication('board:1', (d) => d.note === 'hi', 5000);
  assert.equal(pub.info?.user, 'writer');
  reader.close();
  writer.close();
});

test('a namespace without publish permission refuses client publish (103), subscribed or not', async () => {
  const c = await connect(e1.url, 'ro-user', {});
  const rec = await c.subscribeAndWait('ro:1');
  await assert.rejects(rec.sub.publish({ x: 1 }), (e) => e.code === 103, 'subscribed');
  await assert.rejects(c.client.publish('ro:2', { x: 1 }), (e) => e.code === 103, 'not subscribed');
  await assert.rejects(c.client.publish('unknown:1', { x: 1 }), (e) => e.code === 102 || e.code === 103, 'unknown namespace');
  await env.publish('ro:1', { barrier: true });
  await c.waitPublication('ro:1', (d) => d.barrier, 5000);
  assert.equal(rec.publications.length, 1, 'nothing of the refused publish was delivered');
  c.close();
});

test('client publish is rate limited per connection: 111 beyond the burst, allowed again after refill', async () => {
  const raw = await env.raw(limited.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'spammer' }));
  raw.sendCommands({ id: 2, subscribe: { channel: 'chat:spam' } });
  assert.ok((await raw.reply(2)).subscribe);
  const ids = [10, 11, 12, 13, 14, 15];
  raw.sendCommands(...ids.map((id) => ({ id, publish: { channel: 'chat:spam', data: { id } } })));
  const replies = [];
  for (const id of ids) replies.push(await raw.reply(id));
  const ok = replies.filter((r) => r.publish);
  const limitedReplies = replies.filter((r) => r.error?.code === 111);
  assert.equal(ok.length, 3, `burst of 3 accepted: ${JSON.stringify(replies)}`);
  assert.equal(limitedReplies.length, 3, `the rest refused with 111: ${JSON.stringify(replies)}`);
  assert.ok(replies.slice(0, 3).every((r) => r.publish), 'the first three are the accepted ones');

  // Another connection has its own budget.
  const other = await env.raw(limited.url, { autoPong: true });
  await other.connect(env.connToken({ sub: 'other' }));
  other.sendCommands({ id: 2, subscribe: { channel: 'chat:spam' } });
  await other.reply(2);
  other.sendCommands({ id: 3, publish: { channel: 'chat:spam', data: { other: 1 } } });
  assert.ok((await other.reply(3)).publish, 'a second connection is not limited by the first');

  // Refill at 1/s.
  await sleep(1300);
  raw.sendCommands({ id: 20, publish: { channel: 'chat:spam', data: { id: 20 } } });
  const again = await raw.reply(20);
  assert.ok(again.publish, `allowed after refill: ${JSON.stringify(again)}`);
  // Only accepted publications were delivered.
  await raw.waitMessage((m) => m.push?.pub?.data?.id === 20, 5000, 'own publication 20');
  const delivered = raw.messages.filter((m) => m.push?.channel === 'chat:spam' && m.push.pub?.data?.id !== undefined).map((m) => m.push.pub.data.id);
  assert.deepEqual(delivered, [10, 11, 12, 20], 'accepted ones only, in send order');
  raw.close();
  other.close();
});

test("one connection's publications on a channel keep the order it sent them in", async () => {
  // A reordering is a race (independent calls to control); 30 rounds of 10
  // publications, each round on a fresh connection and channel, catch it.
  const watcher = await connect(e2.url, 'order-watcher', {});
  const bad = [];
  for (let round = 0; round < 30; round++) {
    const channel = `chat:order-${round}`;
    const rec = await watcher.subscribeAndWait(channel);
    const raw = await env.raw(e1.url, { autoPong: true });
    await raw.connect(env.connToken({ sub: 'typist' }));
    raw.sendCommands({ id: 2, subscribe: { channel } });
    assert.ok((await raw.reply(2)).subscribe);
    // Ten messages in one frame, as a fast typist's client might batch them.
    const ids = Array.from({ length: 10 }, (_, i) => 100 + i);
    raw.sendCommands(...ids.map((id) => ({ id, publish: { channel, data: { seq: id } } })));
    for (const id of ids) assert.ok((await raw.reply(id)).publish, `publish ${id} accepted`);
    await watcher.waitPublication(channel, () => rec.publications.length === ids.length, 5000, `all ten on ${channel}`);
    const seen = rec.publications.map((p) => p.data.seq);
    if (JSON.stringify(seen) !== JSON.stringify(ids)) bad.push(`round ${round}: ${JSON.stringify(seen)}`);
    raw.close();
    rec.sub.unsubscribe();
  }
  assert.deepEqual(bad, [], 'every round delivered in send order');
  watcher.close();
});
