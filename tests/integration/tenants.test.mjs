// Tenants (issue #4, points 3 and 9): a connection token's `tenant` claim puts
// the connection in its own channel space. Two tenants subscribed to the same
// channel name get only their own tenant's publications; tenant B cannot list
// (connections/channels), see presence of, or read history of tenant A's
// channel; no client-chosen channel name reaches another tenant's space.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64 } from './harness.mjs';

const env = new Env('wirehub-tenants');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    {
      name: 'room',
      options: {
        allow_subscribe_for_client: true,
        history_size: 10,
        history_ttl: '60s',
        allow_history_for_subscriber: true,
        presence: true,
        allow_presence_for_subscriber: true,
        allow_publish_for_subscriber: true,
      },
    },
    { name: 'private', options: {} },
  ],
};

let edge;
// The same user id in three spaces: tenant a, tenant b, the default space.
let ca;
let cb;
let cd;

before(async () => {
  const file = env.writeConfig('config.json', config);
  const control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, { edge_id: 'edge-tenants', config: file });
});

async function connect(tenant, user = 'u1', info = undefined) {
  const claims = { sub: user };
  if (tenant !== undefined) claims.tenant = tenant;
  if (info !== undefined) claims.info = info;
  const c = env.sdk(edge.url, { token: env.connToken(claims) });
  await c.connectAndWait();
  return c;
}

const datas = (c, channel) => (c.subs.get(channel)?.publications ?? []).map((p) => p.data);

test('same channel name in two tenants and the default space: each publish reaches only its own space', async () => {
  ca = await connect('a', 'u1', { space: 'a' });
  cb = await connect('b', 'u1', { space: 'b' });
  cd = await connect(undefined, 'u1', { space: 'default' });
  for (const c of [ca, cb, cd]) {
    await c.subscribeAndWait('room:1');
    await c.subscribeAndWait('barrier');
  }
  await env.publish('room:1', { to: 'a' }, env.control, { tenant: 'a' });
  await env.publish('room:1', { to: 'b' }, env.control, { tenant: 'b' });
  await env.publish('room:1', { to: 'default' });
  // Barriers: one per space, published last.
  await env.publish('barrier', { end: 'a' }, env.control, { tenant: 'a' });
  await env.publish('barrier', { end: 'b' }, env.control, { tenant: 'b' });
  await env.publish('barrier', { end: 'default' });
  await ca.waitPublication('barrier', (d) => d.end === 'a', 5000);
  await cb.waitPublication('barrier', (d) => d.end === 'b', 5000);
  await cd.waitPublication('barrier', (d) => d.end === 'default', 5000);
  await sleep(200);
  assert.deepEqual(datas(ca, 'room:1'), [{ to: 'a' }], 'tenant a got only its publication');
  assert.deepEqual(datas(cb, 'room:1'), [{ to: 'b' }], 'tenant b got only its publication');
  assert.deepEqual(datas(cd, 'room:1'), [{ to: 'default' }], 'the default space got only its publication');
  assert.deepEqual(datas(ca, 'barrier'), [{ end: 'a' }]);
  assert.deepEqual(datas(cb, 'barrier'), [{ end: 'b' }]);
  // Each space has its own stream: all three got offset 1.
  for (const c of [ca, cb, cd]) assert.equal(c.subs.get('room:1').publications[0].offset, 1);
});

test("a client cannot escape its tenant by channel name: '|' is refused with 107", async () => {
  for (const channel of ['a|room:1', 'room:1|a', '|room:1']) {
    const ctx = await cb.subscribeRefused(channel);
    assert.equal(ctx.code, 107, `${channel}: ${JSON.stringify(ctx)}`);
  }
  const raw = await env.raw(edge.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'u9', tenant: 'b' }));
  raw.sendCommands(
    { id: 2, subscribe: { channel: 'a|room:1' } },
    { id: 3, history: { channel: 'a|room:1', limit: 10 } },
    { id: 4, presence: { channel: 'a|room:1' } },
    { id: 5, publish: { channel: 'a|room:1', data: { x: 1 } } },
  );
  assert.equal((await raw.reply(2)).error?.code, 107, 'subscribe');
  // history/presence/publish: refused either as a bad name (107) or as not
  // subscribed / not allowed (103); never answered.
  for (const id of [3, 4, 5]) {
    const r = await raw.reply(id);
    assert.ok([103, 107].includes(r.error?.code), `command ${id}: ${JSON.stringify(r)}`);
  }
  raw.close();
  // The backend cannot address one either.
  await assert.rejects(env.publish('a|room:1', { x: 1 }), /INVALID_ARGUMENT/);
});

test("subscription tokens are per tenant: a token minted for tenant a does not open b's channel", async () => {
  const refused = await cb.subscribeRefused('private:p', { token: env.subToken('u1', 'private:p', { tenant: 'a' }) });
  assert.equal(refused.code, 103);
  const noTenant = await cb.subscribeRefused('private:p', { token: env.subToken('u1', 'private:p') });
  assert.equal(noTenant.code, 103, 'a default-space token does not open a tenant channel');
  await cb.subscribeAndWait('private:p', 5000, { token: env.subToken('u1', 'private:p', { tenant: 'b' }) });
});

