// Bad input from raw WebSocket clients (no SDK): each case gets the exact close
// code or reply error, while an SDK client subscribed on the same edge keeps
// receiving publications published between the bad inputs; on JSON
// connections and on `centrifuge-protobuf` ones (binary messages of
// varint-delimited Commands, made with the SDK's own codec or by hand). Also
// the ping/pong liveness rule, in both forms, on a dedicated edge with short
// intervals.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256, sleep } from './harness.mjs';
import { codec, protobufRaw, protobufSdk } from './protobuf_util.mjs';

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

test('a binary frame on a JSON connection closes with 3501 (before and after connect)', async () => {
  for (const connectFirst of [false, true]) {
    const r = await env.raw(edge.url);
    if (connectFirst) await r.connect(token);
    // What would be a valid protobuf subscribe: binary frames are not JSON's.
    r.ws.send(Buffer.from(codec.encodeCommands([{ id: 2, subscribe: { channel: 'binary-on-json' } }])), { binary: true });
    const close = await r.waitClose(5000);
    assert.equal(close.code, 3501, `connected first: ${connectFirst}; reason ${JSON.stringify(close.reason)}`);
  }
  await watcherStillReceives('binary frames on JSON connections');
});

// ---------------------------------------------------------------------------
// centrifuge-protobuf connections.

