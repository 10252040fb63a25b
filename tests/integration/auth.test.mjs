// Connection tokens: what the SDK does when the edge refuses its token.
//
// SDK facts (centrifuge-js 5.x, src/centrifuge.ts, checked in
// node_modules/centrifuge/build/index.mjs):
// - A WebSocket close code in 3500..3999 or 4500..4999 with a non-JSON,
//   non-empty reason moves the client to `disconnected` with that code and no
//   reconnect. With an empty reason the SDK keeps its reconnect default
//   (true), so the edge must send a reason with 3500 for the SDK to stop.
// - Connect reply error 109 (token expired): the SDK emits `error`
//   {type:'connect', error:{code:109}}, closes the transport, stays in
//   `connecting` (no new `connecting` event: the state does not change) and
//   marks the token for refresh. At the next attempt, with no getToken in the
//   options, it emits `error` {type:'configuration', error:{code:12
//   (badConfiguration)}} and ends in `disconnected` with code 1
//   (disconnectedCodes.unauthorized, reason 'unauthorized') without opening
//   another WebSocket. With getToken it asks for a new token and reconnects.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256, sleep, u64, waitFor } from './harness.mjs';

const env = new Env('wirehub-auth');
after(() => env.cleanup());

// How long a refused client is watched for further connection attempts.
const QUIET_MS = 3000;

let edge;

before(async () => {
  const control = await env.startControl();
  edge = await env.startEdge(control, { edge_id: 'edge-auth' });
});

function expiredToken(user = 'late') {
  const now = nowSeconds();
  return signHs256(env.secret, { sub: user, iat: now - 7200, exp: now - 3600 });
}

async function waitDisconnected(c, what) {
  try {
    const ev = await waitFor(() => c.events.find((e) => e.name === 'disconnected'), 5000, `${what}: disconnected event`);
    return ev.ctx;
  } catch (err) {
    const closes = c.sockets.map((ws) => ws.closeInfo);
    const connecting = c.eventsNamed('connecting').map((e) => e.ctx);
    err.message +=
      `; state ${c.state}, ${c.sockets.length} WebSockets opened, their closes ${JSON.stringify(closes.slice(0, 5))}, ` +
      `connecting events ${JSON.stringify(connecting.slice(0, 5))} ` +
      '(the SDK reconnects after a 3500-3999 close whose reason is empty)';
    throw err;
  }
}

/** Asserts the client stays disconnected with no new WebSocket for QUIET_MS. */
async function assertNoReconnect(c, what) {
  const sockets = c.sockets.length;
  const connecting = c.eventsNamed('connecting').length;
  await sleep(QUIET_MS);
  assert.equal(c.state, 'disconnected', `${what}: still disconnected`);
  assert.equal(c.sockets.length, sockets, `${what}: no further WebSocket opened`);
  assert.equal(c.eventsNamed('connecting').length, connecting, `${what}: no further connecting event`);
  assert.equal(c.eventsNamed('connected').length, 0, `${what}: never connected`);
}

async function assertNoServerConnections(what) {
  // Edges report every 200 ms in tests; sample a few reports.
  for (let i = 0; i < 3; i++) {
    const s = await env.waitStats((st) => (st.edges ?? []).length === 1, 5000, 'edge attached');
    assert.equal(u64(s.total_connections), 0, `${what}: the edge holds no client connection (${JSON.stringify(s)})`);
    await sleep(250);
  }
}

test('a token signed locally with the shared secret is accepted (sanity check for the cases below)', async () => {
  const now = nowSeconds();
  const c = env.sdk(edge.url, { token: signHs256(env.secret, { sub: 'local', iat: now, exp: now + 600 }) });
  await c.connectAndWait();
  c.client.disconnect();
  await env.waitStats((s) => u64(s.total_connections) === 0, 10_000, 'connection gone');
});

test('bad signature: SDK ends disconnected with 3500 and does not reconnect', async () => {
  const token = await env.token('mallory', { secretFile: env.otherSecretFile });
  const c = env.sdk(edge.url, { token });
  c.connect();
  const ctx = await waitDisconnected(c, 'bad signature');
  assert.equal(ctx.code, 3500, `disconnect code (ctx ${JSON.stringify(ctx)})`);
  assert.equal(c.sockets.length, 1);
  assert.equal(c.sockets[0].closeInfo?.code, 3500, 'the edge closed the WebSocket with 3500');
  assert.ok(c.sockets[0].closeInfo.reason.length > 0, 'close reason is not empty (the SDK reconnects on an empty one)');
  assert.equal(c.eventsNamed('connecting').length, 1, 'only the connecting event of connect()');
  await assertNoReconnect(c, 'bad signature');
  await assertNoServerConnections('bad signature');
});

