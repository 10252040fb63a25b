// Bad input from raw WebSocket clients (no SDK): each case gets the exact close
// code or reply error, while an SDK client subscribed on the same edge keeps
// receiving publications published between the bad inputs. Also the
// ping/pong liveness rule on a dedicated edge with short intervals.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256, sleep } from './harness.mjs';

const env = new Env('wirehub-malformed');
after(() => env.cleanup());

const CONNECT_TIMEOUT_MS = 2000;
const MAX_MESSAGE_BYTES = 8192;

let edge; // the edge that gets the bad input
let pingEdge; // --ping_interval=1s --pong_timeout=1s
let token;
let watcher;
let watchSeq = 0;

before(async () => {
  const control = await env.startControl();
  [edge, pingEdge] = await Promise.all([
    env.startEdge(control, {
      edge_id: 'edge-bad-input',
      connect_timeout: `${CONNECT_TIMEOUT_MS}ms`,
      max_message_bytes: MAX_MESSAGE_BYTES,
    }),
    env.startEdge(control, { edge_id: 'edge-ping', ping_interval: '1s', pong_timeout: '1s' }),
  ]);
  token = await env.token('raw-user');
  watcher = env.sdk(edge.url, { token: await env.token('watcher') });
  await watcher.connectAndWait();
  await watcher.subscribeAndWait('watch');
});

/** Publishes to the watched channel and checks the SDK watcher gets it on its first connection. */
async function watcherStillReceives(afterWhat) {
  watchSeq += 1;
  const seq = watchSeq;
  const pos = await env.publish('watch', { seq, afterWhat });
  const pub = await watcher.waitPublication('watch', (d) => d && d.seq === seq, 5000, `watcher publication after ${afterWhat}`);
  assert.equal(pub.offset, pos.offset);
  assert.equal(watcher.state, 'connected', `watcher still connected after ${afterWhat}`);
  assert.equal(watcher.sockets.length, 1, `watcher never reconnected (after ${afterWhat})`);
}

/** Opens a raw socket, optionally connects, sends `payload` as one text frame, returns the close. */
async function closeAfter(payload, { connectFirst = true } = {}) {
  const r = await env.raw(edge.url);
  if (connectFirst) await r.connect(token);
  r.sendText(payload);
  return r.waitClose(5000);
}

test('a raw client connects and gets the documented connect result', async () => {
  const r = await env.raw(edge.url);
  const result = await r.connect(token);
  assert.equal(typeof result.client, 'string');
  assert.ok(result.client.length > 0);
  assert.equal(result.ping, 25, 'default ping interval is 25 s');
  assert.equal(result.pong, true, 'the edge asks for pongs');
  r.close();
});

test('malformed JSON closes with 3501 (before and after connect)', async () => {
  for (const [payload, connectFirst] of [
    ['{"id":2,"subscribe":{"channel":', true],
    ['{"id":1,"connect":{"token":', false],
    ['not json at all', true],
    ['{"id":2,"subscribe":{"channel":"a"}} trailing', true],
  ]) {
    const close = await closeAfter(payload, { connectFirst });
    assert.equal(close.code, 3501, `close code for ${JSON.stringify(payload)} (connected first: ${connectFirst}), reason ${close.reason}`);
  }
  await watcherStillReceives('malformed JSON');
});

test('a frame that is not a command object closes with 3501', async () => {
  for (const payload of ['[1,2,3]', '"subscribe"', '42', 'null', 'true', '[{"id":2,"subscribe":{"channel":"a"}}]']) {
    const close = await closeAfter(payload);
    assert.equal(close.code, 3501, `close code for ${payload}, reason ${close.reason}`);
  }
  await watcherStillReceives('non-object frames');
});