/** Protobuf varint of a non-negative integer. */
function varint(value) {
  const out = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** One Command message (undelimited) as the SDK encodes it. */
function commandBody(command) {
  const delimited = Buffer.from(codec.encodeCommands([command]));
  let pos = 0;
  while (delimited[pos] & 0x80) pos++;
  return delimited.subarray(pos + 1);
}

/** `bodies` (Command messages) each preceded by its length, as one binary message. */
const delimit = (...bodies) => Buffer.concat(bodies.flatMap((b) => [varint(b.length), b]));

test('protobuf: a connect and a subscribe in one message are answered in order, and the connection works', async () => {
  const p = await protobufRaw(env, edge.url);
  assert.equal(p.protocol, 'centrifuge-protobuf');
  p.send({ id: 1, connect: { token } }, { id: 2, subscribe: { channel: 'pb-batch' } });
  const [c, s] = [await p.reply(1), await p.reply(2)];
  assert.ok(c.connect?.client, JSON.stringify(c));
  assert.equal(c.connect.ping, 25);
  assert.equal(c.connect.pong, true);
  assert.ok(s.subscribe && !s.error, JSON.stringify(s));
  assert.deepEqual(p.replies.filter((r) => r.id).map((r) => r.id), [1, 2]);
  assert.ok(p.frames.every((f) => f.binary), 'binary frames only');
  // An unknown field (99) in a command is skipped, as protobuf does.
  const unknown = Buffer.concat([varint((99 << 3) | 2), varint(3), Buffer.from('abc')]);
  p.sendBytes(delimit(Buffer.concat([commandBody({ id: 3, subscribe: { channel: 'pb-unknown-field' } }), unknown])));
  const u = await p.reply(3);
  assert.ok(u.subscribe && !u.error, JSON.stringify(u));
  const pos = await env.publish('pb-batch', { ok: true });
  const push = await p.waitReply((r) => r.push?.pub && r.push.channel === 'pb-batch', 5000, 'push on pb-batch');
  assert.equal(push.id, 0);
  assert.equal(Buffer.from(push.push.pub.data).toString(), '{"ok":true}');
  assert.equal(Number(push.push.pub.offset), pos.offset);
  // An unknown method: the same 104 as on JSON, the connection stays usable.
  p.sendBytes(delimit(Buffer.concat([varint(1 << 3), varint(4)])));
  const none = await p.reply(4);
  assert.equal(none.error?.code, 104, JSON.stringify(none));
  assert.ok(p.isOpen);
  p.close();
});

test('protobuf: a text frame closes with 3501 (before and after connect)', async () => {
  for (const connectFirst of [false, true]) {
    const p = await protobufRaw(env, edge.url);
    if (connectFirst) await p.connect(token);
    p.sendText(JSON.stringify(connectFirst ? { id: 2, subscribe: { channel: 'text-on-pb' } } : { id: 1, connect: { token } }));
    const close = await p.waitClose(5000);
    assert.equal(close.code, 3501, `connected first: ${connectFirst}; reason ${JSON.stringify(close.reason)}`);
    assert.equal(p.replies.find((r) => r.id === 2 || (!connectFirst && r.id === 1)), undefined, 'the text command was not executed');
  }
  await watcherStillReceives('text frames on protobuf connections');
});

test('protobuf: a truncated varint, a length past the end, a damaged Command or an empty message close with 3501', async () => {
  const good = commandBody({ id: 2, subscribe: { channel: 'pb-damaged' } });
  const cases = {
    'a truncated length varint': Buffer.from([0x80]),
    'a length varint of ten 0xff bytes': Buffer.alloc(10, 0xff),
    'a length past the end': Buffer.from([0x05, 0x08, 0x02]),
    'a good command, then a length past the end': Buffer.concat([delimit(good), Buffer.from([0x10, 0x08, 0x03])]),
    'a truncated varint inside the command': delimit(Buffer.from([0x08, 0x80])),
    'a field length past the end of the command': delimit(Buffer.from([0x2a, 0x09, 0x0a, 0x01, 0x61])),
    'wire type 7': delimit(Buffer.from([0x0f, 0x01])),
    'an empty message': Buffer.alloc(0),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    for (const connectFirst of what === 'a truncated length varint' ? [false, true] : [true]) {
      const p = await protobufRaw(env, edge.url);
      if (connectFirst) await p.connect(token);
      p.sendBytes(bytes);
      const close = await p.waitClose(5000).catch((err) => {
        throw new Error(`${what} (connected first: ${connectFirst}): ${err.message}; replies ${JSON.stringify(p.replies)}`);
      });
      assert.equal(close.code, 3501, `${what} (connected first: ${connectFirst}): reason ${JSON.stringify(close.reason)}`);
    }
  }
  await watcherStillReceives('damaged protobuf messages');
});

test('protobuf: a binary message larger than max_message_bytes closes with 1009', async () => {
  // An unknown field (99) pads the command: only its size differs.
  const padded = (id, total) => {
    const body = commandBody({ id, subscribe: { channel: `pb-big-${id}` } });
    const withPad = (n) => delimit(Buffer.concat([body, varint((99 << 3) | 2), varint(n), Buffer.alloc(n, 0x61)]));
    let n = total - body.length;
    while (withPad(n).length > total) n--;
    return withPad(n);
  };
  const p = await protobufRaw(env, edge.url);
  await p.connect(token);
  const small = padded(2, MAX_MESSAGE_BYTES - 1024);
  assert.equal(small.length, MAX_MESSAGE_BYTES - 1024);
  p.sendBytes(small);
  const ok = await p.reply(2);
  assert.ok(ok.subscribe && !ok.error, `a message under the limit is accepted: ${JSON.stringify(ok)}`);

  const big = padded(3, MAX_MESSAGE_BYTES + 1024);
  assert.equal(big.length, MAX_MESSAGE_BYTES + 1024);
  p.sendBytes(big);
  const close = await p.waitClose(5000);
  assert.equal(close.code, 1009, `close code (reason ${JSON.stringify(close.reason)})`);
  assert.equal(p.replies.find((r) => r.id === 3), undefined, 'the oversized command was not executed');
  await watcherStillReceives('oversized protobuf message');
});

test('ping/pong: a client that never answers pings is closed with 3012 (JSON and protobuf)', async () => {
  // Side by side: the protobuf ping is an empty Reply (one 0x00 byte).
  const silents = [await env.raw(pingEdge.url), await protobufRaw(env, pingEdge.url)];
  await Promise.all(silents.map(async (silent, i) => {
    const form = i === 0 ? 'JSON' : 'protobuf';
    const connectedAt = Date.now();
    const result = await silent.connect(token);
    assert.equal(result.ping, 1, `${form}: connect result advertises ping interval 1 s`);
    assert.equal(result.pong, true, `${form}: connect result asks for pongs`);

    const close = await silent.waitClose(8000);
    const elapsed = close.at - connectedAt;
    assert.ok(silent.pings.length >= 1, `${form}: the silent client was pinged before being closed (closed after ${elapsed} ms)`);
    const sincePing = close.at - silent.pings[0];
    assert.ok(sincePing >= 800, `${form}: closed ${sincePing} ms after the first ping: not before pong_timeout`);
    assert.ok(elapsed <= 5000, `${form}: closed ${elapsed} ms after connect: soon after ping_interval + pong_timeout`);
    assert.equal(close.code, 3012, `${form}: close code (reason ${JSON.stringify(close.reason)}, ${elapsed} ms after connect)`);
  }));
  const pings = silents[1].frames.filter((f) => f.binary && f.data.length === 1 && f.data[0] === 0);
  assert.ok(pings.length >= 1, 'the protobuf ping is a message of one 0x00 byte');
  await watcherStillReceives('no-pong close');
});

test('ping/pong: clients that answer pings (raw and SDK, JSON and protobuf) stay connected', async () => {
  const answering = await env.raw(pingEdge.url, { autoPong: true });
  const pbAnswering = await protobufRaw(env, pingEdge.url, { autoPong: true });
  const sdk = env.sdk(pingEdge.url, { token: await env.token('sdk-pinged') });
  const pbSdk = protobufSdk(env, pingEdge.url, { token: await env.token('pb-sdk-pinged') });
  const start = Date.now();
  for (const c of [answering, pbAnswering]) {
    const result = await c.connect(token);
    assert.equal(result.ping, 1);
    assert.equal(result.pong, true);
  }
  await sdk.connectAndWait();
  await sdk.subscribeAndWait('pinged');
  await pbSdk.connectAndWait();
  await pbSdk.subscribeAndWait('pinged');

  // Several ping rounds (interval 1 s, pong timeout 1 s).
  await sleep(Math.max(0, 5000 - (Date.now() - start)));
  assert.ok(answering.isOpen, `answering raw client still open (close: ${JSON.stringify(answering.closeInfo)})`);
  assert.ok(answering.pings.length >= 3, `answering raw client pinged ${answering.pings.length} times in ~5 s`);
  assert.equal(sdk.state, 'connected');
  assert.equal(sdk.sockets.length, 1, 'SDK client never reconnected');
  const sdkPongs = sdk.sockets[0].sentFrames.filter((f) => f === '{}').length;
  assert.ok(sdkPongs >= 3, `SDK answered pings with {} (${sdkPongs} pongs)`);
  assert.ok(pbAnswering.isOpen, `answering protobuf raw client still open (close: ${JSON.stringify(pbAnswering.closeInfo)})`);
  assert.ok(pbAnswering.pings.length >= 3, `answering protobuf raw client pinged ${pbAnswering.pings.length} times in ~5 s`);
  assert.equal(pbSdk.state, 'connected');
  assert.equal(pbSdk.sockets.length, 1, 'protobuf SDK client never reconnected');
  const pbPongs = pbSdk.sockets[0].sentFrames.filter((f) => f.binary && f.data.length === 1 && f.data[0] === 0).length;
  assert.ok(pbPongs >= 3, `protobuf SDK answered pings with an empty Command (${pbPongs} pongs)`);

  await env.publish('pinged', { alive: true });
  await sdk.waitPublication('pinged', (d) => d && d.alive === true, 5000, 'publication on the ping edge');
  await pbSdk.waitPublication('pinged', (d) => Buffer.from(d).toString() === '{"alive":true}', 5000, 'protobuf publication on the ping edge');
  await watcherStillReceives('ping/pong test');
});
