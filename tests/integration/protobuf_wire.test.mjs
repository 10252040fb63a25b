// The protobuf wire form (`centrifuge-protobuf`) checked against the
// definitions the npm `centrifuge` SDK ships for itself, not ours: a wrong
// field number of ours cannot pass by agreeing with our own decoder.
//
// wirehub-protobuf-vectors (edge/testing/protobuf_vectors_main.cc) runs the
// edge's codec on stdin/stdout. Commands: every command kind is encoded here
// with the SDK's ProtobufCodec, parsed by the edge's ProtobufCommandParser,
// and every field of the resulting Command compared. Replies and pushes: the
// tool prints each encoder's output for fixed values (listed again below),
// the SDK's codec decodes it, and the decoded objects are compared whole,
// including which fields are present (a field sent under a number the SDK
// does not expect would be skipped by it, and missing here).
//
// The SDK's codec is internal: reached through `_codec` of a protobuf
// Centrifuge that opens nothing, and checked to be the protobuf one, so an
// SDK upgrade that renames it fails here loudly.
//
// WIREHUB_PROTOBUF_SEED_DIR=DIR also writes each SDK-encoded command message
// to DIR (how fuzz/corpus/protobuf_command_parser was made).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';

import { binPath, findSanitizerReport } from './harness.mjs';

/** One run of the vectors tool reads a few kilobytes: it must be done well within this. */
const TOOL_TIMEOUT_MS = 20_000;

const codec = new ProtobufCentrifuge('ws://127.0.0.1:1/unused', { websocket: class {} })._codec;