test('an unknown method gets error 104 and the connection stays usable', async () => {
  const r = await env.raw(edge.url);
  await r.connect(token);
  r.sendCommands({ id: 2, frobnicate: { x: 1 } });
  const reply = await r.reply(2);
  assert.ok(reply.error, `error reply: ${JSON.stringify(reply)}`);
  assert.equal(reply.error.code, 104);
  // Still usable: subscribe, and a publication arrives.
  r.sendCommands({ id: 3, subscribe: { channel: 'after-unknown' } });
  const sub = await r.reply(3);
  assert.equal(sub.error, undefined, JSON.stringify(sub));
  assert.ok(sub.subscribe, JSON.stringify(sub));
  const pos = await env.publish('after-unknown', { ok: true });
  const push = await r.waitMessage((m) => m.push && m.push.channel === 'after-unknown', 5000, 'push after unknown method');
  assert.deepEqual(push.push.pub.data, { ok: true });
  assert.equal(Number(push.push.pub.offset), pos.offset);
  assert.ok(r.isOpen);
  r.close();
  await watcherStillReceives('unknown method');
});

test('missing or invalid token closes with 3500', async () => {
  const now = nowSeconds();
  const cases = {
    'connect without token': {},
    'empty token': { token: '' },
    'garbage token': { token: 'not-a-jwt' },
    'bad signature': { token: await env.token('raw-user', { secretFile: env.otherSecretFile }) },
    'HS512 header': { token: signHs256(env.secret, { sub: 'x', exp: now + 600 }, { alg: 'HS512', typ: 'JWT' }) },
    'sub not a string': { token: signHs256(env.secret, { sub: 42, exp: now + 600 }) },
    'exp not a number': { token: signHs256(env.secret, { sub: 'x', exp: 'tomorrow' }) },
  };
  for (const [name, connect] of Object.entries(cases)) {
    const r = await env.raw(edge.url);
    r.sendCommands({ id: 1, connect });
    const close = await r.waitClose(5000);
    assert.equal(close.code, 3500, `${name}: close code (reason ${JSON.stringify(close.reason)})`);
    assert.ok(close.reason.length > 0, `${name}: close reason is not empty (the SDK reconnects without one)`);
    assert.deepEqual(
      r.messages.filter((m) => m.connect),
      [],
      `${name}: no connect result was sent`,
    );
  }
  await watcherStillReceives('invalid tokens');
});

test('an expired token gets connect error 109', async () => {
  const now = nowSeconds();
  const r = await env.raw(edge.url);
  r.sendCommands({ id: 1, connect: { token: signHs256(env.secret, { sub: 'late', iat: now - 7200, exp: now - 3600 }) } });
  const reply = await r.reply(1);
  assert.ok(reply.error, JSON.stringify(reply));
  assert.equal(reply.error.code, 109);
  assert.equal(reply.connect, undefined);
  // Not treated as an invalid token.
  await sleep(200);
  if (r.closeInfo) assert.notEqual(r.closeInfo.code, 3500, 'an expired token is not an invalid one');
  r.close();
  await watcherStillReceives('expired token');
});

test('no connect within connect_timeout closes with 3502', async () => {
  const r = await env.raw(edge.url);
  const opened = Date.now();
  const close = await r.waitClose(CONNECT_TIMEOUT_MS + 5000);
  const elapsed = close.at - opened;
  assert.equal(close.code, 3502, `close code (reason ${JSON.stringify(close.reason)})`);
  assert.ok(elapsed >= CONNECT_TIMEOUT_MS - 500, `closed after ${elapsed} ms, not before connect_timeout`);
  assert.ok(elapsed <= CONNECT_TIMEOUT_MS + 3000, `closed after ${elapsed} ms, soon after connect_timeout`);
  await watcherStillReceives('connect timeout');
});

test('a connected client is not closed by connect_timeout', async () => {
  const r = await env.raw(edge.url);
  await r.connect(token);
  await sleep(CONNECT_TIMEOUT_MS + 1000);
  assert.ok(r.isOpen, `still open (close: ${JSON.stringify(r.closeInfo)})`);
  r.close();
});

