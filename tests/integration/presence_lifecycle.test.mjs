// Presence and join/leave through every way a subscription starts and ends
// (issue #4, point 5): server-side subscriptions (token `channels`, the
// Subscribe RPC), Unsubscribe and Disconnect RPCs, subscription-token expiry
// (2501), connection expiry (3005), tenants (join/leave never cross), an edge
// stopped with SIGTERM, and a restarted control learning presence again from
// the edges.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-presence-lifecycle');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    { name: 'chat', options: { allow_subscribe_for_client: true, presence: true, join_leave: true, allow_presence_for_subscriber: true } },
    // Token-only channels with presence.
    { name: 'room', options: { presence: true, join_leave: true, allow_presence_for_subscriber: true } },
  ],
};

let configFile;
let control;
let e1;
let e2;
let watcher; // on e1, subscribed to chat:w and room:w (by token)
const clientId = (c) => c.eventsNamed('connected').at(-1).ctx.client;

before(async () => {
  configFile = env.writeConfig('config.json', config);
  control = await env.startControl([`--config=${configFile}`]);
  e1 = await env.startEdge(control, { edge_id: 'edge-pl1', config: configFile, expired_close_delay: '1s' });
  e2 = await env.startEdge(control, { edge_id: 'edge-pl2', config: configFile, expired_close_delay: '1s' });
  await env.waitStats((s) => (s.edges ?? []).length === 2, 10_000, 'two edges attached');
  watcher = env.sdk(e1.url, { token: env.connToken({ sub: 'watcher', channels: ['room:w'] }) });
  await watcher.connectAndWait();
  await watcher.subscribeAndWait('chat:w');
  await watcher.waitEvent('subscribed', (x) => x.channel === 'room:w', 5000, 'watcher on room:w');
});

async function presenceUsers(channel, extra = [], ctl = control) {
  const r = await env.ctlJson(['presence', channel, '--json', ...extra], ctl);
  return (r.clients ?? []).map((c) => c.user).sort();
}

async function waitPresence(channel, users, what, extra = [], ctl = control, timeoutMs = 5000) {
  let last;
  try {
    await waitFor(
      async () => {
        last = await presenceUsers(channel, extra, ctl);
        return JSON.stringify(last) === JSON.stringify([...users].sort());
      },
      timeoutMs,
      what,
    );
  } catch (err) {
    err.message += `; last presence: ${JSON.stringify(last)}`;
    throw err;
  }
}

/** join/leave events of the watcher's client-side subscription (chat:*) or client-level ones (server-side). */
function waitWatcher(kind, channel, user, what) {
  const rec = watcher.subs.get(channel);
  if (rec) return watcher.waitSubEvent(channel, kind, (x) => x.info?.user === user, 5000, what);
  return watcher.waitEvent(kind, (x) => x.channel === channel && x.info?.user === user, 5000, what);
}

test('a token `channels` subscription is in presence and announced by join', async () => {
  const c = env.sdk(e2.url, { token: env.connToken({ sub: 'tok', channels: ['room:w'], info: { via: 'token' } }) });
  await c.connectAndWait();
  const join = await waitWatcher('join', 'room:w', 'tok', 'join of tok on room:w (client-level event)');
  assert.deepEqual(join.info.connInfo, { via: 'token' });
  await waitPresence('room:w', ['tok', 'watcher'], 'tok in room:w presence');
  c.client.disconnect();
  await waitWatcher('leave', 'room:w', 'tok', 'leave of tok on disconnect');
  await waitPresence('room:w', ['watcher'], 'tok gone from room:w');
});

test('Subscribe RPC: presence and join; Unsubscribe RPC: presence dropped and leave', async () => {
  const c = env.sdk(e2.url, { token: env.connToken({ sub: 'srv' }) });
  await c.connectAndWait();
  assert.equal((await env.ctlCount(['subscribe', '--user=srv', 'room:w'])).connections, 1);
  await waitWatcher('join', 'room:w', 'srv', 'join after Subscribe');
  await waitPresence('room:w', ['srv', 'watcher'], 'srv in presence after Subscribe');
  assert.equal((await env.ctlCount(['unsubscribe', '--user=srv', 'room:w'])).connections, 1);
  await waitWatcher('leave', 'room:w', 'srv', 'leave after Unsubscribe');
  await waitPresence('room:w', ['watcher'], 'srv gone after Unsubscribe');
  c.close();
});

test('Disconnect RPC: presence dropped on both edges and leave pushed', async () => {
  const a = env.sdk(e1.url, { token: env.connToken({ sub: 'kick' }) });
  const b = env.sdk(e2.url, { token: env.connToken({ sub: 'kick' }) });
  await a.connectAndWait();
  await b.connectAndWait();
  await a.subscribeAndWait('chat:w');
  await b.subscribeAndWait('chat:w');
  await waitPresence('chat:w', ['kick', 'kick', 'watcher'], 'both kick connections in presence');
  assert.equal((await env.ctlCount(['disconnect', '--user=kick'])).connections, 2);
  await waitPresence('chat:w', ['watcher'], 'kick gone after Disconnect');
  const leaves = () => watcher.subs.get('chat:w').events.filter((e) => e.name === 'leave' && e.ctx.info?.user === 'kick');
  await waitFor(() => leaves().length === 2, 5000, 'two leaves of kick');
  assert.deepEqual(leaves().map((e) => e.ctx.info.client).sort(), [clientId(a), clientId(b)].sort());
});