/** Runs wirehub-protobuf-vectors MODE with `input`; resolves its JSON lines. */
function runVectors(mode, input = '') {
  const result = spawnSync(binPath('wirehub-protobuf-vectors'), [mode], {
    input,
    encoding: 'utf8',
    timeout: TOOL_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.error) throw new Error(`wirehub-protobuf-vectors ${mode}: ${result.error.message}`);
  const report = findSanitizerReport(result.stderr);
  assert.equal(report, null, `sanitizer report from wirehub-protobuf-vectors:\n${report}`);
  assert.equal(result.signal, null, `wirehub-protobuf-vectors ${mode} killed by ${result.signal}`);
  assert.equal(result.status, 0, `wirehub-protobuf-vectors ${mode} exited ${result.status}: ${result.stderr}`);
  return result.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
}

const hexOf = (bytes) => Buffer.from(bytes).toString('hex');
const utf8 = (text) => new TextEncoder().encode(text);

test('the SDK codec is its protobuf one', () => {
  assert.equal(codec.name(), 'protobuf');
});

// ---------------------------------------------------------------------------
// Commands: SDK-encoded, parsed by the edge.

/** A Command as the tool prints it, with every field at its default. */
const NO_COMMAND = {
  kind: 'pong',
  id: 0,
  method: '',
  token: '',
  has_token: false,
  channel: '',
  subs: [],
  data_hex: '',
  recover: false,
  epoch: '',
  offset: '0',
  has_since: false,
  limit: 0,
  reverse: false,
  problem: '',
};
const cmd = (fields) => ({ ...NO_COMMAND, ...fields });
const sub = (channel, fields = {}) => ({ channel, recover: false, epoch: '', offset: '0', ...fields });

const binaryData = Uint8Array.from([0, 255, 10, 13, 0x7b, 0x80]);

/**
 * Each case: the SDK command objects of one message and the Commands the edge
 * must make of them (or `error` when the message must be refused with 3501).
 * `bytes` replaces the SDK's encoding with hand-made bytes.
 */
const COMMAND_CASES = [
  {
    name: 'connect',
    commands: [{
      id: 1,
      connect: {
        token: 'head.payload.sig',
        data: utf8('{"x":1}'),
        subs: { 'chat:a': { recover: true, epoch: 'ep', offset: 5 }, 'чат:б': {} },
        name: 'js',
        version: '5.8.0',
        headers: { 'x-a': 'b' },
        flag: 1,
      },
    }],
    expect: [cmd({
      kind: 'connect', id: 1, method: 'connect', token: 'head.payload.sig', has_token: true,
      subs: [sub('chat:a', { recover: true, epoch: 'ep', offset: '5' }), sub('чат:б')],
    })],
  },
  {
    name: 'connect_anonymous',
    commands: [{ id: 2, connect: { name: 'js' } }],
    expect: [cmd({ kind: 'connect', id: 2, method: 'connect' })],
  },
  {
    name: 'subscribe',
    commands: [{
      id: 3,
      subscribe: {
        channel: 'chat:1',
        token: 'sub.token',
        recover: true,
        epoch: 'xyz',
        offset: '18446744073709551615',
        data: utf8('{}'),
        positioned: true,
        recoverable: true,
        join_leave: true,
        delta: 'fossil',
        flag: 2,
      },
    }],
    expect: [cmd({
      kind: 'subscribe', id: 3, method: 'subscribe', channel: 'chat:1', token: 'sub.token',
      has_token: true, recover: true, epoch: 'xyz', offset: '18446744073709551615',
    })],
  },
  {
    name: 'subscribe_plain',
    commands: [{ id: 4, subscribe: { channel: 'news' } }],
    expect: [cmd({ kind: 'subscribe', id: 4, method: 'subscribe', channel: 'news' })],
  },
  {
    name: 'unsubscribe',
    commands: [{ id: 5, unsubscribe: { channel: 'news' } }],
    expect: [cmd({ kind: 'unsubscribe', id: 5, method: 'unsubscribe', channel: 'news' })],
  },
  {
    name: 'publish',
    commands: [{ id: 6, publish: { channel: 'bin', data: binaryData } }],
    expect: [cmd({ kind: 'publish', id: 6, method: 'publish', channel: 'bin', data_hex: hexOf(binaryData) })],
  },
  {
    name: 'publish_empty',
    commands: [{ id: 7, publish: { channel: 'c' } }],
    expect: [cmd({ kind: 'invalid_params', id: 7, method: 'publish', channel: 'c', problem: 'data is required' })],
  },
  {
    name: 'presence',
    commands: [{ id: 8, presence: { channel: 'room' } }],
    expect: [cmd({ kind: 'presence', id: 8, method: 'presence', channel: 'room' })],
  },
  {
    name: 'presence_stats',
    commands: [{ id: 9, presence_stats: { channel: 'room' } }],
    expect: [cmd({ kind: 'presence_stats', id: 9, method: 'presence_stats', channel: 'room' })],
  },
  {
    name: 'history',
    commands: [{ id: 10, history: { channel: 'chat:1', limit: 10, since: { offset: 7, epoch: 'ep' }, reverse: true } }],
    expect: [cmd({
      kind: 'history', id: 10, method: 'history', channel: 'chat:1', limit: 10, has_since: true,
      offset: '7', epoch: 'ep', reverse: true,
    })],
  },
  {
    name: 'history_position_only',
    commands: [{ id: 11, history: { channel: 'chat:1', limit: -1 } }],
    expect: [cmd({ kind: 'history', id: 11, method: 'history', channel: 'chat:1', limit: -1 })],
  },
  {
    name: 'ping',
    commands: [{ id: 12, ping: {} }],
    expect: [cmd({ kind: 'ping', id: 12, method: 'ping' })],
  },
  {
    name: 'send_and_rpc',
    commands: [{ send: { data: utf8('hi') } }, { id: 13, rpc: { method: 'm', data: utf8('{}') } }],
    expect: [
      cmd({ kind: 'not_available', method: 'send' }),
      cmd({ kind: 'not_available', id: 13, method: 'rpc' }),
    ],
  },
  {
    name: 'refresh',
    commands: [{ id: 14, refresh: { token: 'new.token' } }, { id: 15, refresh: {} }],
    expect: [
      cmd({ kind: 'refresh', id: 14, method: 'refresh', token: 'new.token', has_token: true }),
      cmd({ kind: 'invalid_params', id: 15, method: 'refresh', problem: 'token is required' }),
    ],
  },
  {
    name: 'sub_refresh',
    commands: [{ id: 16, sub_refresh: { channel: 'chat:1', token: 'sub.token' } }],
    expect: [cmd({
      kind: 'sub_refresh', id: 16, method: 'sub_refresh', channel: 'chat:1', token: 'sub.token', has_token: true,
    })],
  },
  {
    name: 'pong',
    commands: [{}],
    expect: [cmd({})],
  },
  {
    name: 'id_without_method',
    commands: [{ id: 17 }],
    expect: [cmd({ kind: 'unknown', id: 17 })],
  },
  {
    name: 'several',
    commands: [
      { id: 1, connect: { token: 't', name: 'js' } },
      { id: 2, subscribe: { channel: 'a' } },
      {},
      { id: 3, presence_stats: { channel: 'a' } },
    ],
    expect: [
      cmd({ kind: 'connect', id: 1, method: 'connect', token: 't', has_token: true }),
      cmd({ kind: 'subscribe', id: 2, method: 'subscribe', channel: 'a' }),
      cmd({}),
      cmd({ kind: 'presence_stats', id: 3, method: 'presence_stats', channel: 'a' }),
    ],
  },
  {
    name: 'two_methods',
    commands: [{ id: 1, ping: {}, presence: { channel: 'c' } }],
    error: 'command names more than one method',
  },
];

/** Malformed messages: the SDK's bytes, damaged. */
function malformedCases() {
  const subscribe = Buffer.from(codec.encodeCommands([{ id: 2, subscribe: { channel: 'abc' } }]));
  const pastEnd = Buffer.from(subscribe);
  pastEnd[0] += 1;
  return [
    { name: 'truncated_command', bytes: subscribe.subarray(0, subscribe.length - 1) },
    { name: 'length_past_end', bytes: pastEnd },
    { name: 'truncated_length', bytes: Buffer.concat([subscribe, Buffer.from([0x80])]) },
    { name: 'eleven_byte_length', bytes: Buffer.from('8080808080808080808000', 'hex') },
    { name: 'bad_wire_type', bytes: Buffer.from('020f00', 'hex') },
  ].map((c) => ({ ...c, error: true }));
}

test('every command kind the SDK encodes parses field by field', () => {
  const cases = [...COMMAND_CASES, ...malformedCases()];
  const messages = cases.map((c) => Buffer.from(c.bytes ?? codec.encodeCommands(c.commands)));
  const seedDir = process.env.WIREHUB_PROTOBUF_SEED_DIR;
  if (seedDir) {
    fs.mkdirSync(seedDir, { recursive: true });
    cases.forEach((c, i) => fs.writeFileSync(path.join(seedDir, c.name), messages[i]));
  }
  const results = runVectors('commands', messages.map((m) => `${m.toString('hex')}\n`).join(''));
  assert.equal(results.length, cases.length);
  cases.forEach((c, i) => {
    const result = results[i];
    if (c.error) {
      assert.equal(result.ok, false, `${c.name}: must be refused, got ${JSON.stringify(result)}`);
      if (typeof c.error === 'string') assert.equal(result.error, c.error, c.name);
      return;
    }
    assert.equal(result.ok, true, `${c.name}: ${result.error}`);
    assert.deepEqual(result.commands, c.expect, c.name);
  });
});

test("the SDK's own pong is the single byte 00", () => {
  // What the edge parses as a pong (the 'pong' case above) is what the SDK
  // sends when the connect result asks for pongs.
  assert.equal(hexOf(codec.encodeCommands([{}])), '00');
});

// ---------------------------------------------------------------------------
// Replies and pushes: encoded by the edge, decoded by the SDK.

/**
 * A decoded SDK message as plain data: only the fields present on the wire
 * (protobufjs keeps defaults on the prototype), 64-bit integers as decimal
 * strings, bytes as 'hex:...'. Empty repeated and map fields, which every
 * decoded object carries, are left out; an empty message stays `{}`.
 */
function plain(value) {
  if (value instanceof Uint8Array) return `hex:${hexOf(value)}`;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    if (typeof value.low === 'number' && typeof value.high === 'number' && 'unsigned' in value) {
      return value.toString();
    }
    const out = {};
    for (const [key, field] of Object.entries(value)) {
      if (Array.isArray(field) && field.length === 0) continue;
      if (field !== null && field.constructor === Object && Object.keys(field).length === 0) continue;
      out[key] = plain(field);
    }
    return out;
  }
  return value;
}

