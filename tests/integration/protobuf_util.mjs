// Clients of the `centrifuge-protobuf` wire for the integration tests, built
// on the npm `centrifuge` SDK's protobuf build and its own codec (so a field
// number of ours cannot pass by agreeing with our own decoder):
// - ProtobufSdkClient: the SDK's protobuf Centrifuge, recorded like
//   harness.mjs's SdkClient (same helpers), its frames decoded by the codec;
// - ProtobufRawClient: a raw `ws` WebSocket offering `centrifuge-protobuf`
//   that sends SDK-encoded commands (or any bytes) and decodes the replies;
// - publishBytes(): gRPC Publish of arbitrary bytes over node:http2
//   (wirehubctl takes data from its command line, so no NUL byte).
//
// Decoded Reply/Command objects use the proto field names (`was_recovering`,
// `presence_stats`); absent messages read as null, absent scalars as their
// default, 64-bit integers as long.js values (use Number()).

import http2 from 'node:http2';

import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';

import { SdkClient, WebSocket, waitFor, withTimeout } from './harness.mjs';

export { ProtobufCentrifuge };

export const SUBPROTOCOL = 'centrifuge-protobuf';

/**
 * The SDK's ProtobufCodec: internal (`_codec`), reached through a Centrifuge
 * that opens nothing; checked by name so an SDK upgrade renaming it fails here.
 */
export const codec = new ProtobufCentrifuge('ws://127.0.0.1:1/unused', { websocket: class {} })._codec;
if (codec?.name?.() !== 'protobuf') throw new Error('centrifuge/build/protobuf no longer has its ProtobufCodec at _codec');

/** A JSON value as the UTF-8 bytes a protobuf client publishes. */
export const jsonBytes = (value) => new TextEncoder().encode(JSON.stringify(value));

/** The JSON value in `bytes` (a Uint8Array from the protobuf SDK); throws on invalid UTF-8 or JSON. */
export const fromJsonBytes = (bytes) => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));

