// Channel permissions (issue #4, points 1, 2 and 9) through the real edge and
// the centrifuge SDK: user-limited '#' channels, private channels that need a
// subscription token, a connection token replayed as a subscription token,
// tokens for another channel/user/tenant, anonymous connections, the
// `channels` claim (server-side subscriptions at connect), client history
// permission, and chan_info of a subscription token in presence.
//
// SDK facts (centrifuge 5.x): a subscribe refused with a non-temporary error
// (103) ends the subscription: `unsubscribed` {code: 103, reason}. Server-side
// subscriptions emit client-level `subscribed` and `publication` events.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256 } from './harness.mjs';

const env = new Env('wirehub-permissions');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    // Public, but '#' channels only for the users they name.
    { name: 'personal', options: { allow_subscribe_for_client: true, allow_user_limited_channels: true } },
    // Nothing allowed: subscription token, or the channel in the connection token.
    { name: 'private', options: { presence: true, allow_presence_for_subscriber: true } },
    { name: 'public', options: { allow_subscribe_for_client: true } },
    { name: 'open', options: { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true } },
    { name: 'nohist', options: { allow_subscribe_for_client: true, history_size: 10, history_ttl: '60s' } },
    {
      name: 'hist',
      options: { allow_subscribe_for_client: true, history_size: 10, history_ttl: '60s', allow_history_for_subscriber: true },
    },
    {
      name: 'forced',
      options: { allow_subscribe_for_client: true, history_size: 10, history_ttl: '60s', allow_recovery: true, force_recovery: true },
    },
  ],
};

let edge;

before(async () => {
  const file = env.writeConfig('config.json', config);
  const control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, { edge_id: 'edge-perm', config: file });
});

async function sdkAs(user, claims = {}) {
  const c = env.sdk(edge.url, { token: env.connToken({ sub: user, ...claims }) });
  await c.connectAndWait();
  return c;
}

test('user-limited channels: only the users named after # may subscribe', async () => {
  const alice = await sdkAs('alice');
  const bob = await sdkAs('bob');
  const carol = await sdkAs('carol');

  await alice.subscribeAndWait('personal:inbox#alice');
  const refused = await bob.subscribeRefused('personal:inbox#alice');
  assert.equal(refused.code, 103, `bob on alice's channel: ${JSON.stringify(refused)}`);

  // A dialog channel lists both users.
  await alice.subscribeAndWait('personal:dialog#alice,bob');
  await bob.subscribeAndWait('personal:dialog#alice,bob');
  const third = await carol.subscribeRefused('personal:dialog#alice,bob');
  assert.equal(third.code, 103, `carol on alice+bob's dialog: ${JSON.stringify(third)}`);
  // A user id that merely contains or prefixes a listed one is not listed.
  const prefix = await sdkAs('ali');
  assert.equal((await prefix.subscribeRefused('personal:inbox#alice')).code, 103);

  // Only the named user receives what is published there.
  await env.publish('personal:inbox#alice', { to: 'alice' });
  await alice.waitPublication('personal:inbox#alice', (d) => d.to === 'alice', 5000);
  for (const c of [alice, bob, carol, prefix]) c.close();
});

test('a private channel is refused without a subscription token (103), and the refusal does not leak existence', async () => {
  const alice = await sdkAs('alice');
  const refused = await alice.subscribeRefused('private:room1');
  assert.equal(refused.code, 103, JSON.stringify(refused));
  assert.equal(refused.reason, 'permission denied');

  // A channel with a live subscriber and one never used answer identically.
  const owner = env.sdk(edge.url, { token: env.connToken({ sub: 'owner' }) });
  await owner.connectAndWait();
  await owner.subscribeAndWait('private:busy', 5000, { token: env.subToken('owner', 'private:busy') });
  const raw = await env.raw(edge.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'probe' }));
  raw.sendCommands({ id: 2, subscribe: { channel: 'private:busy' } }, { id: 3, subscribe: { channel: 'private:never-used' } });
  const busy = await raw.reply(2);
  const never = await raw.reply(3);
  assert.deepEqual(busy.error, { code: 103, message: 'permission denied' });
  assert.deepEqual(never.error, busy.error, 'same answer whether the channel exists or not');
  raw.close();
  alice.close();
  owner.close();
});

