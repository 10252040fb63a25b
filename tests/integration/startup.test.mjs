// Start-up failures: wirehub-edge on a taken port exits 1 naming the
// address; tools/dev/run-local fails loudly and stops what it started when
// its edge cannot come up, and otherwise prints its banner once the edge
// accepts connections.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';

import { BIN_DIR, Env, binPath, freePort, sleep, waitFor, withTimeout } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const runLocalPath = path.join(repoRoot, 'tools/dev/run-local');

const EXIT_BOUND_MS = 10_000;
const RUN_LOCAL_BOUND_MS = 40_000;

const env = new Env('wirehub-startup');
const holders = [];
const runLocals = [];
after(async () => {
  for (const r of runLocals) await r.kill();
  for (const h of holders) h.close();
  await env.cleanup();
});

/** Holds a port on 127.0.0.1 with a listening server; resolves with the port. */
async function holdPort() {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  holders.push(server);
  return server.address().port;
}

/** Resolves true if a listener can be opened on 127.0.0.1:port now (and closes it). */
function canListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Resolves true if something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Pids of running processes whose command line holds `needle` as one argument. */
function pidsWithArg(needle) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let args;
    try {
      args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (args.includes(needle)) found.push(Number(entry));
  }
  return found;
}

test('wirehub-edge on a taken port exits with status 1 and names the address on stderr', async () => {
  const port = await holdPort();
  const control = await env.startControl();
  const config = env.writeConfig('open.json', { defaults: { allow_subscribe_for_client: true } });
  const edge = env.spawnBinary('wirehub-edge[taken-port]', 'wirehub-edge', [
    '--admin_listen=127.0.0.1:0',
    `--listen=127.0.0.1:${port}`,
    `--control=${control.address}`,
    `--token_hmac_secret_file=${env.secretFile}`,
    `--config=${config}`,
  ]);
  edge.expectExit({ code: 1 });
  // 'close' comes once stdout and stderr are drained too.
  edge.child.stdout.resume();
  const closed = new Promise((resolve) => edge.child.once('close', resolve));
  const info = await withTimeout(edge.exited, EXIT_BOUND_MS, `wirehub-edge on taken port ${port} to exit`);
  await withTimeout(closed, 2000, 'wirehub-edge stdio to close');
  assert.deepEqual(
    { code: info.code, signal: info.signal },
    { code: 1, signal: null },
    `exit status of wirehub-edge --listen=127.0.0.1:${port} (port taken); stderr:\n${edge.stderrText}`,
  );
  assert.ok(
    edge.stderrText.includes(`127.0.0.1:${port}`),
    `stderr names the address 127.0.0.1:${port}:\n${edge.stderrText}`,
  );
  assert.ok(control.running, 'control is unaffected');
  assert.ok(await accepts(port), 'the holder still has the port');
});

/**
 * Runs tools/dev/run-local (build skipped, binaries from BIN_DIR) in its own
 * process group with the given ports; returns a handle with its output,
 * `exited` and kill() (the whole group).
 */
async function runLocal({ grpcPort, wsPort, edgeLinkPort, tls = false, args = [], env = {} }) {
  // The admin listeners too, so nothing here depends on 7102 and 8001 being free.
  const controlAdminPort = await freePort();
  const edgeAdminPort = await freePort();
  for (const name of ['wirehub-control', 'wirehub-edge', 'wirehubctl']) binPath(name);
  const child = spawn(runLocalPath, args, {
    cwd: repoRoot,
    detached: true, // own process group: kill() reaches the servers it started
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WIREHUB_RUN_LOCAL_SKIP_BUILD: '1',
      WIREHUB_BIN_DIR: BIN_DIR,
      WIREHUB_GRPC_PORT: String(grpcPort),
      WIREHUB_EDGE_LINK_PORT: String(edgeLinkPort),
      WIREHUB_WS_PORT: String(wsPort),
      WIREHUB_CONTROL_ADMIN_PORT: String(controlAdminPort),
      WIREHUB_EDGE_ADMIN_PORT: String(edgeAdminPort),
      WIREHUB_TLS: tls ? '1' : '0',
      ...env,
    },
  });
  const handle = {
    child,
    controlAdminPort,
    edgeAdminPort,
    stdout: '',
    stderr: '',
    exitInfo: null,
    async kill() {
      if (handle.exitInfo) return;
      for (const signal of ['SIGTERM', 'SIGKILL']) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          return; // group gone
        }
        if (await Promise.race([handle.exited.then(() => true), sleep(3000).then(() => false)])) return;
      }
    },
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (handle.stdout += d));
  child.stderr.on('data', (d) => (handle.stderr += d));
  handle.exited = new Promise((resolve) => {
    child.once('close', (code, signal) => {
      handle.exitInfo = { code, signal };
      resolve(handle.exitInfo);
    });
  });
  runLocals.push(handle);
  return handle;
}

