// The edge's HTTP answers before any WebSocket frame (issue 13, points 4 and
// 6), sent and read over raw TCP: 404 for anything but an upgrade to
// /connection/websocket, 426 with `Sec-WebSocket-Version: 13` for another
// version, 400 for a bad key, bad upgrade headers or no known subprotocol
// (or an oversized Sec-WebSocket-Protocol), 101 echoing the subprotocol
// chosen (`centrifuge-json` or `centrifuge-protobuf`, the first offered;
// JSON when none is), 403 for an Origin the config does not allow (a list
// with exact entries and `*.` patterns, `*`, or no list: same-origin by Host
// only), and close 1002 for an unmasked client frame. An SDK client on the
// same edge keeps receiving throughout.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

import { Env, waitFor } from './harness.mjs';
import { encodeFrame, exchange, newKey, plainGet, upgradeRequest } from './handshake_util.mjs';
import { codec } from './protobuf_util.mjs';

const env = new Env('wirehub-handshake');
after(() => env.cleanup());

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

let edge; // allowed_origins: exact and `*.` entries
let sameOriginEdge; // no allowed_origins
let anyOriginEdge; // allowed_origins: ['*']
let watcher;
let watchSeq = 0;

before(async () => {
  const control = await env.startControl();
  const config = (extra) => ({ defaults: { allow_subscribe_for_client: true }, ...extra });
  [edge, sameOriginEdge, anyOriginEdge] = await Promise.all([
    env.startEdge(control, {
      edge_id: 'edge-origin-list',
      config: env.writeConfig('list.json', config({ allowed_origins: ['https://app.example.com', 'https://*.example.org'] })),
    }),
    env.startEdge(control, { edge_id: 'edge-same-origin', config: env.writeConfig('same.json', config({})) }),
    env.startEdge(control, { edge_id: 'edge-any-origin', config: env.writeConfig('any.json', config({ allowed_origins: ['*'] })) }),
  ]);
  watcher = env.sdk(edge.url, { token: await env.token('watcher') });
  await watcher.connectAndWait();
  await watcher.subscribeAndWait('watch');
});

/** Publishes to the watched channel; the SDK watcher gets it on its first connection. */
async function watcherStillReceives(afterWhat) {
  watchSeq += 1;
  const seq = watchSeq;
  const pos = await env.publish('watch', { seq, afterWhat });
  const pub = await watcher.waitPublication('watch', (d) => d && d.seq === seq, 5000, `watcher publication after ${afterWhat}`);
  assert.equal(pub.offset, pos.offset);
  assert.equal(watcher.state, 'connected', `watcher still connected after ${afterWhat}`);
  assert.equal(watcher.sockets.length, 1, `watcher never reconnected (after ${afterWhat})`);
}

const show = (r) => JSON.stringify({ statusLine: r.statusLine, headers: r.headers, body: r.body, raw: r.status === null ? r.raw : undefined, serverClosed: r.serverClosed, timedOut: r.timedOut });

/** Asserts an HTTP refusal: the status, a text/plain reason body, no upgrade. */
function assertRefusal(r, status, what) {
  assert.equal(r.status, status, `${what}: expected HTTP ${status}, got ${show(r)}`);
  // lws writes HTTP/1.0 status lines, and no reason phrase for some codes (426).
  assert.match(r.statusLine, new RegExp(`^HTTP/1\\.[01] ${status}( |$)`), `${what}: status line ${show(r)}`);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain\b/, `${what}: content type ${show(r)}`);
  assert.ok(r.body.trim().length > 0, `${what}: a reason in the body ${show(r)}`);
  assert.equal(r.headers['sec-websocket-accept'], undefined, `${what}: no Sec-WebSocket-Accept ${show(r)}`);
}

/** Asserts a 101 whose Sec-WebSocket-Accept answers `key`; closes the connection. */
function assertUpgraded(r, what, key) {
  try {
    assert.equal(r.status, 101, `${what}: expected 101, got ${show(r)}`);
    if (key) {
      const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
      assert.equal(r.headers['sec-websocket-accept'], accept, `${what}: Sec-WebSocket-Accept ${show(r)}`);
    }
  } finally {
    r.conn?.destroy();
  }
}