/** The JSON value in `bytes`, or undefined when they are not one (for predicates). */
export function tryJson(bytes) {
  try {
    return fromJsonBytes(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The centrifuge SDK's protobuf build with every event and WebSocket
 * recorded, with SdkClient's helpers (subscribeAndWait, waitPublication,
 * waitEvent, ...). Publication data, connInfo and chanInfo are Uint8Arrays.
 * Each WebSocket records `receivedFrames` and `sentFrames` as {binary, data
 * (a Buffer)}, the subprotocol it offered (`offered`) and `closeInfo`.
 * Register it with the Env's clients for cleanup (protobufSdk() does).
 */
export class ProtobufSdkClient extends SdkClient {
  constructor(url, { wsOptions, ...options } = {}) {
    // SdkClient makes a JSON Centrifuge, which opens nothing: it is replaced
    // below, with a WebSocket class that records binary frames as bytes.
    super(url);
    const sockets = this.sockets;
    class RecordingWebSocket extends WebSocket {
      constructor(address, protocols) {
        super(address, protocols, wsOptions);
        this.offered = protocols;
        this.receivedFrames = [];
        this.sentFrames = [];
        this.closeInfo = null;
        sockets.push(this);
        this.on('message', (data, isBinary) => {
          this.receivedFrames.push({ binary: isBinary, data: Buffer.from(new Uint8Array(data)) });
        });
        this.on('close', (code, reason) => {
          this.closeInfo = { code, reason: reason.toString('utf8') };
        });
        // Errors reach the SDK through onerror; this keeps an unhandled 'error' from throwing.
        this.on('error', () => {});
      }
      send(data, ...rest) {
        this.sentFrames.push(
          typeof data === 'string' ? { binary: false, data: Buffer.from(data) } : { binary: true, data: Buffer.from(data) },
        );
        return super.send(data, ...rest);
      }
    }
    this.client = new ProtobufCentrifuge(url, {
      websocket: RecordingWebSocket,
      minReconnectDelay: 100,
      maxReconnectDelay: 1000,
      timeout: 5000,
      ...options,
    });
    for (const name of ['state', 'connecting', 'connected', 'disconnected', 'error', 'publication',
      'subscribing', 'subscribed', 'unsubscribed', 'join', 'leave']) {
      this.client.on(name, (ctx) => this.events.push({ name, ctx, at: Date.now() }));
    }
  }

  /** Every Reply received over every socket, decoded by the SDK's codec (text frames throw). */
  receivedMessages() {
    const out = [];
    for (const ws of this.sockets) {
      for (const frame of ws.receivedFrames) {
        if (!frame.binary) throw new Error(`a text frame on a protobuf connection: ${frame.data.toString('utf8').slice(0, 200)}`);
        out.push(...codec.decodeReplies(frame.data));
      }
    }
    return out;
  }

  /** Every Command the SDK sent over every socket, decoded; `method` keeps those with that field set. */
  sentCommands(method = undefined) {
    const out = [];
    for (const ws of this.sockets) {
      for (const frame of ws.sentFrames) {
        if (!frame.binary) throw new Error(`the SDK sent a text frame on a protobuf connection: ${frame.data.toString('utf8')}`);
        out.push(...codec.decodeCommands(frame.data));
      }
    }
    return method === undefined ? out : out.filter((c) => c[method]);
  }
}

/** A ProtobufSdkClient registered with `env` for cleanup. */
export function protobufSdk(env, url, options = {}) {
  const c = new ProtobufSdkClient(url, options);
  env.clients.push(c);
  return c;
}

/**
 * A raw WebSocket offering `protocol` (default centrifuge-protobuf) that
 * sends commands encoded by the SDK's codec, or any bytes, and decodes every
 * binary message it receives into `replies`. An empty Reply (id 0, no push)
 * is a server ping, answered with an empty Command when autoPong is set.
 */
export class ProtobufRawClient {
  constructor(url, { protocol = SUBPROTOCOL, autoPong = false } = {}) {
    this.url = url;
    this.autoPong = autoPong;
    this.frames = []; // {binary, data (a Buffer)}
    this.replies = []; // decoded Reply objects, in arrival order
    this.undecodable = []; // binary messages the codec refused
    this.pings = [];
    this.closeInfo = null;
    this.ws = new WebSocket(url, protocol);
    this.ws.on('error', (err) => {
      this.lastError = err;
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('close', () => reject(new Error(`socket to ${url} closed before opening`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8'), at: Date.now() };
        resolve(this.closeInfo);
      });
    });
    this.ws.on('message', (data, isBinary) => {
      const bytes = Buffer.from(data);
      this.frames.push({ binary: isBinary, data: bytes });
      if (!isBinary) return;
      let replies;
      try {
        replies = codec.decodeReplies(bytes);
      } catch (err) {
        this.undecodable.push({ bytes, error: err.message });
        return;
      }
      for (const reply of replies) {
        this.replies.push(reply);
        if (reply.id === 0 && !reply.push && !reply.error) {
          this.pings.push(Date.now());
          if (this.autoPong && this.ws.readyState === WebSocket.OPEN) this.ws.send(codec.encodeCommands([{}]));
        }
      }
    });
  }

  /** Opens a client; resolves once the handshake is done. */
  static async open(url, options = {}, timeoutMs = 5000) {
    const c = new ProtobufRawClient(url, options);
    await withTimeout(c.opened, timeoutMs, `WebSocket (${options.protocol ?? SUBPROTOCOL}) to ${url} to open`);
    return c;
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The subprotocol the server chose (the 101's Sec-WebSocket-Protocol). */
  get protocol() {
    return this.ws.protocol;
  }

  /** Sends `commands` (SDK command objects) varint-delimited in one binary message. */
  send(...commands) {
    this.ws.send(codec.encodeCommands(commands), { binary: true });
  }

  /** Sends `bytes` as one binary message, as they are. */
  sendBytes(bytes) {
    this.ws.send(bytes, { binary: true });
  }

  /** Sends `text` as one text message. */
  sendText(text) {
    this.ws.send(text, { binary: false });
  }

  /** Waits for a decoded reply satisfying pred; fails early if the socket closes. */
  waitReply(pred, timeoutMs, what) {
    return waitFor(
      () => {
        const r = this.replies.find(pred);
        if (r) return r;
        if (this.closeInfo) {
          throw new Error(`socket closed (${this.closeInfo.code} ${JSON.stringify(this.closeInfo.reason)}) first`);
        }
        return undefined;
      },
      timeoutMs,
      `${what} on ${this.url}; ${this.replies.length} replies so far`,
      { intervalMs: 20 },
    );
  }

  /** Waits for the reply with `id`. */
  reply(id, timeoutMs = 5000) {
    return this.waitReply((r) => r.id === id, timeoutMs, `reply with id ${id}`);
  }

  /** Sends connect with `token` and waits for the result; returns the ConnectResult. */
  async connect(token, id = 1, timeoutMs = 5000) {
    this.send({ id, connect: { token, name: 'wirehub-test' } });
    const r = await this.reply(id, timeoutMs);
    if (r.error || !r.connect) throw new Error(`connect failed: ${JSON.stringify(r)}`);
    return r.connect;
  }

  /** Waits for the socket to close; resolves with {code, reason, at}. */
  waitClose(timeoutMs = 5000) {
    return withTimeout(this.closed, timeoutMs, `server to close ${this.url} (${this.replies.length} replies so far)`);
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      // ignore
    }
  }
}

/** A ProtobufRawClient registered with `env` for cleanup, open. */
export async function protobufRaw(env, url, options = {}) {
  const c = new ProtobufRawClient(url, options);
  env.clients.push(c);
  await withTimeout(c.opened, 5000, `WebSocket (${options.protocol ?? SUBPROTOCOL}) to ${url} to open`);
  return c;
}

// ---------------------------------------------------------------------------
// gRPC Publish of arbitrary bytes: PublishRequest {channel = 1, data = 2}.

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

function bytesField(number, value) {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value);
  return Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
}

/**
 * Publishes `data` (bytes, or a string taken as UTF-8) to `channel` through
 * control's gRPC API (ControlService.Publish); resolves with {offset} or
 * rejects with the gRPC status and message.
 */
export function publishBytes(control, channel, data, timeoutMs = 10_000) {
  const request = Buffer.concat([bytesField(1, Buffer.from(channel, 'utf8')), bytesField(2, Buffer.from(data))]);
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${control.address}`);
    const fail = (err) => {
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    const call = session.request({
      ':method': 'POST',
      ':path': '/wirehub.control.v1.ControlService/Publish',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let headers = {};
    let trailers = {};
    const chunks = [];
    call.on('response', (h) => (headers = h));
    call.on('trailers', (t) => (trailers = t));
    call.on('data', (chunk) => chunks.push(chunk));
    call.on('error', fail);
    call.setTimeout(timeoutMs, () => fail(new Error(`Publish to ${channel} timed out after ${timeoutMs} ms`)));
    call.on('end', () => {
      session.close();
      const status = Number(trailers['grpc-status'] ?? headers['grpc-status']);
      const message = decodeURIComponent(trailers['grpc-message'] ?? headers['grpc-message'] ?? '');
      if (status !== 0) {
        reject(new Error(`Publish to ${channel}: gRPC status ${status}: ${message}`));
        return;
      }
      // PublishResponse: offset = 1 (uint64); read the first varint field.
      const body = Buffer.concat(chunks).subarray(5);
      let offset = 0;
      if (body.length > 0 && body[0] === 0x08) {
        let shift = 0;
        for (let i = 1; i < body.length; i++) {
          offset += (body[i] & 0x7f) * 2 ** shift;
          shift += 7;
          if (body[i] < 0x80) break;
        }
      }
      resolve({ offset });
    });
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(request.length, 1);
    call.end(Buffer.concat([frame, request]));
  });
}
