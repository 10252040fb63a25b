// Binary namespaces (issue 18, payloads): a namespace with `binary_data`
// takes publications of any bytes, others only one JSON document; JSON
// connections (every connection until the edge speaks centrifuge-protobuf)
// may not subscribe to a binary namespace, nor read its history or presence.
//
// The backend side talks gRPC itself (node:http2, a few lines of protobuf
// below): wirehubctl takes data from its command line and prints history as
// JSON, so it can neither send a NUL byte nor show bytes exactly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';

import { Env } from './harness.mjs';
import { redisConfig, startRedis } from './redis_util.mjs';

const env = new Env('wirehub-binary-ns');
after(() => env.cleanup());

const namespaces = [
  {
    name: 'frames',
    options: {
      binary_data: true, allow_subscribe_for_client: true, history_size: 10, history_ttl: '60s',
      allow_history_for_subscriber: true, presence: true, allow_presence_for_subscriber: true,
    },
  },
  {
    name: 'chat',
    options: {
      allow_subscribe_for_client: true, history_size: 10, history_ttl: '60s',
      allow_history_for_subscriber: true,
    },
  },
];

// NUL, 0xff, a line break, '{', a truncated UTF-8 sequence, NUL.
const BINARY = Buffer.from([0x00, 0xff, 0x0a, 0x7b, 0xc3, 0x00]);

let control;
let redisControl;
let edge;

before(async () => {
  const file = env.writeConfig('config.json', { namespaces });
  control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, { edge_id: 'edge-bin', config: file });
  const redis = await startRedis(env);
  const redisFile = redisConfig(env, 'redis-config.json', redis, { namespaces });
  redisControl = await env.startControl([`--config=${redisFile}`]);
});

// ---------------------------------------------------------------------------
// Protobuf, only what these calls need: varints and length-delimited fields.

function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const out = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

const bytesField = (number, value) => {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  return Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
};
const intField = (number, value) => Buffer.concat([varint(number << 3), varint(value)]);

/** Decodes a message into {field number: [values]}: Buffers, or BigInts for varints. */
function decode(buf) {
  const fields = {};
  let pos = 0;
  const readVarint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const number = key >> 3;
    let value;
    if ((key & 7) === 0) {
      value = readVarint();
    } else if ((key & 7) === 2) {
      const length = Number(readVarint());
      value = buf.subarray(pos, pos + length);
      pos += length;
    } else {
      throw new Error(`wire type ${key & 7} not expected in these answers`);
    }
    (fields[number] ??= []).push(value);
  }
  return fields;
}

/**
 * One unary call of wirehub.control.v1.ControlService on `target` (a
 * control); resolves with {code, message, body} (body: the response
 * message, when the call succeeded).
 */
function grpcCall(target, method, request) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${target.address}`);
    session.on('error', reject);
    const call = session.request({
      ':method': 'POST',
      ':path': `/wirehub.control.v1.ControlService/${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let headers = {};
    let trailers = {};
    const chunks = [];
    call.on('response', (h) => (headers = h));
    call.on('trailers', (t) => (trailers = t));
    call.on('data', (chunk) => chunks.push(chunk));
    call.on('error', reject);
    call.setTimeout(10_000, () => reject(new Error(`${method} timed out`)));
    call.on('end', () => {
      session.close();
      // An error may come as trailers only, in the response headers.
      const status = trailers['grpc-status'] ?? headers['grpc-status'];
      const message = decodeURIComponent(trailers['grpc-message'] ?? headers['grpc-message'] ?? '');
      const data = Buffer.concat(chunks);
      const body = data.length >= 5 ? data.subarray(5, 5 + data.readUInt32BE(1)) : null;
      resolve({ code: Number(status), message, body });
    });
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(request.length, 1);
    call.end(Buffer.concat([frame, request]));
  });
}

const OK = 0;
const INVALID_ARGUMENT = 3;

/** PublishRequest {channel = 1, data = 2}. */
function publish(target, channel, data) {
  return grpcCall(target, 'Publish', Buffer.concat([bytesField(1, channel), bytesField(2, data)]));
}