const bytes = (text) => `hex:${hexOf(utf8(text))}`;

// The values wirehub-protobuf-vectors encodes (PrintReplies()).
const PUBLISHER = { user: 'user-1', client: 'client-1', conn_info: bytes('{"name":"Ann"}') };
const FULL_INFO = { user: 'user-2', client: 'client-2', conn_info: bytes('{"c":1}'), chan_info: bytes('{"h":2}') };
const CONNECT_SIMPLE = { id: 1, connect: { client: 'cid-1', version: 'wirehub 0.1.0', ping: 25, pong: true } };
const PUBLICATION = { push: { channel: 'chat:1', pub: { data: bytes('{"n":1}'), offset: '7' } } };
const BINARY_DATA = `hex:${hexOf(Uint8Array.from({ length: 300 }, (_, i) => i & 0xff))}`;
const EMPTY_RESULT_METHODS = [
  'connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'ping', 'rpc',
  'refresh', 'sub_refresh',
];

/** Case name → the Replies the SDK must decode from it. */
const REPLY_CASES = {
  ping: [{}],
  connect_simple: [CONNECT_SIMPLE],
  connect_full: [{
    id: 2,
    connect: {
      client: 'cid-ü',
      version: 'v',
      expires: true,
      ttl: 3600,
      subs: {
        a: {
          recoverable: true,
          epoch: 'ep',
          publications: [
            { data: bytes('1'), offset: '41' },
            { data: bytes('{"k":2}'), info: PUBLISHER, offset: '42' },
          ],
          recovered: true,
          offset: String(2 ** 40 + 1),
          positioned: true,
          was_recovering: true,
        },
        b: {},
      },
      ping: 10,
    },
  }],
  ...Object.fromEntries(EMPTY_RESULT_METHODS.map((m) => [`empty:${m}`, [{ id: 3, [m]: {} }]])),
  subscribe_full: [{
    id: 4,
    subscribe: {
      expires: true,
      ttl: 60,
      recoverable: true,
      epoch: 'xyz',
      publications: [{ data: 'hex:0001ff', info: FULL_INFO, offset: '18446744073709551614' }],
      recovered: true,
      offset: '18446744073709551615',
      positioned: true,
      was_recovering: true,
    },
  }],
  subscribe_empty: [{ id: 5, subscribe: {} }],
  history: [{
    id: 6,
    history: {
      publications: [
        { data: bytes('{"a":1}'), offset: '1' },
        { data: bytes('[2]'), info: PUBLISHER, offset: '2' },
      ],
      epoch: 'ep',
      offset: '2',
    },
  }],
  history_empty: [{ id: 7, history: {} }],
  refresh: [{ id: 8, refresh: { client: 'cid', version: 'v1', expires: true, ttl: 120 } }],
  refresh_no_expiry: [{ id: 9, refresh: { client: 'cid', version: 'v1' } }],
  sub_refresh: [{ id: 10, sub_refresh: { expires: true, ttl: 30 } }],
  sub_refresh_empty: [{ id: 11, sub_refresh: {} }],
  presence: [{ id: 12, presence: { presence: { 'client-1': PUBLISHER, 'client-2': FULL_INFO } } }],
  presence_empty: [{ id: 13, presence: {} }],
  presence_stats: [{ id: 14, presence_stats: { num_clients: 3, num_users: 2 } }],
  error: [{ id: 15, error: { code: 111, message: 'too many requests', temporary: true } }],
  error_plain: [{ id: 16, error: { code: 107, message: 'bad request: "x"' } }],
  publication: [PUBLICATION],
  publication_binary: [{ push: { channel: 'bin', pub: { data: BINARY_DATA, offset: '9007199254740993' } } }],
  publication_info: [{ push: { channel: 'c', pub: { data: bytes('"x"'), info: FULL_INFO, offset: '3' } } }],
  join: [{ push: { channel: 'room', join: { info: FULL_INFO } } }],
  leave: [{ push: { channel: 'room', leave: { info: PUBLISHER } } }],
  subscribe_push: [{ push: { channel: 'news', subscribe: { recoverable: true, epoch: 'ep', offset: '12', positioned: true } } }],
  subscribe_push_empty: [{ push: { channel: 'plain', subscribe: {} } }],
  unsubscribe_push: [{ push: { channel: 'c', unsubscribe: { code: 2500, reason: 'insufficient state' } } }],
  disconnect_push: [{ push: { disconnect: { code: 3001, reason: 'shutdown' } } }],
  message_push: [{ push: { message: { data: 'hex:006d' } } }],
  batch: [CONNECT_SIMPLE, PUBLICATION, {}, { id: 2, error: { code: 103, message: 'permission denied' } }],
};

test('every reply and push the edge encodes decodes field by field with the SDK', () => {
  const printed = runVectors('replies');
  assert.deepEqual(printed.map((p) => p.case).sort(), Object.keys(REPLY_CASES).sort(),
    'the cases of wirehub-protobuf-vectors and of this test differ');
  for (const { case: name, hex } of printed) {
    let replies;
    try {
      replies = codec.decodeReplies(Buffer.from(hex, 'hex'));
    } catch (err) {
      assert.fail(`${name}: the SDK cannot decode ${hex}: ${err.message}`);
    }
    assert.deepEqual(replies.map(plain), REPLY_CASES[name], `${name} (${hex})`);
  }
});

test('the server ping decodes as what the SDK takes for a ping', () => {
  const [{ hex }] = runVectors('replies').filter((p) => p.case === 'ping');
  assert.equal(hex, '00');
  const [reply] = codec.decodeReplies(Buffer.from(hex, 'hex'));
  // The SDK's _dispatchReply: no id and no push is a server ping.
  assert.ok(!reply.id && !reply.push && !reply.error);
});
