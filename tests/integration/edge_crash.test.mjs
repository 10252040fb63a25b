// kill -9 an edge while a publisher sends 500 publications/s over several
// channels: the SDK clients reconnect (through a TCP balancer) to a second
// edge and recover; every client gets every sequence number once, in order.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';

import { Env, binPath, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-edge-crash');
let balancer;
after(async () => {
  balancer?.close();
  await env.cleanup();
});

const CHANNELS = ['chat:c1', 'chat:c2', 'chat:c3', 'chat:c4'];
const CLIENTS = 8;
const RATE = 600; // publications per second, over all channels (target >= 500)
const SECONDS = 4;

/** Forwards each new connection to the first target that accepts it. */
async function startBalancer(targets) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    client.pause();
    client.on('error', () => {});
    const tryTarget = (i) => {
      if (i >= targets.length) return client.destroy();
      const upstream = net.connect(targets[i], '127.0.0.1');
      upstream.once('error', () => tryTarget(i + 1));
      upstream.once('connect', () => {
        upstream.on('error', () => {});
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
        }
        client.pipe(upstream);
        upstream.pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.resume();
      });
    };
    tryTarget(0);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${server.address().port}/connection/websocket`,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('kill -9 of an edge under >= 500 publications/s: zero missing, zero duplicated, in order', async () => {
  const configFile = path.join(env.dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({
    namespaces: [{ name: 'chat', options: { allow_subscribe_for_client: true, allow_history_for_subscriber: true, history_size: 5000, history_ttl: '300s', allow_recovery: true } }],
    recovery_max_publications: 5000,
  }));
  const control = await env.startControl([`--config=${configFile}`]);
  const edgeA = await env.startEdge(control, { config: configFile, edge_id: 'edge-a' });
  const edgeB = await env.startEdge(control, { config: configFile, edge_id: 'edge-b' });
  balancer = await startBalancer([edgeA.port, edgeB.port]);

  const clients = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = env.sdk(balancer.url, { token: await env.token(`crash-user-${i}`) });
    await c.connectAndWait();
    for (const channel of CHANNELS) await c.subscribeAndWait(channel);
    clients.push(c);
  }
  await env.waitStats(
    (s) => (s.edges ?? []).find((e) => e.id === 'edge-a')?.connections == CLIENTS,
    10_000,
    'all clients on edge A',
  );

  // The publisher: one PublishStream fed RATE/20 lines every 50 ms.
  const total = RATE * SECONDS;
  const perChannel = total / CHANNELS.length;
  const lines = [];
  for (let seq = 1; seq <= perChannel; seq++) {
    for (const channel of CHANNELS) lines.push(`${channel} {"seq":${seq}}\n`);
  }
  // stdout is drained: a full pipe would block the publisher.
  const publisher = spawn(binPath('wirehubctl'), [`--control=${control.address}`, 'publish-stream']);
  publisher.stdout.resume();
  let publisherErr = '';
  publisher.stderr.on('data', (d) => (publisherErr += d));
  const published = new Promise((resolve) => publisher.on('exit', resolve));
  const started = Date.now();
  let next = 0;
  const batch = RATE / 20;
  await new Promise((resolve) => {
    const feed = () => {
      publisher.stdin.write(lines.slice(next, next + batch).join(''));
      next += batch;
      if (next >= lines.length) {
        publisher.stdin.end();
        resolve();
      } else {
        setTimeout(feed, 50);
      }
    };
    feed();
    // Kill edge A hard a little after a third of the run.
    setTimeout(() => {
      edgeA.killedAt = Date.now();
      edgeA.expectExit({ signal: 'SIGKILL' });
      process.kill(edgeA.pid, 'SIGKILL');
    }, (SECONDS * 1000) / 3);
  });
  const code = await published;
  assert.equal(code, 0, `publisher failed: ${publisherErr}`);
  const publishSeconds = (Date.now() - started) / 1000;

  const received = (c, channel) => c.subs.get(channel).publications.map((p) => p.data.seq);
  await waitFor(
    () => clients.every((c) => CHANNELS.every((ch) => received(c, ch).length >= perChannel)),
    30_000,
    'every client to receive every publication',
  );
  await sleep(300);
  let recoverMs = 0;
  for (const [i, c] of clients.entries()) {
    for (const channel of CHANNELS) {
      const seqs = received(c, channel);
      assert.equal(seqs.length, perChannel, `client ${i} ${channel}: ${seqs.length} received (duplicates or loss)`);
      assert.deepEqual(seqs, Array.from({ length: perChannel }, (_, k) => k + 1), `client ${i} ${channel} in order`);
    }
    assert.ok(c.sockets.length >= 2, `client ${i} reconnected`);
    const firstAfter = Math.min(
      ...CHANNELS.map((ch) => c.subs.get(ch).events.filter((e) => e.name === 'subscribed').at(-1).at),
    );
    recoverMs = Math.max(recoverMs, firstAfter - edgeA.killedAt);
  }
  const stats = await env.stats();
  const b = (stats.edges ?? []).find((e) => e.id === 'edge-b');
  assert.equal(Number(b?.connections), CLIENTS, 'all clients now on edge B');
  console.log(
    `edge-crash: ${total} publications over ${CHANNELS.length} channels in ${publishSeconds.toFixed(2)} s ` +
      `(${Math.round(total / publishSeconds)}/s), ${CLIENTS} clients x ${CHANNELS.length} channels, ` +
      `0 missing, 0 duplicated; slowest client resubscribed ${recoverMs} ms after kill -9`,
  );
});