/** Fails (after killing them, by pid) if servers started for these ports are still running. */
function assertNoServersLeft(grpcPort, edgeLinkPort) {
  const leftovers = [
    ...pidsWithArg(`--grpc_listen=127.0.0.1:${grpcPort}`),
    ...pidsWithArg(`--control=127.0.0.1:${edgeLinkPort}`),
  ];
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  assert.deepEqual(leftovers, [], 'no wirehub-control or wirehub-edge started by run-local is left running');
}

test('run-local with a taken WebSocket port exits 1, says the edge failed, and stops control', async () => {
  const wsPort = await holdPort();
  const grpcPort = await freePort();
  const edgeLinkPort = await freePort();
  const run = await runLocal({ grpcPort, wsPort, edgeLinkPort });
  const info = await withTimeout(run.exited, RUN_LOCAL_BOUND_MS, 'run-local to give up').catch(async (err) => {
    await run.kill();
    err.message += `; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    throw err;
  });
  const output = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
  assert.deepEqual({ code: info.code, signal: info.signal }, { code: 1, signal: null }, `run-local's exit status; ${output}`);
  assert.match(run.stderr, /run-local: wirehub-edge .*(exited with status|not ready)/, `stderr says the edge failed; ${output}`);
  assert.ok(!run.stdout.includes('wirehub is running'), `no "running" banner; ${output}`);
  assert.ok(await canListen(grpcPort), `control's port ${grpcPort} is free again; ${output}`);
  assertNoServersLeft(grpcPort, edgeLinkPort);
});

test('run-local with free ports prints its banner once the edge accepts connections; SIGTERM stops both', async () => {
  const wsPort = await freePort();
  const grpcPort = await freePort();
  const edgeLinkPort = await freePort();
  const run = await runLocal({ grpcPort, wsPort, edgeLinkPort });
  try {
    await waitFor(
      () => {
        if (run.exitInfo) throw new Error(`run-local exited ${JSON.stringify(run.exitInfo)}`);
        return run.stdout.includes('wirehub is running');
      },
      RUN_LOCAL_BOUND_MS,
      'the run-local banner',
    );
  } catch (err) {
    await run.kill();
    err.message += `; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
    throw err;
  }
  assert.ok(await accepts(wsPort), 'the edge accepts connections once the banner is out');
  assert.ok(run.stdout.includes(`ws://127.0.0.1:${wsPort}/connection/websocket`), run.stdout);
  // The banner's curl lines: both admin listeners answer health, readiness
  // and metrics.
  assert.ok(run.stdout.includes(`curl http://127.0.0.1:${run.edgeAdminPort}/readyz`), run.stdout);
  for (const [port, family] of [
    [run.edgeAdminPort, 'wirehub_edge_control_link_up 1'],
    [run.controlAdminPort, 'wirehub_control_edges 1'],
  ]) {
    for (const [what, body] of [['healthz', 'ok'], ['readyz', 'ready']]) {
      const response = await fetch(`http://127.0.0.1:${port}/${what}`, { signal: AbortSignal.timeout(5000) });
      assert.equal(response.status, 200, `${what} on ${port}`);
      assert.equal((await response.text()).trim(), body);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.ok(metrics.includes(`\n${family}\n`), `${family} in the metrics of ${port}:\n${metrics.slice(0, 2000)}`);
  }
  process.kill(run.child.pid, 'SIGTERM');
  const info = await withTimeout(run.exited, 10_000, 'run-local to stop on SIGTERM').catch(async (err) => {
    await run.kill();
    throw err;
  });
  assert.equal(info.code, 143, `run-local's status after SIGTERM; stderr:\n${run.stderr}`);
  assert.ok(await canListen(grpcPort), 'control stopped');
  assert.ok(await canListen(wsPort), 'the edge stopped');
  assertNoServersLeft(grpcPort, edgeLinkPort);
});

test('run-local with WIREHUB_TLS=1 serves wss with a development CA, and the SDK trusting that CA receives a publication', async () => {
  const wsPort = await freePort();
  const grpcPort = await freePort();
  const edgeLinkPort = await freePort();
  const run = await runLocal({ grpcPort, wsPort, edgeLinkPort, tls: true });
  try {
    await waitFor(
      () => {
        if (run.exitInfo) throw new Error(`run-local exited ${JSON.stringify(run.exitInfo)}`);
        return run.stdout.includes('wirehub is running');
      },
      RUN_LOCAL_BOUND_MS,
      'the run-local banner',
    );
    const url = `wss://127.0.0.1:${wsPort}/connection/websocket`;
    assert.ok(run.stdout.includes(url), run.stdout);
    const caFile = path.join(repoRoot, 'build/dev/tls/ca.crt');
    const ca = fs.readFileSync(caFile);
    const ctl = (args) =>
      new Promise((resolve, reject) =>
        execFile(binPath('wirehubctl'), args, { timeout: 10_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`wirehubctl ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(stdout),
        ),
      );
    const token = (
      await ctl(['token', '--user=alice', `--token_hmac_secret_file=${path.join(repoRoot, 'build/dev/secret')}`])
    )
      .trim()
      .split('\n')
      .pop();
    class TrustingWebSocket extends WebSocket {
      constructor(address, protocols) {
        super(address, protocols, { ca });
      }
    }
    const client = new Centrifuge(url, { websocket: TrustingWebSocket, token });
    try {
      const received = new Promise((resolve) => {
        const sub = client.newSubscription('news');
        sub.on('publication', (ctx) => resolve(ctx.data));
        sub.on('subscribed', () => {
          ctl([`--control=127.0.0.1:${grpcPort}`, `--tls_ca_file=${caFile}`, 'publish', 'news', '{"over":"wss"}']).catch(
            () => {},
          );
        });
        sub.subscribe();
      });
      client.connect();
      assert.deepEqual(await withTimeout(received, 10_000, 'the publication over wss'), { over: 'wss' });
    } finally {
      client.disconnect();
    }
    // Without the CA a client is refused by its own TLS check.
    const untrusting = new WebSocket(url);
    const error = await withTimeout(
      new Promise((resolve) => untrusting.once('error', resolve)),
      5_000,
      'an untrusting client to fail',
    );
    assert.match(String(error.message), /self[- ]signed|unable to verify|certificate/i);
  } finally {
    await run.kill();
  }
  assertNoServersLeft(grpcPort, edgeLinkPort);
});

test('run-local --redis starts a Redis and two control replicas; a publication through either reaches an SDK client', async () => {
  const [wsPort, grpcPort, edgeLinkPort, redisPort, grpcPort2, edgeLinkPort2, adminPort2] = await Promise.all(
    Array.from({ length: 7 }, () => freePort()),
  );
  const run = await runLocal({
    grpcPort, wsPort, edgeLinkPort,
    args: ['--redis'],
    env: {
      WIREHUB_REDIS_PORT: String(redisPort),
      WIREHUB_GRPC_PORT_2: String(grpcPort2),
      WIREHUB_EDGE_LINK_PORT_2: String(edgeLinkPort2),
      WIREHUB_CONTROL_ADMIN_PORT_2: String(adminPort2),
    },
  });
  try {
    await waitFor(
      () => {
        if (run.exitInfo) throw new Error(`run-local exited ${JSON.stringify(run.exitInfo)}`);
        return run.stdout.includes('wirehub is running');
      },
      RUN_LOCAL_BOUND_MS,
      'the run-local --redis banner',
    );
    assert.ok(run.stdout.includes(`redis-server on 127.0.0.1:${redisPort}`), run.stdout);
    const env = new Env('wirehub-run-local-redis');
    try {
      const secretFile = path.join(repoRoot, 'build/dev/secret');
      const token = (await env.ctl(['token', '--user=alice', `--token_hmac_secret_file=${secretFile}`])).stdout.trim();
      const client = env.sdk(`ws://127.0.0.1:${wsPort}/connection/websocket`, { token });
      await client.connectAndWait();
      await client.subscribeAndWait('news');
      for (const [i, port] of [grpcPort, grpcPort2].entries()) {
        await env.ctl([`--control=127.0.0.1:${port}`, 'publish', 'news', JSON.stringify({ via: i })]);
        await client.waitPublication('news', (d) => d.via === i, 5000, `publication through replica ${i}`);
      }
    } finally {
      await env.cleanup();
    }
  } finally {
    await run.kill();
  }
  assert.ok(await canListen(grpcPort2), 'the second replica is stopped too');
  assert.ok(await canListen(redisPort), 'redis-server is stopped too');
});