/** HistoryRequest {channel = 1, limit = 3: -1 (all)}; resolves with the data of each publication. */
async function historyData(target, channel) {
  const answer = await grpcCall(target, 'History', Buffer.concat([bytesField(1, channel), intField(3, -1)]));
  assert.equal(answer.code, OK, `History ${channel}: ${answer.message}`);
  // HistoryResponse.publications = 1, HistoryPublication.data = 2.
  return (decode(answer.body)[1] ?? []).map((publication) => decode(publication)[2]?.[0] ?? Buffer.alloc(0));
}

// ---------------------------------------------------------------------------

for (const engine of ['memory', 'redis']) {
  test(`${engine} engine: a binary namespace keeps any bytes exactly, a JSON one refuses them`, async () => {
    const target = engine === 'memory' ? control : redisControl;
    const published = await publish(target, 'frames:1', BINARY);
    assert.equal(published.code, OK, published.message);
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.equal((await publish(target, 'frames:1', every)).code, OK);
    assert.equal((await publish(target, 'frames:1', '{"json":"too"}')).code, OK);
    const history = await historyData(target, 'frames:1');
    assert.equal(history.length, 3);
    assert.ok(history[0].equals(BINARY), `history[0] is ${history[0].toString('hex')}`);
    assert.ok(history[1].equals(every), `history[1] is ${history[1].toString('hex')}`);
    assert.equal(history[2].toString('utf8'), '{"json":"too"}');

    const refused = await publish(target, 'chat:1', BINARY);
    assert.equal(refused.code, INVALID_ARGUMENT, refused.message);
    assert.match(refused.message, /^data: invalid JSON/);
    assert.match(refused.message, /channel chat:1 is in namespace "chat", which takes JSON only \(binary_data is off\)/);
    // JSON namespaces are unchanged: JSON goes in, line breaks become spaces.
    assert.equal((await publish(target, 'chat:1', '{\n"n": 1}')).code, OK);
    const chat = await historyData(target, 'chat:1');
    assert.deepEqual(chat.map((d) => d.toString('utf8')), ['{ "n": 1}']);
  });
}

test('a JSON SDK client is refused a binary namespace with 107 and keeps its connection', async () => {
  const client = env.sdk(edge.url, { token: env.connToken({ sub: 'alice' }) });
  await client.connectAndWait();
  const refused = await client.subscribeRefused('frames:2');
  assert.equal(refused.code, 107, JSON.stringify(refused));
  assert.match(refused.reason, /namespace "frames" carries binary data; it needs the centrifuge-protobuf subprotocol/);
  assert.equal(client.state, 'connected');

  // JSON namespaces are unchanged for the same client.
  await client.subscribeAndWait('chat:2');
  await env.publish('chat:2', { hello: 'json' }, control);
  await client.waitPublication('chat:2', (d) => d.hello === 'json', 5000);
  client.close();
});

test('history, presence and server-side subscriptions of a binary namespace are refused to JSON connections', async () => {
  const raw = await env.raw(edge.url);
  await raw.connect(env.connToken({ sub: 'bob', channels: ['frames:3', 'chat:3'] }));
  // The `channels` claim subscribes chat:3 only: a subscribe push for it,
  // none for frames:3.
  await raw.waitMessage((m) => m.push?.channel === 'chat:3' && m.push.subscribe, 5000, 'subscribe push of chat:3');
  raw.sendCommands(
    { id: 2, history: { channel: 'frames:3', limit: 1 } },
    { id: 3, presence: { channel: 'frames:3' } },
    { id: 4, presence_stats: { channel: 'frames:3' } },
  );
  for (const id of [2, 3, 4]) {
    const reply = await raw.reply(id);
    assert.equal(reply.error?.code, 107, JSON.stringify(reply));
    assert.match(reply.error.message, /^bad request: namespace "frames" carries binary data/);
    assert.equal(reply.error.temporary, undefined);
  }
  assert.ok(!raw.messages.some((m) => m.push?.channel === 'frames:3'), JSON.stringify(raw.messages));
  assert.ok(raw.isOpen);
  raw.close();
});
