#!/usr/bin/env node
// Rough end-to-end latency probe: one centrifuge SDK client subscribes to a
// channel on a running edge; each round runs `wirehubctl publish` and times
// from just before the CLI starts to the client's `publication` event. The
// figure therefore includes starting the wirehubctl process and its gRPC
// connection (an upper bound on gRPC -> control -> edge -> client); the load
// generator of the benchmarks issue measures the path alone.
//
//   node tools/dev/e2e-latency.mjs [--url=ws://127.0.0.1:8000/connection/websocket]
//       [--control=127.0.0.1:7100] [--secret_file=build/dev/secret] [--rounds=200]
//
// Run from the repository root with tests/integration's node_modules installed.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'tests/integration/package.json'));
const { Centrifuge } = require('centrifuge');
const WebSocket = require('ws');

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v]),
);
const url = args.url ?? 'ws://127.0.0.1:8000/connection/websocket';
const control = args.control ?? '127.0.0.1:7100';
const secretFile = args.secret_file ?? path.join(root, 'build/dev/secret');
const rounds = Number(args.rounds ?? 200);
const ctl = path.join(root, 'build/bin/wirehubctl');

const token = execFileSync(ctl, ['token', '--user=latency-probe', `--token_hmac_secret_file=${secretFile}`])
  .toString()
  .trim();
const client = new Centrifuge(url, { websocket: WebSocket, token });
const sub = client.newSubscription('latency-probe');
let waiting = null;
sub.on('publication', (ctx) => {
  if (waiting && ctx.data.round === waiting.round) waiting.resolve(performance.now());
});
const timeout = setTimeout(() => {
  console.error('timed out');
  process.exit(1);
}, 120_000);
await new Promise((resolve) => {
  sub.on('subscribed', resolve);
  sub.subscribe();
  client.connect();
});

const samples = [];
for (let round = 0; round < rounds; round++) {
  const received = new Promise((resolve) => (waiting = { round, resolve }));
  const start = performance.now();
  execFileSync(ctl, [`--control=${control}`, 'publish', 'latency-probe', JSON.stringify({ round })]);
  samples.push((await received) - start);
}
clearTimeout(timeout);
client.disconnect();
samples.sort((a, b) => a - b);
const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))].toFixed(2);
console.log(`rounds=${rounds} wirehubctl-start->client-receive ms: p50=${pct(50)} p90=${pct(90)} p99=${pct(99)} max=${pct(100)}`);
process.exit(0);