test('a command before connect closes with 3501', async () => {
  for (const cmd of [
    { id: 1, subscribe: { channel: 'early' } },
    { id: 1, unsubscribe: { channel: 'early' } },
    { id: 1, frobnicate: {} },
  ]) {
    const close = await closeAfter(JSON.stringify(cmd), { connectFirst: false });
    assert.equal(close.code, 3501, `close code for ${JSON.stringify(cmd)} (reason ${JSON.stringify(close.reason)})`);
  }
  await watcherStillReceives('command before connect');
});

test('subscribing twice to the same channel gets error 105 and delivery stays single', async () => {
  const r = await env.raw(edge.url);
  await r.connect(token);
  r.sendCommands({ id: 2, subscribe: { channel: 'twice' } });
  const first = await r.reply(2);
  assert.equal(first.error, undefined, JSON.stringify(first));
  r.sendCommands({ id: 3, subscribe: { channel: 'twice' } });
  const second = await r.reply(3);
  assert.ok(second.error, JSON.stringify(second));
  assert.equal(second.error.code, 105);
  assert.ok(r.isOpen, 'connection stays open');

  const pos = await env.publish('twice', { n: 1 });
  await r.waitMessage((m) => m.push && m.push.channel === 'twice', 5000, 'push on twice');
  await watcherStillReceives('double subscribe');
  const pushes = r.messages.filter((m) => m.push && m.push.channel === 'twice');
  assert.equal(pushes.length, 1, 'one push for one publication');
  assert.equal(Number(pushes[0].push.pub.offset), pos.offset);

  // Unsubscribe, then subscribe again is allowed.
  r.sendCommands({ id: 4, unsubscribe: { channel: 'twice' } });
  const unsub = await r.reply(4);
  assert.equal(unsub.error, undefined, JSON.stringify(unsub));
  r.sendCommands({ id: 5, subscribe: { channel: 'twice' } });
  const again = await r.reply(5);
  assert.equal(again.error, undefined, JSON.stringify(again));
  r.close();
});

test('newline-batched commands in one frame each get their reply', async () => {
  const r = await env.raw(edge.url);
  r.sendCommands(
    { id: 1, connect: { token } },
    { id: 2, subscribe: { channel: 'batch-a' } },
    { id: 3, subscribe: { channel: 'batch-b' } },
  );
  const [c, a, b] = await Promise.all([r.reply(1), r.reply(2), r.reply(3)]);
  assert.ok(c.connect, JSON.stringify(c));
  assert.ok(a.subscribe && !a.error, JSON.stringify(a));
  assert.ok(b.subscribe && !b.error, JSON.stringify(b));
  // Replies are received in command order, however the edge frames them.
  const ids = r.messages.filter((m) => m.id).map((m) => m.id);
  assert.deepEqual(ids, [1, 2, 3]);
  await env.publish('batch-a', { x: 'a' });
  await env.publish('batch-b', { x: 'b' });
  await r.waitMessage((m) => m.push?.channel === 'batch-a', 5000, 'push on batch-a');
  await r.waitMessage((m) => m.push?.channel === 'batch-b', 5000, 'push on batch-b');
  r.close();
});

test('a text message larger than max_message_bytes closes with 1009', async () => {
  // Whitespace padding keeps the command valid JSON: only its size differs.
  const padded = (id, total) => {
    const head = `{"id":${id},`;
    const tail = `"subscribe":{"channel":"big-${id}"}}`;
    return head + ' '.repeat(total - head.length - tail.length) + tail;
  };
  const r = await env.raw(edge.url);
  await r.connect(token);
  const small = padded(2, MAX_MESSAGE_BYTES - 1024);
  assert.equal(Buffer.byteLength(small), MAX_MESSAGE_BYTES - 1024);
  r.sendText(small);
  const ok = await r.reply(2);
  assert.equal(ok.error, undefined, `a message under the limit is accepted: ${JSON.stringify(ok)}`);

  const big = padded(3, MAX_MESSAGE_BYTES + 1024);
  r.sendText(big);
  const close = await r.waitClose(5000);
  assert.equal(close.code, 1009, `close code (reason ${JSON.stringify(close.reason)})`);
  assert.equal(r.messages.find((m) => m.id === 3), undefined, 'the oversized command was not executed');
  await watcherStillReceives('oversized message');
});