test('a GET without upgrade answers 404 on any path', async () => {
  for (const path of ['/', '/connection/websocket', '/favicon.ico', '/connection/websocket/', '/metrics']) {
    assertRefusal(await exchange(edge.port, plainGet(edge.port, path)), 404, `GET ${path}`);
  }
  await watcherStillReceives('plain GETs');
});

test('an upgrade to any path but /connection/websocket answers 404', async () => {
  for (const path of ['/', '/connection', '/connection/websocket/x', '/connection/websocketx', '/other', '/connection/WEBSOCKET']) {
    assertRefusal(await exchange(edge.port, upgradeRequest(edge.port, { path })), 404, `upgrade to ${path}`);
  }
  await watcherStillReceives('upgrades to wrong paths');
});

test('a well-formed upgrade gets 101 with the right Sec-WebSocket-Accept, and the connection works', async () => {
  const cases = {
    plain: {},
    'Upgrade: WebSocket (any case)': { Upgrade: 'WebSocket' },
    'Connection: keep-alive, Upgrade (as Firefox sends)': { Connection: 'keep-alive, Upgrade' },
  };
  for (const [what, headers] of Object.entries(cases)) {
    const key = newKey();
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { ...headers, 'Sec-WebSocket-Key': key } }));
    if (what === 'plain') {
      // Speak the protocol over it with masked frames: connect, get a result.
      assert.equal(r.status, 101, `${what}: ${show(r)}`);
      r.conn.sendText(JSON.stringify({ id: 1, connect: { token: await env.token('raw-user') } }));
      const deadline = Date.now() + 5000;
      while (!r.conn.messages().some((m) => m.id === 1) && Date.now() < deadline && r.conn.closedAt === null) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const reply = r.conn.messages().find((m) => m.id === 1);
      assert.ok(reply && reply.connect, `connect over a raw 101: ${JSON.stringify(r.conn.messages())}`);
    }
    assertUpgraded(r, what, key);
  }
  await watcherStillReceives('valid upgrades');
});

test('bad upgrade headers answer 400: Connection without upgrade, a method other than GET, an oversized Origin or X-Forwarded-For', async () => {
  const cases = {
    'Connection: keep-alive (no upgrade token)': upgradeRequest(edge.port, { headers: { Connection: 'keep-alive' } }),
    'no Connection header': upgradeRequest(edge.port, { headers: { Connection: null } }),
    'POST with upgrade headers': upgradeRequest(edge.port, { method: 'POST' }),
    // Of the headers the edge reads (other headers, e.g. a 3 KiB User-Agent, pass).
    'a 3 KiB Origin': upgradeRequest(edge.port, { headers: { Origin: `https://${'a'.repeat(3072)}.example.org` } }),
    'a 3 KiB X-Forwarded-For': upgradeRequest(edge.port, { headers: { 'X-Forwarded-For': Array(300).fill('192.0.2.1').join(', ') } }),
  };
  for (const [what, request] of Object.entries(cases)) {
    assertRefusal(await exchange(edge.port, request), 400, what);
  }
  await watcherStillReceives('bad upgrade headers');
});

test('a Sec-WebSocket-Version other than 13, or none, answers 426 with Sec-WebSocket-Version: 13', async () => {
  for (const version of ['7', '8', '12', '99', '', null]) {
    const what = version === null ? 'no Sec-WebSocket-Version' : `Sec-WebSocket-Version: ${JSON.stringify(version)}`;
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { 'Sec-WebSocket-Version': version } }));
    assertRefusal(r, 426, what);
    assert.equal(r.headers['sec-websocket-version'], '13', `${what}: the 426 names version 13 ${show(r)}`);
  }
  await watcherStillReceives('wrong versions');
});

