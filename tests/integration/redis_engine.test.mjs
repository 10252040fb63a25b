// The Redis engine: two control replicas share one Redis. Publications made
// through either replica reach the clients of every edge exactly once, in
// offset order; a Redis that comes back empty changes every epoch and
// clients are told (recovered: false), never recovered across a hole.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64, waitFor } from './harness.mjs';
import { killRedis, redisConfig, startRedis } from './redis_util.mjs';

const env = new Env('wirehub-redis-engine');
after(() => env.cleanup());

const CHANNELS = Array.from({ length: 10 }, (_, i) => `chat:room${i}`);
const PER_CHANNEL = 60;

let redis;
let configFile;
let controls;
let edges;
// {client, subs: Map(channel -> rec)}
const clients = [];

before(async () => {
  redis = await startRedis(env);
  configFile = redisConfig(env, 'redis-config.json', redis, {
    namespaces: [{
      name: 'chat',
      options: {
        allow_subscribe_for_client: true, allow_history_for_subscriber: true,
        history_size: 1000, history_ttl: '300s', allow_recovery: true,
      },
    }, {
      name: 'room',
      options: {
        allow_subscribe_for_client: true, presence: true, allow_presence_for_subscriber: true,
        join_leave: true,
      },
    }],
  });
  controls = [
    await env.startControl([`--config=${configFile}`]),
    await env.startControl([`--config=${configFile}`]),
  ];
  env.control = controls[0];
  edges = await Promise.all([
    env.startEdge(controls[0], { config: configFile, edge_id: 'edge-a' }),
    env.startEdge(controls[1], { config: configFile, edge_id: 'edge-b' }),
  ]);
  // 20 clients, 10 per edge; client i follows channels i%10 and (i+3)%10.
  for (let i = 0; i < 20; i++) {
    const client = env.sdk(edges[i % 2].url, { token: await env.token(`user-${i}`) });
    await client.connectAndWait();
    const subs = new Map();
    for (const channel of [CHANNELS[i % 10], CHANNELS[(i + 3) % 10]]) {
      subs.set(channel, await client.subscribeAndWait(channel));
    }
    clients.push({ client, subs });
  }
});

test('publications through either replica reach every client once, in offset order', async () => {
  // Each replica publishes half of every channel's publications, at once.
  const linesFor = (replica) => {
    const lines = [];
    for (let n = 0; n < PER_CHANNEL / 2; n++) {
      for (const channel of CHANNELS) lines.push(`${channel} ${JSON.stringify({ n, replica })}`);
    }
    return lines;
  };
  const [a, b] = await Promise.all([
    env.publishLines(linesFor(0), { control: controls[0] }),
    env.publishLines(linesFor(1), { control: controls[1] }),
  ]);
  const epochs = new Set([...a, ...b].map((p) => p.epoch));
  assert.equal(epochs.size, CHANNELS.length, 'one epoch per channel, shared by both replicas');

  for (const { subs } of clients) {
    for (const rec of subs.values()) {
      await waitFor(() => rec.publications.length >= PER_CHANNEL, 15_000, `${PER_CHANNEL} publications on ${rec.channel}`);
    }
  }
  await sleep(300);
  for (const { subs } of clients) {
    for (const rec of subs.values()) {
      const offsets = rec.publications.map((p) => Number(p.offset));
      assert.deepEqual(offsets, Array.from({ length: PER_CHANNEL }, (_, i) => i + 1), rec.channel);
      // Each replica's own publications keep their order.
      for (const replica of [0, 1]) {
        const ns = rec.publications.filter((p) => p.data.replica === replica).map((p) => p.data.n);
        assert.deepEqual(ns, Array.from({ length: PER_CHANNEL / 2 }, (_, i) => i), `${rec.channel} from ${replica}`);
      }
    }
  }
});

test('history is shared: a read through the other replica sees every publication', async () => {
  const { stdout } = await env.ctl([`--control=${controls[1].address}`, 'history', CHANNELS[0], '--limit=-1']);
  const lines = stdout.trim().split('\n');
  assert.match(lines[0], new RegExp(`^epoch=\\S+ offset=${PER_CHANNEL}$`));
  const offsets = lines.slice(1).map((l) => Number(l.split(' ')[0]));
  assert.deepEqual(offsets, Array.from({ length: PER_CHANNEL }, (_, i) => i + 1));
});

