// Several control replicas behind one edge (--control=A,B): kill -9 of the
// replica the edge is attached to, and the edge attaches to the other
// within 2 s, where a client's subscription carries on; a blackholed
// address listed first does not hold the edge back either.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { Env, ServerProcess, READY_TIMEOUT_MS, waitFor } from './harness.mjs';
import { adminPortOf, httpGet, parseExposition } from './prometheus_util.mjs';

const env = new Env('wirehub-control-replicas');
after(() => env.cleanup());

/** What the edge is promised: another replica within this much. */
const REATTACH_BOUND_MS = 2000;

const configFile = path.join(env.dir, 'config.json');
fs.writeFileSync(configFile, JSON.stringify({
  namespaces: [{ name: 'chat', options: { allow_subscribe_for_client: true, history_size: 100, history_ttl: '300s', allow_recovery: true } }],
}));

/** wirehub_control_edges of `control` (attached edges), read from its /metrics. */
async function edgesAt(control) {
  const { status, text } = await httpGet(`http://127.0.0.1:${adminPortOf(control)}/metrics`);
  assert.equal(status, 200, `${control.name} /metrics answered ${status}`);
  const sample = parseExposition(text).samples.find((s) => s.name === 'wirehub_control_edges');
  return sample ? sample.value : 0;
}

const escaped = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Polls every 10 ms until `control` holds one edge; resolves with the time it was seen. */
async function waitForEdgeAt(control, timeoutMs, what) {
  return waitFor(async () => ((await edgesAt(control)) === 1 ? Date.now() : 0), timeoutMs, what, { intervalMs: 10 });
}

/**
 * A TCP address that answers nothing: a listener (a perl process: Node
 * accepts every connection) that never accept()s, its backlog of 0 filled
 * by connections of ours, so the kernel drops every further SYN.
 */
async function blackhole(t) {
  const script = [
    'socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";',
    'bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";',
    'listen($s, 0) or die "listen: $!";',
    'my ($port) = unpack_sockaddr_in(getsockname($s));',
    '$| = 1; print "silent on 127.0.0.1:$port\\n"; sleep 600;',
  ].join(' ');
  const child = spawn('perl', ['-MSocket', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new ServerProcess('blackhole', child);
  proc.expectExit({ signal: 'SIGTERM' });
  env.processes.push(proc);
  const m = await proc.waitForLine(/^silent on (127\.0\.0\.1:(\d+))$/, READY_TIMEOUT_MS);
  const fillers = [];
  for (let i = 0; i < 4; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: Number(m[2]) });
    socket.on('error', () => {});
    fillers.push(socket);
  }
  // The first filler is queued, the later ones stay in SYN-SENT.
  await waitFor(() => fillers.some((s) => !s.pending), 5000, 'a filler to connect to the blackhole');
  t.after(() => fillers.forEach((s) => s.destroy()));
  return m[1];
}

test('kill -9 of the attached replica: the edge attaches to the other within 2 s and the client carries on', async () => {
  const replicas = [
    await env.startControl([`--config=${configFile}`]),
    await env.startControl([`--config=${configFile}`]),
  ];
  const edge = await env.startEdge(replicas[0], {
    config: configFile,
    edge_id: 'edge-replicas',
    control: replicas.map((r) => r.edgeAddress).join(','),
  });

  // Which replica holds the edge: exactly one of them.
  const counts = await waitFor(
    async () => {
      const seen = await Promise.all(replicas.map(edgesAt));
      return seen[0] + seen[1] === 1 ? seen : null;
    },
    10_000,
    'one replica to hold the edge',
  );
  const attached = replicas[counts[0] === 1 ? 0 : 1];
  const survivor = replicas[counts[0] === 1 ? 1 : 0];
  assert.match(edge.stderrText, new RegExp(`attached to control at ${escaped(attached.edgeAddress)}\\b`));

  const client = env.sdk(edge.url, { token: await env.token('replica-user') });
  await client.connectAndWait();
  const sub = await client.subscribeAndWait('chat:replicas');
  await env.publish('chat:replicas', { n: 1 }, attached);
  await client.waitPublication('chat:replicas', (d) => d.n === 1, 5000, 'the publication on the first replica');

  attached.expectExit({ signal: 'SIGKILL' });
  const killedAt = Date.now();
  process.kill(attached.pid, 'SIGKILL');
  const seenAt = await waitForEdgeAt(survivor, 10_000, 'the surviving replica to hold the edge');
  const reattachMs = seenAt - killedAt;
  console.log(`re-attached to the surviving replica ${reattachMs} ms after kill -9`);
  assert.ok(reattachMs < REATTACH_BOUND_MS, `re-attached ${reattachMs} ms after the kill (bound ${REATTACH_BOUND_MS} ms)`);
  await waitFor(
    () => new RegExp(`attached to control at ${escaped(survivor.edgeAddress)}\\b`).test(edge.stderrText),
    5000,
    'the edge to log the replica it attached to',
  );

  // The survivor never had the client's stream (the memory engine: another
  // epoch), so the SDK is told to resubscribe; then it receives what is
  // published on the survivor.
  const resubscribed = await waitFor(
    () => sub.events.filter((e) => e.name === 'subscribed')[1],
    15_000,
    'the SDK to resubscribe on the surviving replica',
  );
  assert.equal(resubscribed.ctx.recovered, false, JSON.stringify(resubscribed.ctx));
  await env.publish('chat:replicas', { n: 2 }, survivor);
  await client.waitPublication('chat:replicas', (d) => d.n === 2, 5000, 'the publication on the surviving replica');
  console.log(`publication on the survivor received ${Date.now() - killedAt} ms after kill -9`);
  assert.equal(client.sockets.length, 1, 'the client connection survived the switch');
  client.close();
  await edge.stop();
});

test('a blackholed address listed first: the edge attaches to the good replica within 2 s of its start', async (t) => {
  const silent = await blackhole(t);
  const good = await env.startControl([`--config=${configFile}`]);
  const startedAt = Date.now();
  const edge = await env.startEdge(good, {
    config: configFile,
    edge_id: 'edge-blackhole',
    control: `${silent},${good.edgeAddress}`,
  });
  const seenAt = await waitForEdgeAt(good, 10_000, 'the good replica to hold the edge');
  const attachMs = seenAt - startedAt;
  console.log(`attached past the blackhole ${attachMs} ms after the edge started`);
  assert.ok(attachMs < REATTACH_BOUND_MS, `attached ${attachMs} ms after start (bound ${REATTACH_BOUND_MS} ms)`);

  const client = env.sdk(edge.url, { token: await env.token('blackhole-user') });
  await client.connectAndWait();
  await client.subscribeAndWait('chat:blackhole');
  await env.publish('chat:blackhole', { n: 1 }, good);
  await client.waitPublication('chat:blackhole', (d) => d.n === 1, 5000, 'the publication through the good replica');
  client.close();
});
