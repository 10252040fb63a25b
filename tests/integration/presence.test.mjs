// Presence and join/leave across two edges (issue #4, points 5 and 9):
// wirehubctl presence / presence-stats aggregate over edges, client presence
// commands where allowed (103 otherwise), join/leave pushes reach SDK
// subscriptions, and an edge that dies takes its presence entries with it:
// at once when the process is killed, after --edge_timeout when it goes
// silent (SIGSTOP).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64, waitFor } from './harness.mjs';

const env = new Env('wirehub-presence');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    { name: 'chat', options: { allow_subscribe_for_client: true, presence: true, join_leave: true, allow_presence_for_subscriber: true } },
    // Presence kept, but not for clients to read; no join/leave.
    { name: 'quiet', options: { allow_subscribe_for_client: true, presence: true } },
    // No presence kept (allow_presence_for_subscriber needs presence).
    { name: 'nopres', options: { allow_subscribe_for_client: true } },
  ],
};

let configFile;
let control;
let e1;
let e2;
let alice; // e1
let bob; // e2
let alice2; // e2, same user as alice
const clientId = (c) => c.eventsNamed('connected')[0].ctx.client;

before(async () => {
  configFile = env.writeConfig('config.json', config);
  control = await env.startControl([`--config=${configFile}`]);
  e1 = await env.startEdge(control, { edge_id: 'edge-p1', config: configFile });
  e2 = await env.startEdge(control, { edge_id: 'edge-p2', config: configFile });
});

/** conn_info / chan_info as wirehubctl --json prints them: raw JSON, a JSON string, or base64 (proto bytes). */
function decodeInfo(v) {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return JSON.parse(Buffer.from(v, 'base64').toString('utf8'));
  }
}

async function ctlPresence(channel, extra = [], ctl = control) {
  return env.ctlJson(['presence', channel, '--json', ...extra], ctl);
}

async function connect(url, user, info) {
  const c = env.sdk(url, { token: env.connToken({ sub: user, info }) });
  await c.connectAndWait();
  return c;
}

test('wirehubctl presence and presence-stats list the clients of both edges', async () => {
  alice = await connect(e1.url, 'alice', { name: 'Alice' });
  bob = await connect(e2.url, 'bob', { name: 'Bob' });
  alice2 = await connect(e2.url, 'alice', { name: 'Alice', device: 'phone' });
  for (const c of [alice, bob, alice2]) await c.subscribeAndWait('chat:1');

  const expected = [alice, bob, alice2].map(clientId).sort();
  const p = await waitFor(
    async () => {
      const r = await ctlPresence('chat:1');
      return (r.clients ?? []).length === 3 ? r : undefined;
    },
    5000,
    'three clients in presence',
  );
  assert.deepEqual(p.clients.map((c) => c.client), expected, 'ordered by client id');
  const byClient = Object.fromEntries(p.clients.map((c) => [c.client, c]));
  assert.equal(byClient[clientId(alice)].user, 'alice');
  assert.deepEqual(decodeInfo(byClient[clientId(alice)].conn_info), { name: 'Alice' });
  assert.equal(byClient[clientId(bob)].user, 'bob');
  assert.deepEqual(decodeInfo(byClient[clientId(bob)].conn_info), { name: 'Bob' });
  assert.deepEqual(decodeInfo(byClient[clientId(alice2)].conn_info), { name: 'Alice', device: 'phone' });

  const stats = await env.presenceStats('chat:1');
  assert.equal(stats.clients, 3, JSON.stringify(stats));
  assert.equal(stats.users, 2, JSON.stringify(stats));
});

test('wirehubctl presence pages with --page_size', async () => {
  const first = await ctlPresence('chat:1', ['--page_size=2']);
  assert.equal(first.clients.length, 2, JSON.stringify(first));
  assert.ok(first.next_page_token, 'a next page token');
  const second = await ctlPresence('chat:1', ['--page_size=2', `--page_token=${first.next_page_token}`]);
  assert.equal(second.clients.length, 1, JSON.stringify(second));
  assert.ok(!second.next_page_token, 'last page');
  assert.deepEqual(
    [...first.clients, ...second.clients].map((c) => c.client),
    [alice, bob, alice2].map(clientId).sort(),
  );
});

