// The edge<->control link: losing control does not disconnect clients; the
// edge re-attaches to a restarted control, re-sends its interest, and
// publications flow again. Also the per-client outbound bound (3008).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, sleep, u64, waitFor } from './harness.mjs';

const env = new Env('wirehub-control-link');
after(() => env.cleanup());

test('edge re-attaches to a restarted control; clients stay connected and receive again', async () => {
  const first = await env.startControl();
  const edge = await env.startEdge(first, { edge_id: 'edge-relink' });
  const client = env.sdk(edge.url, { token: await env.token('relink-user') });
  await client.connectAndWait();
  const sub = await client.subscribeAndWait('relink');

  await env.publish('relink', { n: 1 });
  await client.waitPublication('relink', (d) => d.n === 1, 5000, 'publication before the restart');

  // Control goes away; the edge's clients must not notice.
  const port = first.port;
  await first.stop({ graceMs: 3000 });
  await sleep(300);

  // A new control on the same address; the edge's backoff is at most 5 s.
  const second = await env.startControl([`--grpc_listen=127.0.0.1:${port}`]);
  assert.equal(second.port, port);
  env.control = second;
  const stats = await env.waitStats(
    (s) =>
      (s.edges ?? []).some((e) => e.id === 'edge-relink') &&
      (s.top_channels ?? []).some((c) => c.channel === 'relink' && u64(c.subscribers) === 1),
    15_000,
    'the edge to re-attach and re-send its interest in "relink"',
  );
  assert.equal(u64(stats.unique_users), 1, 'the hello re-sent the connected users');

  await env.publish('relink', { n: 2 });
  await client.waitPublication('relink', (d) => d.n === 2, 5000, 'publication after the restart');

  // One WebSocket the whole time: no disconnect, no resubscribe.
  assert.equal(client.sockets.length, 1, 'the SDK opened exactly one WebSocket');
  assert.equal(client.eventsNamed('disconnected').length, 0);
  assert.equal(sub.events.filter((e) => e.name === 'subscribing').length, 1);
});

test('a client that stops reading is closed at its queue bound while others keep receiving', async () => {
  const control = env.control;
  const edge = await env.startEdge(control, { edge_id: 'edge-slow', client_queue_max_bytes: 65536 });
  const channels = Array.from({ length: 10 }, (_, i) => `slow-${i}`);

  const watcher = env.sdk(edge.url, { token: await env.token('watcher') });
  await watcher.connectAndWait();
  const watched = await watcher.subscribeAndWait('slow-0');

  const slow = await env.raw(edge.url);
  await slow.connect(await env.token('slow-user'));
  slow.sendCommands(...channels.map((channel, i) => ({ id: 10 + i, subscribe: { channel } })));
  for (let i = 0; i < channels.length; i++) await slow.reply(10 + i);
  slow.ws._socket.pause(); // Stop reading: the kernel buffers fill, then the edge queue.

  const big = { pad: 'x'.repeat(60_000) };
  let sent = 0;
  const deadline = Date.now() + 60_000;
  let closed = false;
  while (!closed && Date.now() < deadline && sent < 120) {
    await env.ctl([`--control=${control.address}`, 'broadcast', ...channels, JSON.stringify({ ...big, seq: sent })]);
    sent++;
    const s = await env.stats();
    const e = (s.edges ?? []).find((x) => x.id === 'edge-slow');
    closed = e !== undefined && u64(e.connections) === 1;
  }
  assert.ok(closed, `the slow client was not closed after ${sent} broadcasts of 10 x 60 KB`);

  slow.ws._socket.resume();
  const info = await slow.waitClose(10_000);
  assert.ok([3008, 1006].includes(info.code), `close code ${info.code}`);

  // The watcher got every broadcast, in order, despite the slow neighbour.
  await waitFor(() => watched.publications.length === sent, 10_000, `watcher to get ${sent} publications`);
  assert.deepEqual(
    watched.publications.map((p) => p.data.seq),
    Array.from({ length: sent }, (_, i) => i),
  );
});

test('control detaches an edge that cannot keep up; the edge re-attaches and delivery resumes', async () => {
  const control = await env.startControl(['--edge_queue_max_publications=50']);
  // A roomy client queue: the backlog the edge drains after SIGCONT must not
  // close the client as slow (3008), which is a different test.
  const edge = await env.startEdge(control, { edge_id: 'edge-stalled', client_queue_max_bytes: 64 << 20 });
  const channels = Array.from({ length: 10 }, (_, i) => `stall-${i}`);
  const client = env.sdk(edge.url, { token: await env.token('stall-user') });
  await client.connectAndWait();
  for (const channel of channels) await client.subscribeAndWait(channel);

  const statsOf = async () => JSON.parse((await env.ctl([`--control=${control.address}`, 'stats', '--json'])).stdout);
  // Freeze the edge: control's stream to it backs up past the bound.
  process.kill(edge.pid, 'SIGSTOP');
  let detached = false;
  try {
    const big = JSON.stringify({ pad: 'y'.repeat(60_000) });
    for (let i = 0; i < 60 && !detached; i++) {
      await env.ctl([`--control=${control.address}`, 'broadcast', ...channels, big]);
      detached = u64((await statsOf()).slow_edge_detaches) >= 1;
    }
  } finally {
    process.kill(edge.pid, 'SIGCONT');
  }
  assert.ok(detached, 'control never detached the stalled edge');

  await waitFor(
    async () => {
      const s = await statsOf();
      return (s.edges ?? []).some((e) => e.id === 'edge-stalled') &&
        (s.top_channels ?? []).some((c) => c.channel === 'stall-0');
    },
    15_000,
    'the stalled edge to re-attach with its interest',
  );
  await env.ctl([`--control=${control.address}`, 'publish', 'stall-0', JSON.stringify({ after: true })]);
  await client.waitPublication('stall-0', (d) => d.after === true, 5000, 'publication after re-attach');
  assert.equal(client.sockets.length, 1, 'the client stayed on its one WebSocket');
});
