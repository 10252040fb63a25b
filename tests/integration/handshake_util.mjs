// Raw WebSocket handshakes over plain TCP (node:net) or TLS, for tests that
// must see the edge's exact HTTP answer (status line, headers, body) or send
// what no WebSocket library sends (bad keys, unmasked frames, dripped
// headers). Every wait is bounded; every socket is destroyed by its owner.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/** A valid Sec-WebSocket-Key: base64 of 16 random bytes. */
export const newKey = () => randomBytes(16).toString('base64');

/**
 * The text of an upgrade request to 127.0.0.1:port. `headers` override or add
 * header fields; a null value leaves the field out. Header order: Host,
 * Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version, then extras.
 */
export function upgradeRequest(port, { path = '/connection/websocket', headers = {}, method = 'GET' } = {}) {
  const fields = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': newKey(),
    'Sec-WebSocket-Version': '13',
  };
  for (const [k, v] of Object.entries(headers)) {
    const existing = Object.keys(fields).find((f) => f.toLowerCase() === k.toLowerCase());
    if (existing) delete fields[existing];
    if (v !== null) fields[k] = v;
  }
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(fields).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A plain GET without upgrade. */
export function plainGet(port, path = '/') {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
}

/** Opens a TCP (or, with `tlsOptions`, TLS) connection to 127.0.0.1:port. */
export function openSocket(port, { localAddress, tlsOptions, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = tlsOptions
      ? tls.connect({ host: '127.0.0.1', port, servername: 'localhost', localAddress, ...tlsOptions })
      : net.connect({ host: '127.0.0.1', port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection to 127.0.0.1:${port} not established within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Sends `request` on a new connection and reads the HTTP answer. Resolves
 * {status, statusLine, headers (lower-case names), body, serverClosed, conn}:
 * `conn` (a WireConn) only for 101, left open for frames; otherwise the socket
 * is destroyed once the body is read (Content-Length, or up to the server's
 * close). A connection closed or silent before a complete header resolves
 * with status null and `raw`, the bytes received.
 */
export async function exchange(port, request, { timeoutMs = 5000, localAddress, tlsOptions } = {}) {
  const socket = await openSocket(port, { localAddress, tlsOptions, timeoutMs });
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let head = null; // {status, statusLine, headers, bodyStart}
    let done = false;
    let serverClosed = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (!result.conn) socket.destroy();
      resolve({ serverClosed, raw: buf.toString('latin1'), ...result });
    };
    const timer = setTimeout(() => {
      if (head) finish({ ...head, body: buf.subarray(head.bodyStart).toString('utf8'), timedOut: true });
      else finish({ status: null, timedOut: true });
    }, timeoutMs);
    const tryComplete = () => {
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines[0];
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
        const headers = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        head = { status: m ? Number(m[1]) : NaN, statusLine, headers, bodyStart: end + 4 };
        if (head.status === 101) {
          const conn = new WireConn(socket, buf.subarray(head.bodyStart));
          finish({ status: 101, statusLine, headers, body: '', conn });
          return;
        }
      }
      const length = head.headers['content-length'];
      const body = buf.subarray(head.bodyStart);
      if (length !== undefined && body.length >= Number(length)) {
        finish({ status: head.status, statusLine: head.statusLine, headers: head.headers, body: body.subarray(0, Number(length)).toString('utf8') });
      } else if (serverClosed) {
        finish({ status: head.status, statusLine: head.statusLine, headers: head.headers, body: body.toString('utf8') });
      }
    };
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      tryComplete();
    };
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.once('close', () => {
      serverClosed = true;
      if (head) tryComplete();
      else finish({ status: null });
    });
    socket.write(request);
  });
}

/** Encodes one client frame (masked unless `mask` is false). */
export function encodeFrame(opcode, payload, { mask = true, fin = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  let header;
  if (data.length < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | opcode, (mask ? 0x80 : 0) | data.length]);
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = (mask ? 0x80 : 0) | 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = (mask ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  if (!mask) return Buffer.concat([header, data]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ key[i % 4];
  return Buffer.concat([header, key, masked]);
}

/**
 * The client side of a WebSocket after a raw 101: sends frames (masked or
 * not) and decodes the server's frames. `frames` are {opcode, payload}; a
 * close frame also has {code, reason}.
 */
export class WireConn {
  constructor(socket, initial = Buffer.alloc(0)) {
    this.socket = socket;
    this.buf = Buffer.from(initial);
    this.frames = [];
    this.closedAt = null;
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this._parse();
    });
    this._parse();
  }

  _parse() {
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = this.buf[0] & 0x0f;
      const masked = (this.buf[1] & 0x80) !== 0;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const keyOff = off;
      if (masked) off += 4;
      if (this.buf.length < off + len) return;
      let payload = Buffer.from(this.buf.subarray(off, off + len));
      if (masked) {
        const key = this.buf.subarray(keyOff, keyOff + 4);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i % 4];
      }
      this.buf = this.buf.subarray(off + len);
      const frame = { opcode, payload, masked };
      if (opcode === 8) {
        frame.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        frame.reason = payload.subarray(2).toString('utf8');
      }
      this.frames.push(frame);
    }
  }

  /** Sends a text frame; `mask: false` breaks RFC 6455 on purpose. */
  sendText(text, { mask = true } = {}) {
    this.socket.write(encodeFrame(0x1, text, { mask }));
  }

  /** Text payloads received so far, split into JSON lines and parsed. */
  messages() {
    const out = [];
    for (const f of this.frames) {
      if (f.opcode !== 1) continue;
      for (const line of f.payload.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          out.push(JSON.parse(line));
        } catch {
          out.push({ unparsable: line });
        }
      }
    }
    return out;
  }

  closeFrame() {
    return this.frames.find((f) => f.opcode === 8) ?? null;
  }

  /** Resolves true once the server closed the TCP connection, false after timeoutMs. */
  async waitClosed(timeoutMs) {
    let timer;
    const r = await Promise.race([
      this.closed.then(() => true),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return r;
  }

  destroy() {
    this.socket.destroy();
  }
}