test('a missing Sec-WebSocket-Key, or one that is not base64 of 16 bytes, answers 400', async () => {
  const keys = {
    missing: null,
    empty: '',
    '3 bytes (YWJj)': 'YWJj',
    '15 bytes': randomBytes(15).toString('base64'),
    '17 bytes': randomBytes(17).toString('base64'),
    '32 bytes': randomBytes(32).toString('base64'),
    'not base64, 24 characters': '!!!!!!!!!!!!!!!!!!!!!!!!',
    '16 bytes without padding': randomBytes(16).toString('base64').replace(/=+$/, ''),
  };
  for (const [what, key] of Object.entries(keys)) {
    assertRefusal(await exchange(edge.port, upgradeRequest(edge.port, { headers: { 'Sec-WebSocket-Key': key } })), 400, `key ${what}`);
  }
  await watcherStillReceives('bad keys');
});

test('Sec-WebSocket-Protocol: none or centrifuge-json speaks JSON, centrifuge-protobuf protobuf; the first known one offered wins', async () => {
  const none = await exchange(edge.port, upgradeRequest(edge.port));
  assert.equal(none.status, 101, show(none));
  assert.equal(none.headers['sec-websocket-protocol'], undefined, `no subprotocol chosen when none offered ${show(none)}`);
  none.conn.destroy();

  const cases = {
    'centrifuge-json': 'centrifuge-json',
    'foo, centrifuge-json': 'centrifuge-json',
    'centrifuge-json, centrifuge-protobuf': 'centrifuge-json',
    'centrifuge-protobuf': 'centrifuge-protobuf',
    'centrifuge-protobuf, centrifuge-json': 'centrifuge-protobuf',
    'foo, centrifuge-protobuf, centrifuge-json': 'centrifuge-protobuf',
    'centrifuge-protobuf,centrifuge-json': 'centrifuge-protobuf',
  };
  for (const [offered, chosen] of Object.entries(cases)) {
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { 'Sec-WebSocket-Protocol': offered } }));
    try {
      assert.equal(r.status, 101, `offered ${offered}: ${show(r)}`);
      assert.equal(r.headers['sec-websocket-protocol'], chosen, `offered ${offered}: ${show(r)}`);
      // The connection speaks what was chosen: a connect in that form is answered in it.
      const token = await env.token('subprotocol-user');
      if (chosen === 'centrifuge-protobuf') {
        r.conn.socket.write(encodeFrame(0x2, Buffer.from(codec.encodeCommands([{ id: 1, connect: { token } }]))));
      } else {
        r.conn.sendText(JSON.stringify({ id: 1, connect: { token } }));
      }
      const reply = await waitFor(() => {
        const frame = r.conn.frames.find((f) => f.opcode === 1 || f.opcode === 2);
        if (!frame) return undefined;
        return { opcode: frame.opcode, replies: frame.opcode === 2 ? codec.decodeReplies(frame.payload) : r.conn.messages() };
      }, 5000, `the connect reply (offered ${offered})`);
      assert.equal(reply.opcode, chosen === 'centrifuge-protobuf' ? 2 : 1, `offered ${offered}: a binary frame for protobuf, text for JSON`);
      assert.equal(reply.replies[0].id, 1);
      assert.ok(reply.replies[0].connect?.client, `offered ${offered}: a connect result ${JSON.stringify(reply.replies)}`);
    } finally {
      r.conn?.destroy();
    }
  }
  await watcherStillReceives('subprotocols');
});

// The longest Sec-WebSocket-Protocol value and token the edge takes
// (docs/client-protocol.md, Negotiation); one byte more answers 400.
const MAX_SUBPROTOCOL_HEADER_BYTES = 126; // edge/handshake_check.h; lws 4.1.6 drops 127 unanswered
const MAX_SUBPROTOCOL_TOKEN_BYTES = 62; // edge/handshake_check.h; lws 4.1.6 drops 63 unanswered

/** A header of exactly `length` bytes: `first`, then `,x` tokens (and one `,xx` to make it even). */
function headerOfLength(first, length) {
  let value = first;
  while (value.length + 2 <= length) value += ',x';
  if (value.length < length) value = `${value.slice(0, -2)},xx`;
  assert.equal(value.length, length);
  return value;
}

