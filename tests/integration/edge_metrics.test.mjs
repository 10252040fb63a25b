// The edge's /metrics after real traffic: an SDK client connects,
// subscribes and receives publications made through control; a client with
// a bad token and a plain HTTP request are refused. Every count the edge
// keeps for them shows on its admin listener.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, waitFor } from './harness.mjs';
import { adminPortOf, httpGet, parseExposition } from './prometheus_util.mjs';

const env = new Env('wirehub-edge-metrics');
after(() => env.cleanup());

const PUBLICATIONS = 5;

let control;
let edge;

before(async () => {
  control = await env.startControl();
  edge = await env.startEdge(control, { edge_id: 'edge-metrics' });
});

async function scrape() {
  const { status, text } = await httpGet(`http://127.0.0.1:${adminPortOf(edge)}/metrics`);
  assert.equal(status, 200, `/metrics answered ${status}: ${text.slice(0, 500)}`);
  return { text, ...parseExposition(text) };
}

// The sum of the samples named `name` whose labels include `labels`.
function value(samples, name, labels = {}) {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

test('client traffic shows in the edge metrics', async () => {
  const client = env.sdk(edge.url, { token: await env.token('alice') });
  await client.connectAndWait();
  await client.subscribeAndWait('news');
  for (let n = 1; n <= PUBLICATIONS; n++) {
    await env.publish('news', { n });
    await client.waitPublication('news', (d) => d && d.n === n, 5000, `publication ${n}`);
  }

  // Refused: a connect with a token nobody signed (closed with 3500), and a
  // plain HTTP request on the WebSocket port (404).
  const stranger = await env.raw(edge.url);
  stranger.sendCommands({ id: 1, connect: { token: 'not-a-token' } });
  assert.equal((await stranger.waitClose()).code, 3500);
  const http = await httpGet(`http://127.0.0.1:${edge.port}/`);
  assert.equal(http.status, 404);

  // Counted on the loop as it happened; the scrape only has to see it.
  let last;
  try {
    await waitFor(
      async () => {
        last = await scrape();
        return (
          value(last.samples, 'wirehub_edge_connections') === 1 &&
          value(last.samples, 'wirehub_edge_publish_latency_seconds_count') >= PUBLICATIONS
        );
      },
      10_000,
      'one connection and every publication latency in /metrics',
      { intervalMs: 100 },
    );
  } catch (err) {
    const seen = last
      ? `connections ${value(last.samples, 'wirehub_edge_connections')}, publish latencies ` +
        `${value(last.samples, 'wirehub_edge_publish_latency_seconds_count')}`
      : 'no scrape';
    err.message += `; ${seen}; last scrape:\n${last?.text ?? '(none)'}\n${env.logs()}`;
    throw err;
  }
  const { samples, families } = last;

  assert.equal(families.get('wirehub_edge_connections'), 'gauge');
  assert.equal(value(samples, 'wirehub_edge_connections', { transport: 'websocket', protocol: 'json' }), 1);
  assert.equal(value(samples, 'wirehub_edge_connects_total'), 1);
  assert.equal(value(samples, 'wirehub_edge_commands_total', { method: 'connect', result: 'ok' }), 1);
  assert.equal(value(samples, 'wirehub_edge_commands_total', { method: 'connect', result: 'error' }), 1);
  assert.equal(value(samples, 'wirehub_edge_commands_total', { method: 'subscribe', result: 'ok' }), 1);
  assert.equal(value(samples, 'wirehub_edge_connection_refusals_total', { reason: 'token' }), 1);
  assert.equal(value(samples, 'wirehub_edge_connection_refusals_total', { reason: 'bad_handshake' }), 1);
  assert.equal(value(samples, 'wirehub_edge_disconnects_total', { code: '3500' }), 1);
  assert.equal(value(samples, 'wirehub_edge_subscriptions'), 1);
  assert.equal(value(samples, 'wirehub_edge_channels'), 1);
  assert.equal(value(samples, 'wirehub_edge_deliveries_total'), PUBLICATIONS);
  assert.ok(value(samples, 'wirehub_edge_written_bytes_total') > 0, 'bytes written counted');
  assert.ok(value(samples, 'wirehub_edge_client_queue_bytes_count') >= PUBLICATIONS, 'queue sizes observed');
  assert.ok(value(samples, 'wirehub_edge_loop_turn_seconds_count') > 0, 'loop turns observed');

  // Accept -> socket write on one machine: well under the test's bounds.
  const latencyCount = value(samples, 'wirehub_edge_publish_latency_seconds_count');
  assert.equal(latencyCount, PUBLICATIONS);
  const latencySum = value(samples, 'wirehub_edge_publish_latency_seconds_sum');
  assert.ok(latencySum >= 0 && latencySum / latencyCount < 1, `mean publish latency ${latencySum / latencyCount}s`);
  const inf = samples.find(
    (s) => s.name === 'wirehub_edge_publish_latency_seconds_bucket' && s.labels.le === '+Inf',
  );
  assert.equal(inf?.value, PUBLICATIONS, 'the +Inf bucket holds every observation');

  assert.equal(value(samples, 'wirehub_edge_control_link_up'), 1);
  assert.ok(value(samples, 'wirehub_edge_control_link_attaches_total') >= 1);
  assert.equal(value(samples, 'wirehub_edge_ready'), 1);
  assert.equal(value(samples, 'wirehub_edge_draining'), 0);
  assert.ok(value(samples, 'process_resident_memory_bytes') > 0, 'RSS exported');

  // Bounded labels: never a channel or a user.
  for (const s of samples) {
    for (const v of Object.values(s.labels)) {
      assert.ok(!['news', 'alice'].includes(v), `label value ${v} of ${s.name} names a channel or user`);
    }
  }
});

test('the control link going down and its re-attach show', async () => {
  const attaches = value((await scrape()).samples, 'wirehub_edge_control_link_attaches_total');
  const port = control.port;
  await control.stop({ graceMs: 3000 });
  await waitFor(
    async () => value((await scrape()).samples, 'wirehub_edge_control_link_up') === 0,
    10_000,
    'wirehub_edge_control_link_up to drop to 0',
    { intervalMs: 100 },
  );
  // A new control on the same address; the edge's backoff is at most 5 s.
  control = await env.startControl([`--grpc_listen=127.0.0.1:${port}`]);
  env.control = control;
  let last;
  await waitFor(
    async () => {
      last = (await scrape()).samples;
      return (
        value(last, 'wirehub_edge_control_link_up') === 1 &&
        value(last, 'wirehub_edge_control_link_attaches_total') > attaches
      );
    },
    15_000,
    'the re-attach in wirehub_edge_control_link_up and _attaches_total',
    { intervalMs: 100 },
  ).catch((err) => {
    err.message +=
      `; up ${last && value(last, 'wirehub_edge_control_link_up')}, attaches ` +
      `${last && value(last, 'wirehub_edge_control_link_attaches_total')} (${attaches} before)\n${env.logs()}`;
    throw err;
  });
});