test('tampered payload: SDK ends disconnected with 3500', async () => {
  const good = await env.token('bob');
  const [h, , s] = good.split('.');
  const forged = Buffer.from(JSON.stringify({ sub: 'admin', exp: nowSeconds() + 600 })).toString('base64url');
  const c = env.sdk(edge.url, { token: `${h}.${forged}.${s}` });
  c.connect();
  const ctx = await waitDisconnected(c, 'tampered payload');
  assert.equal(ctx.code, 3500);
  await assertNoReconnect(c, 'tampered payload');
});

test('alg none: SDK ends disconnected with 3500', async () => {
  const now = nowSeconds();
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: 'eve', exp: now + 600 })}.`;
  const c = env.sdk(edge.url, { token });
  c.connect();
  const ctx = await waitDisconnected(c, 'alg none');
  assert.equal(ctx.code, 3500);
  await assertNoReconnect(c, 'alg none');
});

test('token without exp: SDK ends disconnected with 3500', async () => {
  const c = env.sdk(edge.url, { token: signHs256(env.secret, { sub: 'forever', iat: nowSeconds() }) });
  c.connect();
  const ctx = await waitDisconnected(c, 'no exp');
  assert.equal(ctx.code, 3500);
  await assertNoReconnect(c, 'no exp');
});

test('missing token: SDK ends disconnected with 3500 and does not reconnect', async () => {
  const c = env.sdk(edge.url, {});
  c.connect();
  const ctx = await waitDisconnected(c, 'missing token');
  assert.equal(ctx.code, 3500, `disconnect code (ctx ${JSON.stringify(ctx)})`);
  const sent = c.sockets[0].sentFrames.join('\n');
  assert.ok(!sent.includes('"token"'), `the SDK sent no token: ${sent}`);
  assert.equal(c.eventsNamed('connecting').length, 1);
  await assertNoReconnect(c, 'missing token');
  await assertNoServerConnections('missing token');
});

test('expired token without getToken: connect error 109, then disconnected (unauthorized) with no reconnect loop', async () => {
  const c = env.sdk(edge.url, { token: expiredToken() });
  c.connect();
  const ctx = await waitDisconnected(c, 'expired token');

  // The edge answered the connect command with error 109.
  const reply = c.receivedMessages().find((m) => m.id !== undefined && (m.error || m.connect));
  assert.ok(reply && reply.error, `connect reply is an error: ${JSON.stringify(c.receivedMessages())}`);
  assert.equal(reply.error.code, 109);
  assert.equal(reply.connect, undefined);

  const errors = c.eventsNamed('error').map((e) => e.ctx);
  const connectError = errors.find((e) => e.type === 'connect');
  assert.ok(connectError, `an error event of type connect: ${JSON.stringify(errors)}`);
  assert.equal(connectError.error.code, 109);
  assert.ok(
    errors.some((e) => e.type === 'configuration' && e.error.code === 12),
    `SDK reports the missing getToken as a configuration error: ${JSON.stringify(errors)}`,
  );
  assert.equal(ctx.code, 1, `disconnected with disconnectedCodes.unauthorized (ctx ${JSON.stringify(ctx)})`);
  assert.equal(ctx.reason, 'unauthorized');
  const connecting = c.eventsNamed('connecting').map((e) => e.ctx.code);
  // The 109 retry happens inside the connecting state: no second connecting event.
  assert.deepEqual(connecting, [0], 'one connecting event, the one of connect()');
  assert.equal(c.sockets.length, 1, 'the expired token was not sent a second time');

  await assertNoReconnect(c, 'expired token');
  await assertNoServerConnections('expired token');
});

test('expired token with getToken: the SDK fetches a fresh token and connects', async () => {
  let calls = 0;
  const c = env.sdk(edge.url, {
    token: expiredToken('refresh-me'),
    getToken: async () => {
      calls += 1;
      return env.token('refresh-me');
    },
  });
  await c.connectAndWait(10_000);
  assert.equal(calls, 1, 'getToken called once');
  assert.equal(c.sockets.length, 2, 'one refused attempt, one successful');
  const errors = c.eventsNamed('error').map((e) => e.ctx);
  assert.ok(errors.some((e) => e.type === 'connect' && e.error.code === 109), JSON.stringify(errors));
  const s = await env.waitStats((st) => u64(st.total_connections) === 1, 10_000, 'the refreshed connection in stats');
  assert.equal(u64(s.unique_users), 1);
  c.client.disconnect();
});