test('a Sec-WebSocket-Protocol without a known subprotocol, too long, or with a token too long answers 400', async () => {
  for (const offered of ['foo', 'json', 'foo, bar', 'Centrifuge-JSON', 'centrifuge', 'protobuf']) {
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { 'Sec-WebSocket-Protocol': offered } }));
    assertRefusal(r, 400, `offered only ${offered}`);
    assert.match(r.body, /centrifuge-json/, `offered ${offered}: the body names the supported subprotocols ${show(r)}`);
    assert.match(r.body, /centrifuge-protobuf/, `offered ${offered}: the body names the supported subprotocols ${show(r)}`);
  }
  const header = MAX_SUBPROTOCOL_HEADER_BYTES;
  const token = MAX_SUBPROTOCOL_TOKEN_BYTES;
  const tooLong = {
    [`a ${header + 1}-byte header starting with a known subprotocol`]: headerOfLength('centrifuge-protobuf', header + 1),
    [`a ${header + 1}-byte header ending in a known subprotocol`]: `${'x'.repeat(50)}, ${'y'.repeat(header + 1 - 50 - 2 - 17)}, centrifuge-json`,
    'a 300-byte header': headerOfLength('centrifuge-json', 300),
    [`a ${token + 1}-byte token before centrifuge-json`]: `${'a'.repeat(token + 1)}, centrifuge-json`,
    [`a ${token + 1}-byte token after centrifuge-protobuf`]: `centrifuge-protobuf, ${'b'.repeat(token + 1)}`,
    // lws 4.1.6's tokenizer fails on these and drops the connection unanswered.
    'a token of digits only before centrifuge-json': '1, centrifuge-json',
    'an empty list item': 'centrifuge-json,,x',
    'a dotted token': 'wamp.2.json, centrifuge-protobuf',
  };
  for (const [what, offered] of Object.entries(tooLong)) {
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { 'Sec-WebSocket-Protocol': offered } }));
    assertRefusal(r, 400, `${what} (${offered.length} bytes)`);
  }
  await watcherStillReceives('refused subprotocols');

  // Exactly at the bounds: accepted (and answered: lws must not drop them).
  const bounds = {
    [`a ${header}-byte header of many tokens`]: headerOfLength('centrifuge-protobuf', header),
    [`a ${header}-byte header of three tokens`]: `centrifuge-protobuf, ${'y'.repeat(50)}, ${'z'.repeat(header - 19 - 2 - 50 - 2)}`,
    [`a ${token}-byte token before centrifuge-json`]: `${'a'.repeat(token)},centrifuge-json`,
  };
  for (const [what, offered] of Object.entries(bounds)) {
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { 'Sec-WebSocket-Protocol': offered } }));
    assertUpgraded(r, `${what} (${offered.length} bytes): ${offered}`);
  }
  await watcherStillReceives('subprotocols at the bounds');
});

test('Origin against a list of exact and *. entries: listed or absent passes, anything else 403', async () => {
  const allowed = [null, 'https://app.example.com', 'https://a.example.org', 'https://chat.example.org'];
  const refused = [
    'https://evil.example',
    'http://app.example.com', // another scheme
    'https://app.example.com:8443', // another port
    'https://app.example.com.evil.example',
    'https://example.org', // the pattern needs a leading label
    'https://evil-example.org',
    'null',
    `http://127.0.0.1:${edge.port}`, // same origin, but a list is configured
  ];
  for (const origin of allowed) {
    const r = await exchange(edge.port, upgradeRequest(edge.port, { headers: { Origin: origin } }));
    assertUpgraded(r, `Origin ${origin ?? '(absent)'}`);
  }
  for (const origin of refused) {
    assertRefusal(await exchange(edge.port, upgradeRequest(edge.port, { headers: { Origin: origin } })), 403, `Origin ${origin}`);
  }
  await watcherStillReceives('origins');
});