test('presence of a namespace without presence is refused by wirehubctl (FAILED_PRECONDITION)', async () => {
  await assert.rejects(ctlPresence('nopres:1'), /FAILED_PRECONDITION/);
});

test('client presence and presence_stats where allowed, 103 where not', async () => {
  const rec = bob.subs.get('chat:1');
  const p = await rec.sub.presence();
  assert.deepEqual(Object.keys(p.clients).sort(), [alice, bob, alice2].map(clientId).sort(), JSON.stringify(p));
  assert.equal(p.clients[clientId(alice)].user, 'alice');
  assert.deepEqual(p.clients[clientId(alice)].connInfo, { name: 'Alice' });
  const s = await rec.sub.presenceStats();
  assert.equal(s.numClients, 3, JSON.stringify(s));
  assert.equal(s.numUsers, 2, JSON.stringify(s));

  const quiet = await bob.subscribeAndWait('quiet:1');
  await assert.rejects(quiet.sub.presence(), (e) => e.code === 103, 'presence without allow_presence_for_subscriber');
  await assert.rejects(quiet.sub.presenceStats(), (e) => e.code === 103, 'presence_stats without allow_presence_for_subscriber');
  const nopres = await bob.subscribeAndWait('nopres:1');
  await assert.rejects(nopres.sub.presence(), (e) => e.code === 103, 'presence where none is kept');
  // Not subscribed.
  await assert.rejects(bob.client.presence('chat:2'), (e) => e.code === 103, 'presence without subscription');
  await assert.rejects(bob.client.presenceStats('chat:2'), (e) => e.code === 103, 'presence_stats without subscription');
});

test('join and leave pushes reach subscribers on both edges (SDK join/leave events)', async () => {
  const watcher1 = await connect(e1.url, 'w1', { role: 'watcher' });
  const watcher2 = await connect(e2.url, 'w2', { role: 'watcher' });
  await watcher1.subscribeAndWait('chat:jl');
  await watcher2.subscribeAndWait('chat:jl');
  // A newcomer on edge 2.
  const carol = await connect(e2.url, 'carol', { name: 'Carol' });
  const carolSub = await carol.subscribeAndWait('chat:jl');
  for (const w of [watcher1, watcher2]) {
    const join = await w.waitSubEvent('chat:jl', 'join', (ctx) => ctx.info?.user === 'carol', 5000, 'join of carol');
    assert.equal(join.info.client, clientId(carol));
    assert.deepEqual(join.info.connInfo, { name: 'Carol' });
  }
  // watcher1 also saw watcher2 join.
  await watcher1.waitSubEvent('chat:jl', 'join', (ctx) => ctx.info?.user === 'w2', 5000, 'join of w2');
  // Unsubscribe: leave.
  carolSub.sub.unsubscribe();
  for (const w of [watcher1, watcher2]) {
    const leave = await w.waitSubEvent('chat:jl', 'leave', (ctx) => ctx.info?.user === 'carol', 5000, 'leave of carol');
    assert.equal(leave.info.client, clientId(carol));
  }
  // Disconnect: leave too.
  const dan = await connect(e1.url, 'dan', { name: 'Dan' });
  await dan.subscribeAndWait('chat:jl');
  await watcher2.waitSubEvent('chat:jl', 'join', (ctx) => ctx.info?.user === 'dan', 5000, 'join of dan');
  dan.client.disconnect();
  await watcher2.waitSubEvent('chat:jl', 'leave', (ctx) => ctx.info?.user === 'dan', 5000, 'leave of dan on disconnect');
  await watcher1.waitSubEvent('chat:jl', 'leave', (ctx) => ctx.info?.user === 'dan', 5000, 'leave of dan (same edge)');

  // No join/leave where the namespace does not have it.
  await watcher1.subscribeAndWait('quiet:jl');
  const eve = await connect(e2.url, 'eve', {});
  await eve.subscribeAndWait('quiet:jl');
  await env.publish('quiet:jl', { barrier: 1 });
  await watcher1.waitPublication('quiet:jl', (d) => d.barrier === 1, 5000);
  await sleep(200);
  const rec = watcher1.subs.get('quiet:jl');
  assert.equal(rec.events.filter((e) => e.name === 'join' || e.name === 'leave').length, 0, 'no join/leave on quiet:jl');
  assert.ok(!watcher1.receivedMessages().some((m) => (m.push?.join || m.push?.leave) && m.push.channel === 'quiet:jl'));
  for (const c of [watcher1, watcher2, carol, eve]) c.close();
});