test("client history shows only the own tenant's publications", async () => {
  const ha = await ca.subs.get('room:1').sub.history({ limit: 10 });
  const hb = await cb.subs.get('room:1').sub.history({ limit: 10 });
  const hd = await cd.subs.get('room:1').sub.history({ limit: 10 });
  assert.deepEqual(ha.publications.map((p) => p.data), [{ to: 'a' }]);
  assert.deepEqual(hb.publications.map((p) => p.data), [{ to: 'b' }]);
  assert.deepEqual(hd.publications.map((p) => p.data), [{ to: 'default' }]);
});

test("wirehubctl history --tenant reads only that tenant's channel", async () => {
  const of = async (tenant) => {
    const args = ['history', 'room:1', '--limit=10', '--json'];
    if (tenant) args.push(`--tenant=${tenant}`);
    const h = await env.ctlJson(args);
    return (h.publications ?? []).map((p) => (typeof p.data === 'string' ? JSON.parse(p.data) : p.data));
  };
  assert.deepEqual(await of('a'), [{ to: 'a' }]);
  assert.deepEqual(await of('b'), [{ to: 'b' }]);
  assert.deepEqual(await of(''), [{ to: 'default' }]);
  assert.deepEqual(await of('c'), [], 'an unused tenant has nothing');
});

test("presence: a tenant's client and wirehubctl presence --tenant see only that tenant", async () => {
  const pb = await cb.subs.get('room:1').sub.presence();
  const clientsB = Object.values(pb.clients);
  assert.equal(clientsB.length, 1, JSON.stringify(pb));
  assert.deepEqual(clientsB[0].connInfo, { space: 'b' });

  const ctlPresence = async (tenant) => {
    const args = ['presence', 'room:1', '--json'];
    if (tenant) args.push(`--tenant=${tenant}`);
    const r = await env.ctlJson(args);
    return r.clients ?? [];
  };
  const a = await ctlPresence('a');
  assert.equal(a.length, 1, JSON.stringify(a));
  assert.equal(a[0].client, ca.eventsNamed('connected')[0].ctx.client);
  const b = await ctlPresence('b');
  assert.equal(b.length, 1, JSON.stringify(b));
  assert.equal(b[0].client, cb.eventsNamed('connected')[0].ctx.client);
  const d = await ctlPresence('');
  assert.equal(d.length, 1, JSON.stringify(d));
  assert.equal(d[0].client, cd.eventsNamed('connected')[0].ctx.client);
  assert.deepEqual(await ctlPresence('c'), []);
  const stats = await env.presenceStats('room:1', ['--tenant=b']);
  assert.equal(stats.clients, 1, JSON.stringify(stats));
});

test('connections and channels --tenant list only that tenant', async () => {
  const conns = async (tenant, extra = []) => {
    const args = ['connections', '--json', ...extra];
    if (tenant) args.push(`--tenant=${tenant}`);
    const r = await env.ctlJson(args);
    return r.connections ?? [];
  };
  const b = await conns('b');
  assert.deepEqual(b.map((c) => c.client), [cb.eventsNamed('connected')[0].ctx.client], JSON.stringify(b));
  assert.equal(b[0].tenant, 'b');
  const a = await conns('a', ['--user=u1']);
  assert.deepEqual(a.map((c) => c.client), [ca.eventsNamed('connected')[0].ctx.client]);
  const d = await conns('', ['--channel=room:1']);
  assert.deepEqual(d.map((c) => c.client), [cd.eventsNamed('connected')[0].ctx.client]);

  const chans = async (tenant) => {
    const args = ['channels', '--json'];
    if (tenant) args.push(`--tenant=${tenant}`);
    const r = await env.ctlJson(args);
    return Object.fromEntries((r.channels ?? []).map((c) => [c.channel, u64(c.subscribers)]));
  };
  assert.deepEqual(await chans('b'), { 'room:1': 1, barrier: 1, 'private:p': 1 });
  assert.deepEqual(await chans('a'), { 'room:1': 1, barrier: 1 });
  assert.deepEqual(await chans(''), { 'room:1': 1, barrier: 1 });
  assert.deepEqual(await chans('c'), {});
});

test("a client publish stays in the publisher's tenant", async () => {
  await cb.subs.get('room:1').sub.publish({ from: 'b-client' });
  await cb.waitPublication('room:1', (d) => d.from === 'b-client', 5000);
  await env.publish('barrier', { end: 'a2' }, env.control, { tenant: 'a' });
  await env.publish('barrier', { end: 'd2' });
  await ca.waitPublication('barrier', (d) => d.end === 'a2', 5000);
  await cd.waitPublication('barrier', (d) => d.end === 'd2', 5000);
  await sleep(200);
  assert.ok(!datas(ca, 'room:1').some((d) => d.from), "tenant a did not get b's client publication");
  assert.ok(!datas(cd, 'room:1').some((d) => d.from), "the default space did not get b's client publication");
});

test("a tenant claim outside [A-Za-z0-9_.-]{1,64} is an invalid token (3500): no tenant name can carry a '|'", async () => {
  for (const tenant of ['a|b', 'x'.repeat(65), 'sp ace', '']) {
    const raw = await env.raw(edge.url);
    raw.sendCommands({ id: 1, connect: { token: env.connToken({ sub: 'u1', tenant }) } });
    const close = await raw.waitClose(5000);
    assert.equal(close.code, 3500, `tenant ${JSON.stringify(tenant)}: ${JSON.stringify(close)}`);
  }
  // The backend cannot name one either.
  await assert.rejects(env.publish('room:1', { x: 1 }, env.control, { tenant: 'a|b' }), /INVALID_ARGUMENT/);
});