test('presence and join/leave span the replicas', async () => {
  const watchers = [];
  for (const [i, edge] of edges.entries()) {
    const w = env.sdk(edge.url, { token: await env.token(`watcher-${i}`) });
    await w.connectAndWait();
    await w.subscribeAndWait('room:1');
    watchers.push(w);
  }
  // The first watcher sees the second's join, made on the other replica.
  await watchers[0].waitSubEvent('room:1', 'join', (ctx) => ctx.info?.user === 'watcher-1', 5000, 'join of watcher-1');

  const carol = env.sdk(edges[1].url, { token: await env.token('carol') });
  await carol.connectAndWait();
  await carol.subscribeAndWait('room:1');
  await watchers[0].waitSubEvent('room:1', 'join', (ctx) => ctx.info?.user === 'carol', 5000, 'join of carol on the other replica');

  const users = async (w) => Object.values((await w.subs.get('room:1').sub.presence()).clients).map((c) => c.user).sort();
  assert.deepEqual(await users(watchers[0]), ['carol', 'watcher-0', 'watcher-1']);
  assert.deepEqual(await users(watchers[1]), ['carol', 'watcher-0', 'watcher-1']);
  const stats = await watchers[0].subs.get('room:1').sub.presenceStats();
  assert.equal(stats.numClients, 3);
  assert.equal(stats.numUsers, 3);

  carol.close();
  await watchers[0].waitSubEvent('room:1', 'leave', (ctx) => ctx.info?.user === 'carol', 5000, 'leave of carol on the other replica');
  assert.deepEqual(await users(watchers[1]), ['watcher-0', 'watcher-1']);
  // Each join reached each watcher once.
  for (const w of watchers) {
    const joins = w.subs.get('room:1').events.filter((e) => e.name === 'join' && e.ctx.info?.user === 'carol');
    assert.equal(joins.length, 1);
  }
  for (const w of watchers) w.close();
});

test('the server API reaches the edges of every replica', async () => {
  // Stats through either replica list both edges and all 20 clients.
  for (const control of controls) {
    const stats = await env.stats(control);
    assert.deepEqual(stats.edges.map((e) => e.id).sort(), ['edge-a', 'edge-b'], JSON.stringify(stats));
    assert.ok(u64(stats.total_connections) >= 20, JSON.stringify(stats));
  }
  // user-1 is on edge-b (attached to controls[1]); the call goes to controls[0].
  const extra = await env.ctlCount(['subscribe', '--user=user-1', 'chat:server'], controls[0]);
  assert.equal(extra.connections, 1);
  assert.equal(extra.edgesMissing, 0);
  const target = clients[1];
  await target.client.waitEvent('subscribed', (ctx) => ctx.channel === 'chat:server', 5000, 'server-side subscription');
  // The victim is on edge-a (controls[0]); the call goes to controls[1].
  const victim = env.sdk(edges[0].url, { token: await env.token('victim') });
  await victim.connectAndWait();
  const gone = await env.ctlCount(['disconnect', '--user=victim'], controls[1]);
  assert.equal(gone.connections, 1);
  await victim.waitEvent('disconnected', () => true, 5000, 'victim disconnected through the other replica');
});

test('Redis restarted empty: every epoch changes and clients are told, never recovered across a hole', async () => {
  const before = clients.map(({ subs }) => new Map([...subs].map(([ch, rec]) => [ch, rec.events.filter((e) => e.name === 'subscribed').length])));
  const oldEpoch = clients[0].subs.get(CHANNELS[0]).events.find((e) => e.name === 'subscribed').ctx.streamPosition.epoch;
  const port = redis.redisPort;
  await killRedis(redis);
  redis = await startRedis(env, { port });

  // Each subscription is re-established with recovered=false in a new epoch.
  for (const [i, { subs }] of clients.entries()) {
    for (const [channel, rec] of subs) {
      const ctx = (await waitFor(
        () => rec.events.filter((e) => e.name === 'subscribed')[before[i].get(channel)],
        20_000,
        `client ${i} to resubscribe to ${channel}`,
      )).ctx;
      assert.equal(ctx.recovered, false, JSON.stringify(ctx));
    }
  }
  for (const { subs } of clients) {
    for (const rec of subs.values()) {
      for (const e of rec.events.filter((x) => x.name === 'subscribed')) {
        assert.ok(!(e.ctx.recovered && e.ctx.streamPosition.epoch !== oldEpoch), JSON.stringify(e.ctx));
      }
    }
  }
  const position = await env.publish(CHANNELS[0], { after: 'restart' }, controls[1]);
  assert.equal(position.offset, 1);
  assert.notEqual(position.epoch, oldEpoch);
  for (const { client, subs } of clients) {
    if (!subs.has(CHANNELS[0])) continue;
    const pub = await client.waitPublication(CHANNELS[0], (d) => d.after === 'restart', 10_000, 'publication after the restart');
    assert.equal(Number(pub.offset), 1);
  }
});