test('a connection token replayed as a subscription token is refused (103)', async () => {
  const connTokenOfAlice = env.connToken({ sub: 'alice' });
  const alice = env.sdk(edge.url, { token: connTokenOfAlice });
  await alice.connectAndWait();
  const replayed = await alice.subscribeRefused('private:room2', { token: connTokenOfAlice });
  assert.equal(replayed.code, 103, `own connection token as subscription token: ${JSON.stringify(replayed)}`);

  // Even a connection-shaped token naming the channel (no typ) is not a subscription token.
  const shaped = env.connToken({ sub: 'alice', channel: 'private:room2' });
  const refused = await alice.subscribeRefused('private:room2', { token: shaped });
  assert.equal(refused.code, 103, `token with channel but no typ: ${JSON.stringify(refused)}`);

  // The other way round: a subscription token is no connection token.
  const raw = await env.raw(edge.url);
  raw.sendCommands({ id: 1, connect: { token: env.subToken('alice', 'private:room2') } });
  const close = await raw.waitClose(5000);
  assert.equal(close.code, 3500, `subscription token used to connect: ${JSON.stringify(close)}`);
  alice.close();
});

test('subscription tokens for another channel, user or tenant, badly signed or expired are refused', async () => {
  const alice = await sdkAs('alice');
  const cases = [
    ['another channel', env.subToken('alice', 'private:other')],
    ['another user', env.subToken('bob', 'private:room3')],
    ['a tenant the connection is not in', env.subToken('alice', 'private:room3', { tenant: 'acme' })],
    ['another secret', env.subToken('alice', 'private:room3', {}, { secret: env.otherSecret })],
    ['a wrong typ', env.subToken('alice', 'private:room3', { typ: 'connection' })],
  ];
  for (const [what, token] of cases) {
    const ctx = await alice.subscribeRefused('private:room3', { token });
    assert.equal(ctx.code, 103, `${what}: ${JSON.stringify(ctx)}`);
  }
  // Expired: 109 on the wire (a raw client, so no SDK token retry is involved).
  const raw = await env.raw(edge.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'alice' }));
  const now = nowSeconds();
  const expired = signHs256(env.secret, { typ: 'subscription', sub: 'alice', channel: 'private:room3', iat: now - 100, exp: now - 50 });
  raw.sendCommands({ id: 2, subscribe: { channel: 'private:room3', token: expired } });
  assert.equal((await raw.reply(2)).error?.code, 109);
  raw.close();
  alice.close();
});

test('a valid subscription token opens a private channel and its publications arrive', async () => {
  const alice = await sdkAs('alice');
  await alice.subscribeAndWait('private:room4', 5000, { token: env.subToken('alice', 'private:room4') });
  // getToken works the same way.
  const bob = await sdkAs('bob');
  await bob.subscribeAndWait('private:room4', 5000, {
    getToken: async (ctx) => env.subToken('bob', ctx.channel),
  });
  await env.publish('private:room4', { secret: 1 });
  await alice.waitPublication('private:room4', (d) => d.secret === 1, 5000);
  await bob.waitPublication('private:room4', (d) => d.secret === 1, 5000);
  alice.close();
  bob.close();
});

test('anonymous connections subscribe only where allow_subscribe_for_anonymous is set', async () => {
  const anon = await sdkAs('');
  const refused = await anon.subscribeRefused('public:lobby');
  assert.equal(refused.code, 103, `anonymous on a client-only public channel: ${JSON.stringify(refused)}`);
  await anon.subscribeAndWait('open:lobby');
  // Nor can an anonymous connection claim a '#' channel.
  assert.equal((await anon.subscribeRefused('personal:inbox#')).code, 103);
  // A user subscribes to both.
  const user = await sdkAs('someone');
  await user.subscribeAndWait('public:lobby');
  await user.subscribeAndWait('open:lobby');
  anon.close();
  user.close();
});