// `https://*.example.com` is one leading label, like a certificate's
// wildcard (docs/security.md).
test('a *. pattern matches exactly one leading label', async () => {
  for (const origin of ['https://a.b.example.org', 'https://x.y.z.example.org']) {
    assertRefusal(await exchange(edge.port, upgradeRequest(edge.port, { headers: { Origin: origin } })), 403, `Origin ${origin}`);
  }
});

test('without allowed_origins only same-origin handshakes (Origin host:port equal to Host) pass', async () => {
  const port = sameOriginEdge.port;
  const cases = [
    // [Host, Origin, allowed]
    [`127.0.0.1:${port}`, null, true],
    [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`, true],
    [`127.0.0.1:${port}`, `https://127.0.0.1:${port}`, true],
    [`LOCALHOST:${port}`, `http://localhost:${port}`, true], // case-insensitive
    [`app.example.com`, `https://APP.example.com`, true],
    [`127.0.0.1:${port}`, `http://localhost:${port}`, false],
    [`127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, false],
    [`127.0.0.1:${port}`, 'https://evil.example', false],
    [`app.example.com`, 'https://app.example.com.evil.example', false],
    [`127.0.0.1:${port}`, 'null', false],
  ];
  for (const [host, origin, allowed] of cases) {
    const what = `Host ${host}, Origin ${origin ?? '(absent)'}`;
    const r = await exchange(port, upgradeRequest(port, { headers: { Host: host, Origin: origin } }));
    if (allowed) assertUpgraded(r, what);
    else assertRefusal(r, 403, what);
  }
  await watcherStillReceives('same-origin checks on another edge');
});

test('allowed_origins ["*"] lets any Origin through', async () => {
  const port = anyOriginEdge.port;
  for (const origin of [null, 'https://evil.example', 'http://localhost:1', 'null']) {
    assertUpgraded(await exchange(port, upgradeRequest(port, { headers: { Origin: origin } })), `Origin ${origin ?? '(absent)'}`);
  }
});

// RFC 6455 5.1 wants 1002. Observed with lws 4.1.6: the unmasked frame is
// processed like a masked one (the connect in it is answered) and the
// connection stays open; lws reads the socket itself and tells the
// application nothing about the mask bit (docs/security.md). Kept as a
// todo so that it turns green the day the edge can do it.
test('an unmasked client frame closes the connection with 1002', {
  todo: 'lws 4.1.6 accepts unmasked client frames and does not expose the mask bit (docs/security.md)',
}, async () => {
  const token = await env.token('unmasked');
  for (const connectFirst of [false, true]) {
    const what = connectFirst ? 'after connect' : 'as the first frame';
    const r = await exchange(edge.port, upgradeRequest(edge.port));
    assert.equal(r.status, 101, show(r));
    const conn = r.conn;
    try {
      if (connectFirst) {
        conn.sendText(JSON.stringify({ id: 1, connect: { token } }));
        const deadline = Date.now() + 5000;
        while (!conn.messages().some((m) => m.id === 1) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.ok(conn.messages().some((m) => m.id === 1 && m.connect), `connected first: ${JSON.stringify(conn.messages())}`);
      }
      const id = connectFirst ? 2 : 1;
      const command = connectFirst ? { id, subscribe: { channel: 'unmasked' } } : { id, connect: { token } };
      conn.sendText(JSON.stringify(command), { mask: false });
      const closed = await conn.waitClosed(2000);
      const close = conn.closeFrame();
      const seen = JSON.stringify({ closed, close: close && { code: close.code, reason: close.reason }, messages: conn.messages() });
      assert.ok(
        !conn.messages().some((m) => m.id === id),
        `unmasked frame ${what}: the command in it was not processed ${seen}`,
      );
      assert.ok(close, `unmasked frame ${what}: a close frame ${seen}`);
      assert.equal(close.code, 1002, `unmasked frame ${what}: close code ${seen}`);
      assert.ok(closed, `unmasked frame ${what}: the edge closes the TCP connection ${seen}`);
    } finally {
      conn.destroy();
    }
  }
  await watcherStillReceives('unmasked frames');
});
