// Gap repair at the edge: a broken control link loses nothing for clients;
// a restarted control (history gone) never yields recovered=true across a hole.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { Env, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-gap-repair');
after(() => env.cleanup());

const configFile = path.join(env.dir, 'config.json');
fs.writeFileSync(configFile, JSON.stringify({
  namespaces: [{ name: 'chat', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 1000, history_ttl: '300s', allow_recovery: true } }],
}));

const dataOf = (rec) => rec.publications.map((p) => p.data.n);

test('a broken and restored control link: clients see no gap, no duplicate and no unsubscribe', async () => {
  const control = await env.startControl([`--config=${configFile}`]);
  const proxy = await env.tcpProxy(control.edgePort);
  const edge = await env.startEdge({ address: proxy.address }, { config: configFile, edge_id: 'edge-proxied' });
  const client = env.sdk(edge.url, { token: await env.token('gap-user') });
  await client.connectAndWait();
  const sub = await client.subscribeAndWait('chat:gap');

  for (let n = 1; n <= 10; n++) await env.publish('chat:gap', { n }, control);
  await waitFor(() => sub.publications.length === 10, 5000, '10 publications before the cut');

  proxy.cut();
  await env.waitStats((s) => !(s.edges ?? []).some((e) => e.id === 'edge-proxied'), 10_000, 'control to see the edge go');
  for (let n = 11; n <= 20; n++) await env.publish('chat:gap', { n }, control);
  proxy.restore();
  await env.waitStats((s) => (s.edges ?? []).some((e) => e.id === 'edge-proxied'), 15_000, 'the edge to re-attach');
  for (let n = 21; n <= 25; n++) await env.publish('chat:gap', { n }, control);

  await waitFor(() => sub.publications.length >= 25, 10_000, '25 publications');
  await sleep(200);
  assert.deepEqual(dataOf(sub), Array.from({ length: 25 }, (_, i) => i + 1));
  assert.deepEqual(sub.publications.map((p) => Number(p.offset)), Array.from({ length: 25 }, (_, i) => i + 1));
  assert.equal(sub.events.filter((e) => e.name === 'subscribing').length, 1, 'never resubscribed');
  assert.equal(sub.events.filter((e) => e.name === 'unsubscribed').length, 0);
  assert.equal(client.sockets.length, 1);
});

test('a restarted control: clients get recovered=false and the new epoch, never recovered across a hole', async () => {
  const first = await env.startControl([`--config=${configFile}`]);
  env.control = first;
  const edge = await env.startEdge(first, { config: configFile, edge_id: 'edge-restart' });
  const client = env.sdk(edge.url, { token: await env.token('restart-user') });
  await client.connectAndWait();
  const sub = await client.subscribeAndWait('chat:restart');
  const firstSubscribed = sub.events.find((e) => e.name === 'subscribed').ctx;
  for (let n = 1; n <= 3; n++) await env.publish('chat:restart', { n }, first);
  await waitFor(() => sub.publications.length === 3, 5000, '3 publications');

  const port = first.port;
  await first.stop({ graceMs: 3000 });
  const second = await env.startControl([`--config=${configFile}`, `--grpc_listen=127.0.0.1:${port}`]);
  env.control = second;

  const resubscribed = await waitFor(
    () => sub.events.filter((e) => e.name === 'subscribed')[1],
    15_000,
    'the SDK to resubscribe after the edge found the stream gone',
  );
  const ctx = resubscribed.ctx;
  assert.equal(ctx.wasRecovering, true, JSON.stringify(ctx));
  assert.equal(ctx.recovered, false, JSON.stringify(ctx));
  assert.notEqual(ctx.streamPosition.epoch, firstSubscribed.streamPosition.epoch);
  for (const e of sub.events.filter((x) => x.name === 'subscribed')) {
    assert.ok(!(e.ctx.recovered && e.ctx.streamPosition.epoch !== firstSubscribed.streamPosition.epoch));
  }

  await env.publish('chat:restart', { n: 100 }, second);
  const pub = await client.waitPublication('chat:restart', (d) => d.n === 100, 5000, 'publication in the new epoch');
  assert.equal(Number(pub.offset), 1);
  assert.equal(client.sockets.length, 1, 'the connection itself survived');
});