test('subscription token expiry (2501): presence dropped and leave pushed', async () => {
  const raw = await env.raw(e2.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'shortsub' }));
  const exp = nowSeconds() + 2;
  raw.sendCommands({
    id: 2,
    subscribe: { channel: 'room:w', token: signHs256(env.secret, { typ: 'subscription', sub: 'shortsub', channel: 'room:w', exp, info: { seat: 7 } }) },
  });
  assert.ok((await raw.reply(2)).subscribe);
  const join = await waitWatcher('join', 'room:w', 'shortsub', 'join of shortsub');
  assert.deepEqual(join.info.chanInfo, { seat: 7 }, 'the subscription token info rides on join as chan_info');
  await waitPresence('room:w', ['shortsub', 'watcher'], 'shortsub in presence');
  await raw.waitMessage((m) => m.push?.unsubscribe?.code === 2501, 6000, '2501');
  await waitWatcher('leave', 'room:w', 'shortsub', 'leave after subscription expiry');
  await waitPresence('room:w', ['watcher'], 'shortsub gone after expiry');
  assert.ok(raw.isOpen);
  raw.close();
});

test('connection expiry (3005): presence dropped and leave pushed', async () => {
  const raw = await env.raw(e2.url, { autoPong: true });
  await raw.connect(signHs256(env.secret, { sub: 'shortconn', exp: nowSeconds() + 2 }));
  raw.sendCommands({ id: 2, subscribe: { channel: 'chat:w' } });
  assert.ok((await raw.reply(2)).subscribe);
  await waitPresence('chat:w', ['shortconn', 'watcher'], 'shortconn in presence');
  assert.equal((await raw.waitClose(6000)).code, 3005);
  await waitWatcher('leave', 'chat:w', 'shortconn', 'leave after connection expiry');
  await waitPresence('chat:w', ['watcher'], 'shortconn gone after 3005');
});

test('join/leave and presence never cross tenants', async (t) => {
  const opened = [];
  t.after(() => opened.forEach((c) => c.close()));
  const wa = env.sdk(e1.url, { token: env.connToken({ sub: 'wa', tenant: 'ta' }) });
  await wa.connectAndWait();
  await wa.subscribeAndWait('chat:w');
  opened.push(wa);
  const tb = env.sdk(e2.url, { token: env.connToken({ sub: 'intruder', tenant: 'tb' }) });
  opened.push(tb);
  await tb.connectAndWait();
  await tb.subscribeAndWait('chat:w');
  const plain = env.sdk(e2.url, { token: env.connToken({ sub: 'plain' }) });
  opened.push(plain);
  await plain.connectAndWait();
  await plain.subscribeAndWait('chat:w');
  await waitWatcher('join', 'chat:w', 'plain', 'join of plain (default space)');
  // A later join in tenant ta is the barrier for wa.
  const ta2 = env.sdk(e2.url, { token: env.connToken({ sub: 'friend', tenant: 'ta' }) });
  opened.push(ta2);
  await ta2.connectAndWait();
  await ta2.subscribeAndWait('chat:w');
  await wa.waitSubEvent('chat:w', 'join', (x) => x.info?.user === 'friend', 5000, 'join of friend in ta');
  await sleep(200);
  // (A subscriber may see its own join.)
  const waJoins = wa.subs.get('chat:w').events.filter((e) => e.name === 'join' && e.ctx.info.user !== 'wa').map((e) => e.ctx.info.user);
  assert.deepEqual(waJoins, ['friend'], "tenant ta saw only its own tenant's joins");
  assert.ok(!watcher.subs.get('chat:w').events.some((e) => e.name === 'join' && ['intruder', 'friend', 'wa'].includes(e.ctx.info?.user)), 'default space saw no tenant join');
  await waitPresence('chat:w', ['friend', 'wa'], 'ta presence', ['--tenant=ta']);
  await waitPresence('chat:w', ['intruder'], 'tb presence', ['--tenant=tb']);
  await waitPresence('chat:w', ['plain', 'watcher'], 'default presence');
  for (const c of [wa, tb, plain, ta2]) c.close();
  await waitPresence('chat:w', ['watcher'], 'default presence after closes');
});

test('an edge stopped with SIGTERM: its clients leave presence, and subscribers elsewhere get leave', async () => {
  const e3 = await env.startEdge(control, { edge_id: 'edge-pl3', config: configFile });
  const c = env.sdk(e3.url, { token: env.connToken({ sub: 'leaver' }) });
  await c.connectAndWait();
  await c.subscribeAndWait('chat:w');
  await waitPresence('chat:w', ['leaver', 'watcher'], 'leaver in presence');
  await e3.stop({ graceMs: 5000 });
  await waitPresence('chat:w', ['watcher'], 'leaver gone after SIGTERM of its edge');
  await waitWatcher('leave', 'chat:w', 'leaver', 'leave of leaver');
});

test('a restarted control learns presence again from the edges', async () => {
  const c = env.sdk(e2.url, { token: env.connToken({ sub: 'stayer' }) });
  await c.connectAndWait();
  await c.subscribeAndWait('chat:w');
  await waitPresence('chat:w', ['stayer', 'watcher'], 'stayer in presence');
  const port = control.port;
  await control.stop({ graceMs: 3000 });
  await sleep(300);
  const second = await env.startControl([`--config=${configFile}`, `--grpc_listen=127.0.0.1:${port}`]);
  env.control = second;
  control = second;
  // The edges' reconnect backoff is at most 5 s.
  await waitPresence('chat:w', ['stayer', 'watcher'], 'presence restored after the control restart', [], second, 15_000);
  // Client presence through the edge agrees.
  const p = await watcher.subs.get('chat:w').sub.presence();
  assert.deepEqual(Object.values(p.clients).map((x) => x.user).sort(), ['stayer', 'watcher']);
  // join/leave still work.
  c.client.disconnect();
  await waitPresence('chat:w', ['watcher'], 'stayer gone', [], second);
  c.close();
});