test('kill -9 of an edge removes its clients from presence within 5 s', async () => {
  const before = await ctlPresence('chat:1');
  assert.equal(before.clients.length, 3);
  const killedAt = Date.now();
  e2.expectExit({ signal: 'SIGKILL' });
  e2.child.kill('SIGKILL');
  await e2.exited;
  const p = await waitFor(
    async () => {
      const r = await ctlPresence('chat:1');
      return (r.clients ?? []).length === 1 ? r : undefined;
    },
    5000,
    "edge 2's clients to leave presence",
  );
  assert.deepEqual(p.clients.map((c) => c.client), [clientId(alice)]);
  const stats = await env.presenceStats('chat:1');
  assert.equal(stats.clients, 1);
  assert.equal(stats.users, 1);
  const took = Date.now() - killedAt;
  assert.ok(took < 5000, `took ${took} ms`);
  // The client-side view agrees.
  const mine = await alice.subs.get('chat:1').sub.presence();
  assert.deepEqual(Object.keys(mine.clients), [clientId(alice)]);
});

test('a silent edge (SIGSTOP) loses its presence after --edge_timeout', async () => {
  const ctl2 = await env.startControl([`--config=${configFile}`, '--edge_timeout=2s']);
  const live = await env.startEdge(ctl2, { edge_id: 'edge-live', config: configFile });
  const frozen = await env.startEdge(ctl2, { edge_id: 'edge-frozen', config: configFile });
  const a = await connect(live.url, 'la', {});
  const b = await connect(frozen.url, 'fb', {});
  await a.subscribeAndWait('chat:s');
  await b.subscribeAndWait('chat:s');
  await waitFor(async () => ((await ctlPresence('chat:s', [], ctl2)).clients ?? []).length === 2, 5000, 'both in presence');
  frozen.child.kill('SIGSTOP');
  try {
    const stoppedAt = Date.now();
    const p = await waitFor(
      async () => {
        const r = await ctlPresence('chat:s', [], ctl2);
        return (r.clients ?? []).length === 1 ? r : undefined;
      },
      8000,
      "the frozen edge's client to leave presence",
    );
    assert.deepEqual(p.clients.map((c) => c.user), ['la']);
    const took = Date.now() - stoppedAt;
    assert.ok(took >= 1500, `presence dropped after ${took} ms, before the 2 s edge timeout`);
    // The edge wakes up: it re-attaches and its client is back in presence
    // and receives again (the edge's reconnect backoff is at most 5 s).
    frozen.child.kill('SIGCONT');
    await waitFor(
      async () => ((await ctlPresence('chat:s', [], ctl2)).clients ?? []).length === 2,
      12_000,
      "the resumed edge's client back in presence",
    );
    await env.publish('chat:s', { after: 'resume' }, ctl2);
    await b.waitPublication('chat:s', (d) => d.after === 'resume', 5000, 'publication on the resumed edge');
  } finally {
    frozen.expectExit({ signal: 'SIGKILL' });
    frozen.child.kill('SIGKILL');
    await frozen.exited;
  }
  a.close();
  b.close();
});