test('the channels claim makes server-side subscriptions at connect (client-level subscribed + publication)', async () => {
  const dave = env.sdk(edge.url, { token: env.connToken({ sub: 'dave', channels: ['private:dave-feed', 'public:news'] }) });
  await dave.connectAndWait();
  await dave.waitEvent('subscribed', (ctx) => ctx.channel === 'private:dave-feed', 5000, 'subscribed to private:dave-feed');
  await dave.waitEvent('subscribed', (ctx) => ctx.channel === 'public:news', 5000, 'subscribed to public:news');
  await env.publish('private:dave-feed', { for: 'dave' });
  const pub = await dave.waitEvent('publication', (ctx) => ctx.channel === 'private:dave-feed', 5000, 'client-level publication');
  assert.deepEqual(pub.data, { for: 'dave' });
  // The push that announced it.
  const push = dave.receivedMessages().find((m) => m.push?.subscribe && m.push.channel === 'private:dave-feed');
  assert.ok(push, 'a subscribe push announced the server-side subscription');
  // Another user's token channels are not this user's.
  const eve = await sdkAs('eve');
  assert.equal((await eve.subscribeRefused('private:dave-feed')).code, 103);
  dave.close();
  eve.close();
});

test('client history: 103 without allow_history_for_subscriber or without subscription; allowed otherwise', async () => {
  const c = await sdkAs('reader');
  const nohist = await c.subscribeAndWait('nohist:a');
  await env.publish('nohist:a', { n: 1 });
  await c.waitPublication('nohist:a', (d) => d.n === 1, 5000);
  await assert.rejects(nohist.sub.history({ limit: 10 }), (err) => err.code === 103, 'history where the namespace does not allow it');

  const hist = await c.subscribeAndWait('hist:a');
  await env.publish('hist:a', { n: 1 });
  await c.waitPublication('hist:a', (d) => d.n === 1, 5000);
  const h = await hist.sub.history({ limit: 10 });
  assert.deepEqual(h.publications.map((p) => p.data), [{ n: 1 }]);

  // Not subscribed: refused even where subscribers may read it.
  await env.publish('hist:b', { n: 2 });
  await assert.rejects(c.client.history('hist:b', { limit: 10 }), (err) => err.code === 103, 'history without subscription');
  c.close();
});

test('subscription token info shows as chan_info (and token info as conn_info) in presence', async () => {
  const alice = env.sdk(edge.url, { token: env.connToken({ sub: 'alice', info: { name: 'Alice' } }) });
  await alice.connectAndWait();
  const rec = await alice.subscribeAndWait('private:room5', 5000, {
    token: env.subToken('alice', 'private:room5', { info: { role: 'owner' } }),
  });
  const clientId = alice.eventsNamed('connected')[0].ctx.client;
  const p = await rec.sub.presence();
  const me = p.clients[clientId];
  assert.ok(me, `own client in presence: ${JSON.stringify(p)}`);
  assert.equal(me.user, 'alice');
  assert.deepEqual(me.connInfo, { name: 'Alice' });
  assert.deepEqual(me.chanInfo, { role: 'owner' });
  alice.close();
});

test('force_recovery: a subscribe carrying a position recovers even without recover: true', async () => {
  const raw = await env.raw(edge.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'rec' }));
  await env.publish('forced:1', { n: 1 });
  const second = await env.publish('forced:1', { n: 2 });
  await env.publish('forced:1', { n: 3 });
  raw.sendCommands({ id: 2, subscribe: { channel: 'forced:1', epoch: second.epoch, offset: second.offset } });
  const r = await raw.reply(2);
  assert.equal(r.subscribe?.recovered, true, JSON.stringify(r));
  assert.deepEqual(r.subscribe.publications.map((p) => p.data), [{ n: 3 }]);
  // The same in a namespace with history but no forced recovery: just the position.
  await env.publish('hist:f', { n: 1 });
  const h2 = await env.publish('hist:f', { n: 2 });
  raw.sendCommands({ id: 3, subscribe: { channel: 'hist:f', epoch: h2.epoch, offset: h2.offset - 1 } });
  const plain = await raw.reply(3);
  assert.ok(plain.subscribe, JSON.stringify(plain));
  assert.ok(!plain.subscribe.recovered && !(plain.subscribe.publications ?? []).length, JSON.stringify(plain));
  raw.close();
});