test('invalid UTF-8 in a text frame closes with 1007', async () => {
  const r = await env.raw(edge.url);
  await r.connect(token);
  // {"id":2,"subscribe":{"channel":"<0xff 0xfe>"}}
  const bytes = Buffer.concat([
    Buffer.from('{"id":2,"subscribe":{"channel":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('"}}'),
  ]);
  r.sendText(bytes);
  const close = await r.waitClose(5000);
  assert.equal(close.code, 1007, `close code (reason ${JSON.stringify(close.reason)})`);
  // Before connect too.
  const r2 = await env.raw(edge.url);
  r2.sendText(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])); // "{" + invalid 2-byte sequence + "}"
  const close2 = await r2.waitClose(5000);
  assert.equal(close2.code, 1007, `close code before connect (reason ${JSON.stringify(close2.reason)})`);
  await watcherStillReceives('invalid UTF-8');
});

test('ping/pong: a client that never answers pings is closed with 3012', async () => {
  const silent = await env.raw(pingEdge.url);
  const connectedAt = Date.now();
  const result = await silent.connect(token);
  assert.equal(result.ping, 1, 'connect result advertises ping interval 1 s');
  assert.equal(result.pong, true, 'connect result asks for pongs');

  const close = await silent.waitClose(8000);
  const elapsed = close.at - connectedAt;
  assert.ok(silent.pings.length >= 1, `the silent client was pinged before being closed (closed after ${elapsed} ms)`);
  const sincePing = close.at - silent.pings[0];
  assert.ok(sincePing >= 800, `closed ${sincePing} ms after the first ping: not before pong_timeout`);
  assert.ok(elapsed <= 5000, `closed ${elapsed} ms after connect: soon after ping_interval + pong_timeout`);
  assert.equal(close.code, 3012, `close code (reason ${JSON.stringify(close.reason)}, ${elapsed} ms after connect)`);
  await watcherStillReceives('no-pong close');
});

test('ping/pong: clients that answer pings (raw and SDK) stay connected', async () => {
  const answering = await env.raw(pingEdge.url, { autoPong: true });
  const sdk = env.sdk(pingEdge.url, { token: await env.token('sdk-pinged') });
  const start = Date.now();
  const result = await answering.connect(token);
  assert.equal(result.ping, 1);
  assert.equal(result.pong, true);
  await sdk.connectAndWait();
  await sdk.subscribeAndWait('pinged');

  // Several ping rounds (interval 1 s, pong timeout 1 s).
  await sleep(Math.max(0, 5000 - (Date.now() - start)));
  assert.ok(answering.isOpen, `answering raw client still open (close: ${JSON.stringify(answering.closeInfo)})`);
  assert.ok(answering.pings.length >= 3, `answering raw client pinged ${answering.pings.length} times in ~5 s`);
  assert.equal(sdk.state, 'connected');
  assert.equal(sdk.sockets.length, 1, 'SDK client never reconnected');
  const sdkPongs = sdk.sockets[0].sentFrames.filter((f) => f === '{}').length;
  assert.ok(sdkPongs >= 3, `SDK answered pings with {} (${sdkPongs} pongs)`);

  await env.publish('pinged', { alive: true });
  await sdk.waitPublication('pinged', (d) => d && d.alive === true, 5000, 'publication on the ping edge');
  await watcherStillReceives('ping/pong test');
});
