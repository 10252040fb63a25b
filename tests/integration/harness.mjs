// Test harness for the wirehub integration tests.
//
// Starts wirehub-control and wirehub-edge processes on ephemeral ports, runs
// wirehubctl, and builds SDK (centrifuge) and raw WebSocket clients. Every
// process, client and temp dir an Env creates is released by env.cleanup(),
// which each test file registers with after(); processes still alive when the
// test process exits are killed by an exit hook as a last resort.
//
// env.cleanup() also fails the test file when a server exited other than as
// expected (status 0 after SIGTERM unless the test declared otherwise with
// proc.expectExit()) or when any process printed a sanitizer report (an
// ASan/UBSan build: see tools/dev/test-all).
//
// Binaries come from $WIREHUB_BIN_DIR (default: ../../build/bin relative to
// this file). The npm dependencies (centrifuge, ws) must be installed with
// `npm ci` in this directory: a missing node_modules fails the tests.

import { spawn, execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

let WebSocket;
let Centrifuge;
try {
  ({ default: WebSocket } = await import('ws'));
  ({ Centrifuge } = await import('centrifuge'));
} catch (err) {
  throw new Error(
    `integration test dependencies are missing (${err.message}); ` +
      `run \`npm ci\` in ${here} first`,
  );
}
export { WebSocket, Centrifuge };

export const BIN_DIR = path.resolve(process.env.WIREHUB_BIN_DIR ?? path.join(here, '../../build/bin'));

/** Default bound for waiting on a process's ready line. */
export const READY_TIMEOUT_MS = 10_000;
/** Bound for one wirehubctl run. */
export const CTL_TIMEOUT_MS = 10_000;
/** Edges report stats to control this often in tests (default is 5s). */
export const TEST_STATS_INTERVAL = '200ms';

const STDERR_KEEP_BYTES = 64 * 1024;
/** How long cleanup() lets a server exit after SIGTERM before it is killed (and fails). */
const CLEANUP_GRACE_MS = 10_000;

// The first line of a report from ASan, LSan, UBSan, TSan or MSan. A build
// with -fno-sanitize-recover=all stops at the first one, but a test must
// fail even when the process's exit status would not tell.
const SANITIZER_REPORT =
  /(?:ERROR|WARNING): (?:AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer|UndefinedBehaviorSanitizer)|runtime error: |SUMMARY: UndefinedBehaviorSanitizer/;
/** Most bytes of one sanitizer report kept for the failure message. */
const SANITIZER_REPORT_KEEP_BYTES = 16 * 1024;

/** The sanitizer report in `text` (from its first line on, bounded), or null. */
export function findSanitizerReport(text) {
  const m = SANITIZER_REPORT.exec(text);
  if (!m) return null;
  const start = text.lastIndexOf('\n', m.index) + 1;
  return text.slice(start, start + SANITIZER_REPORT_KEEP_BYTES);
}

export function binPath(name) {
  const p = path.join(BIN_DIR, name);
  if (!fs.existsSync(p)) {
    throw new Error(`binary not found: ${p} (build it, or point WIREHUB_BIN_DIR at the directory holding it)`);
  }
  return p;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port that was free on 127.0.0.1 a moment ago (for a process that takes a fixed port). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Polls predicate (sync or async) until it returns a truthy value, which is
 * returned. Throws after timeoutMs naming `what`, with the last error the
 * predicate threw, if any.
 */
export async function waitFor(predicate, timeoutMs, what, { intervalMs = 50 } = {}) {
  const start = Date.now();
  let lastError;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - start >= timeoutMs) {
      const suffix = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await sleep(intervalMs);
  }
}

/** Rejects with a message naming `what` if promise does not settle within timeoutMs. */
export function withTimeout(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resident set size of process `pid` in bytes (VmRSS of /proc/PID/status),
 * or null when the process is gone or has no VmRSS line (a zombie).
 */
export function rssBytes(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** Number of a proto3-JSON uint64/int64 field: a string, a number, or absent (0). */
export function u64(value) {
  if (value === undefined || value === null) return 0;
  return Number(value);
}

// ---------------------------------------------------------------------------
// Processes

// Logs and secrets. Every server's stderr (and wirehubctl's) is written whole
// to a file under LOG_DIR, and every secret and token the tests make or use
// is recorded there too: log_secrets.test.mjs, run after the whole suite,
// fails if any log holds one of them.

/** $WIREHUB_TEST_LOG_DIR (ctest sets it), else test-logs beside BIN_DIR. */
export const LOG_DIR = path.resolve(process.env.WIREHUB_TEST_LOG_DIR ?? path.join(BIN_DIR, '..', 'test-logs'));
/** Shorter values are not recorded: they cannot be told from ordinary text. */
export const MIN_SECRET_CHARS = 16;
/** Most bytes of one log file; the rest is dropped with a note. */
const LOG_FILE_MAX_BYTES = 256 * 1024 * 1024;

// This test file's files in LOG_DIR start with its name and this process's pid.
const RUN_PREFIX = `${path.basename(process.argv[1] ?? 'node').replace(/(\.test)?\.m?js$/, '')}.${process.pid}`;
let logFiles = 0;
const recordedSecrets = new Set();

/**
 * Records `value`, a secret, key or token a test made or used, for
 * log_secrets.test.mjs, which fails naming `what` if any log holds it (or 16
 * characters of it in a row). Values shorter than MIN_SECRET_CHARS are not
 * recorded. Returns `value`.
 */
export function recordSecret(value, what = 'a secret') {
  if (typeof value !== 'string' || value.length < MIN_SECRET_CHARS || recordedSecrets.has(value)) return value;
  recordedSecrets.add(value);
  appendToLogDir(`${RUN_PREFIX}.secrets`, `${JSON.stringify({ what, value })}\n`);
  return value;
}

// A ctest run empties LOG_DIR first (integration.logs_reset): a run beside
// this one may remove it at any time, so each write makes it again.
function inLogDir(name, write) {
  const file = path.join(LOG_DIR, name);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.mkdirSync(LOG_DIR, { recursive: true });
      return write(file);
    } catch (err) {
      if (err.code !== 'ENOENT' || attempt > 0) throw err;
    }
  }
}

function appendToLogDir(name, text) {
  inLogDir(name, (file) => fs.appendFileSync(file, text));
}

/**
 * Writes everything `child` prints on stderr to a new file under LOG_DIR
 * named after `label`; returns its path. For a process a test spawns itself
 * (the harness does this for every process it starts).
 */
export function captureStderr(label, child) {
  logFiles += 1;
  const name = `${RUN_PREFIX}.${logFiles}.${label.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`;
  const file = path.join(LOG_DIR, name);
  let fd = inLogDir(name, (f) => fs.openSync(f, 'a'));
  let bytes = 0;
  const close = () => {
    if (fd === null) return;
    fs.closeSync(fd);
    fd = null;
  };
  child.stderr.on('data', (chunk) => {
    if (fd === null) return;
    bytes += Buffer.byteLength(chunk);
    if (bytes > LOG_FILE_MAX_BYTES) {
      fs.writeSync(fd, `\n[harness: log cut at ${LOG_FILE_MAX_BYTES} bytes]\n`);
      close();
      return;
    }
    fs.writeSync(fd, chunk);
  });
  child.once('close', close);
  return file;
}

/** Appends the stderr of one wirehubctl run to this test file's wirehubctl log (its arguments stay out: they may hold keys). */
function logCtlStderr(args, exit, stderr) {
  if (!stderr) return;
  const subcommand = args.find((a) => !a.startsWith('-')) ?? '';
  appendToLogDir(`${RUN_PREFIX}.wirehubctl.log`, `--- wirehubctl ${subcommand} (${exit})\n${stderr}`);
}

const liveProcesses = new Set();

function killAllNow() {
  for (const proc of liveProcesses) {
    try {
      proc.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveProcesses.clear();
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAllNow();
    process.exit(128 + os.constants.signals[signal]);
  });
}

/** One spawned server process. */
export class ServerProcess {
  constructor(name, child) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.stdoutLines = [];
    this.stderrText = '';
    this.exitInfo = null; // {code, signal} once exited
    this.expectedExit = null; // set by expectExit(); null: status 0
    this.sanitizerReport = null; // the first sanitizer report on stderr
    this.stopTimedOut = false; // SIGKILLed by stop() after its grace period
    this._scanCarry = ''; // the end of the previous stderr chunk, for a report split across chunks
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        liveProcesses.delete(this);
        resolve(this.exitInfo);
      });
    });
    child.stderr.setEncoding('utf8');
    this.logFile = captureStderr(`${name}.${child.pid}`, child);
    child.stderr.on('data', (chunk) => {
      if (process.env.WIREHUB_TEST_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
      this.stderrText += chunk;
      this._scanForSanitizerReport(chunk);
      if (this.stderrText.length > STDERR_KEEP_BYTES) {
        this.stderrText = this.stderrText.slice(-STDERR_KEEP_BYTES);
      }
    });
    liveProcesses.add(this);
  }

  get running() {
    return this.exitInfo === null;
  }

  _scanForSanitizerReport(chunk) {
    if (this.sanitizerReport !== null) {
      if (this.sanitizerReport.length < SANITIZER_REPORT_KEEP_BYTES) {
        this.sanitizerReport = (this.sanitizerReport + chunk).slice(0, SANITIZER_REPORT_KEEP_BYTES);
      }
      return;
    }
    const text = this._scanCarry + chunk;
    this.sanitizerReport = findSanitizerReport(text);
    this._scanCarry = text.slice(-256);
  }

  /**
   * Declares how this process is meant to end, when not with status 0 after
   * SIGTERM: `{code: 1}` for a deliberate failure to start, `{signal:
   * 'SIGKILL'}` before the test kills it. cleanup() fails the test file on
   * any other ending.
   */
  expectExit({ code = null, signal = null }) {
    this.expectedExit = { code, signal };
    return this;
  }

  /**
   * What went wrong with this process, for cleanup(): an unexpected exit, a
   * sanitizer report. Empty when it ended as expected (or still runs).
   */
  problems() {
    const problems = [];
    const who = `${this.name} (pid ${this.pid}${this.args ? ` ${this.args.join(' ')}` : ''})`;
    if (this.sanitizerReport !== null) {
      problems.push(`${who} printed a sanitizer report:\n${this.sanitizerReport}`);
    }
    if (this.exitInfo !== null) {
      const expected = this.expectedExit ?? { code: 0, signal: null };
      const { code, signal } = this.exitInfo;
      if (code !== expected.code || signal !== expected.signal) {
        const why = this.stopTimedOut ? ' (still running after SIGTERM, killed)' : '';
        problems.push(
          `${who} exited with code ${code}, signal ${signal}${why}; expected code ${expected.code}, ` +
            `signal ${expected.signal}; stderr:\n${this.stderrText.slice(-4096) || '(empty)'}`,
        );
      }
    }
    return problems;
  }

  /** Resolves with the regex match of the first stdout line matching `pattern`. */
  waitForLine(pattern, timeoutMs) {
    return new Promise((resolve, reject) => {
      let buffered = '';
      let done = false;
      const finish = (err, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };
      const describe = (why) =>
        new Error(
          `${this.name} (pid ${this.pid}) ${why}; stdout so far: ${JSON.stringify(this.stdoutLines)}; ` +
            `stderr:\n${this.stderrText || '(empty)'}`,
        );
      const timer = setTimeout(() => finish(describe(`printed no ready line within ${timeoutMs} ms`)), timeoutMs);
      this.child.stdout.setEncoding('utf8');
      this.child.stdout.on('data', (chunk) => {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).replace(/\r$/, '');
          buffered = buffered.slice(nl + 1);
          this.stdoutLines.push(line);
          if (this.stdoutLines.length > 200) this.stdoutLines.shift();
          const m = pattern.exec(line);
          if (m) finish(null, m);
        }
      });
      this.child.once('error', (err) => finish(describe(`failed to start: ${err.message}`)));
      this.exited.then(({ code, signal }) => {
        // Give stderr a moment to drain so the error message includes it.
        setTimeout(() => finish(describe(`exited (code ${code}, signal ${signal}) before its ready line`)), 50);
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. Resolves with exit info. */
  async stop({ graceMs = 5000 } = {}) {
    if (!this.running) return this.exitInfo;
    this.child.kill('SIGTERM');
    const exited = await Promise.race([this.exited, sleep(graceMs).then(() => null)]);
    if (exited) return { ...exited, forced: false };
    this.stopTimedOut = true;
    this.child.kill('SIGKILL');
    const info = await this.exited;
    return { ...info, forced: true };
  }
}

// ---------------------------------------------------------------------------
// Tokens

function b64url(input) {
  return Buffer.from(input).toString('base64url');
}

/** Signs a compact HS256 JWS over arbitrary payload (and header) objects. */
export function signHs256(secret, payload, header = { alg: 'HS256', typ: 'JWT' }) {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  recordSecret(secret, 'an HMAC secret a token was signed with');
  return recordSecret(`${signingInput}.${signature}`, 'a token signed by signHs256');
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------
// Clients

// Client-level 'subscribing' / 'subscribed' / 'unsubscribed' / 'join' / 'leave'
// belong to server-side subscriptions (token `channels`, Subscribe RPC).
const SDK_CLIENT_EVENTS = [
  'state', 'connecting', 'connected', 'disconnected', 'error', 'publication',
  'subscribing', 'subscribed', 'unsubscribed', 'join', 'leave',
];
const SDK_SUB_EVENTS = ['state', 'subscribing', 'subscribed', 'unsubscribed', 'error', 'publication', 'join', 'leave'];

/**
 * A centrifuge SDK client with every event and WebSocket it creates recorded.
 * `options` go to Centrifuge, except `wsOptions`, which go to each `ws`
 * WebSocket it opens (e.g. `{ca}` for wss with a test CA).
 */
export class SdkClient {
  constructor(url, { wsOptions, ...options } = {}) {
    this.url = url;
    this.events = []; // {name, ctx, at}
    this.sockets = []; // every WebSocket the SDK constructed (one per connection attempt)
    this.subs = new Map();
    const sockets = this.sockets;
    class RecordingWebSocket extends WebSocket {
      constructor(address, protocols) {
        super(address, protocols, wsOptions);
        this.receivedFrames = [];
        this.sentFrames = [];
        this.closeInfo = null;
        sockets.push(this);
        this.on('message', (data, isBinary) => this.receivedFrames.push(isBinary ? data : data.toString('utf8')));
        this.on('close', (code, reason) => {
          this.closeInfo = { code, reason: reason.toString('utf8') };
        });
        // Errors reach the SDK through onerror; this keeps an unhandled 'error' from throwing.
        this.on('error', () => {});
      }
      send(data, ...rest) {
        this.sentFrames.push(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
        return super.send(data, ...rest);
      }
    }
    this.client = new Centrifuge(url, {
      websocket: RecordingWebSocket,
      // Short delays so a reconnect loop, if any, shows quickly.
      minReconnectDelay: 100,
      maxReconnectDelay: 1000,
      timeout: 5000,
      ...options,
    });
    for (const name of SDK_CLIENT_EVENTS) {
      this.client.on(name, (ctx) => this.events.push({ name, ctx, at: Date.now() }));
    }
  }

  get state() {
    return this.client.state;
  }

  eventsNamed(name) {
    return this.events.filter((e) => e.name === name);
  }

  connect() {
    this.client.connect();
    return this;
  }

  /** Connects and waits for the `connected` event; returns its context. */
  async connectAndWait(timeoutMs = 5000) {
    this.connect();
    const ev = await waitFor(
      () => {
        const bad = this.events.find((e) => e.name === 'disconnected');
        if (bad) throw new Error(`client disconnected instead: ${JSON.stringify(bad.ctx)}`);
        return this.events.find((e) => e.name === 'connected');
      },
      timeoutMs,
      `SDK client to connect to ${this.url}`,
    );
    return ev.ctx;
  }

  /** Creates a recorded subscription (not yet subscribed). */
  newSubscription(channel, options = {}) {
    const sub = this.client.newSubscription(channel, options);
    const rec = { channel, sub, events: [], publications: [] };
    for (const name of SDK_SUB_EVENTS) {
      sub.on(name, (ctx) => {
        rec.events.push({ name, ctx, at: Date.now() });
        if (name === 'publication') rec.publications.push(ctx);
      });
    }
    this.subs.set(channel, rec);
    return rec;
  }

  /** Subscribes and waits for `subscribed`; returns the recorded subscription. */
  async subscribeAndWait(channel, timeoutMs = 5000, options = {}) {
    const rec = this.newSubscription(channel, options);
    rec.sub.subscribe();
    await waitFor(
      () => {
        const bad = rec.events.find((e) => e.name === 'unsubscribed');
        if (bad) throw new Error(`subscription to ${channel} ended: ${JSON.stringify(bad.ctx)}`);
        return rec.events.find((e) => e.name === 'subscribed');
      },
      timeoutMs,
      `subscription to ${channel}`,
    );
    return rec;
  }

  /**
   * Subscribes expecting a refusal: waits for `unsubscribed` and returns its
   * context ({code, reason}); throws if the subscription succeeds instead.
   */
  async subscribeRefused(channel, options = {}, timeoutMs = 5000) {
    const rec = this.newSubscription(channel, options);
    rec.sub.subscribe();
    const ev = await waitFor(
      () => {
        if (rec.events.find((e) => e.name === 'subscribed')) {
          throw new Error(`subscription to ${channel} succeeded but a refusal was expected`);
        }
        return rec.events.find((e) => e.name === 'unsubscribed');
      },
      timeoutMs,
      `subscription to ${channel} to be refused`,
    );
    // A refused subscription is removed so the channel may be tried again.
    this.client.removeSubscription(rec.sub);
    this.subs.delete(channel);
    return ev.ctx;
  }

  /** Waits for a client-level event `name` whose context satisfies pred; returns the context. */
  async waitEvent(name, pred = () => true, timeoutMs = 5000, what = undefined) {
    const ev = await waitFor(
      () => this.events.find((e) => e.name === name && pred(e.ctx)),
      timeoutMs,
      what ?? `client event ${name}`,
    );
    return ev.ctx;
  }

  /** Waits for a subscription event `name` on `channel` satisfying pred; returns the context. */
  async waitSubEvent(channel, name, pred = () => true, timeoutMs = 5000, what = undefined) {
    const rec = this.subs.get(channel);
    if (!rec) throw new Error(`no subscription to ${channel}`);
    const ev = await waitFor(
      () => rec.events.find((e) => e.name === name && pred(e.ctx)),
      timeoutMs,
      what ?? `${name} event on subscription ${channel}`,
    );
    return ev.ctx;
  }

  /** Waits for a publication on `channel` whose data satisfies `match`; returns its context. */
  async waitPublication(channel, match, timeoutMs, what) {
    const rec = this.subs.get(channel);
    if (!rec) throw new Error(`no subscription to ${channel}`);
    return waitFor(() => rec.publications.find((p) => match(p.data)), timeoutMs, what ?? `publication on ${channel}`);
  }

  /** All text frames received over every socket, split into JSON lines. */
  receivedMessages() {
    const out = [];
    for (const ws of this.sockets) {
      for (const frame of ws.receivedFrames) {
        if (typeof frame !== 'string') continue;
        for (const line of frame.split('\n')) {
          if (line.trim() === '') continue;
          try {
            out.push(JSON.parse(line));
          } catch {
            out.push({ unparsable: line });
          }
        }
      }
    }
    return out;
  }

  close() {
    try {
      this.client.disconnect();
    } catch {
      // ignore
    }
    for (const ws of this.sockets) {
      try {
        ws.terminate();
      } catch {
        // ignore
      }
    }
  }
}

/**
 * A raw WebSocket client speaking the JSON protocol by hand. Received text
 * frames are split on newlines and parsed; an empty object `{}` is a server
 * ping, answered with `{}` when autoPong is set.
 */
export class RawClient {
  constructor(url, { autoPong = false } = {}) {
    this.url = url;
    this.autoPong = autoPong;
    this.frames = []; // raw received frames (strings, or Buffers for binary)
    this.messages = []; // parsed JSON values, one per line
    this.unparsable = [];
    this.pings = []; // arrival times of server pings
    this.closeInfo = null;
    this.ws = new WebSocket(url);
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
      if (isBinary) {
        this.frames.push(data);
        return;
      }
      const text = data.toString('utf8');
      this.frames.push(text);
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          this.unparsable.push(line);
          continue;
        }
        this.messages.push(msg);
        if (msg && typeof msg === 'object' && !Array.isArray(msg) && Object.keys(msg).length === 0) {
          this.pings.push(Date.now());
          if (this.autoPong && this.ws.readyState === WebSocket.OPEN) this.ws.send('{}');
        }
      }
    });
  }

  static async open(url, options = {}, timeoutMs = 5000) {
    const c = new RawClient(url, options);
    await withTimeout(c.opened, timeoutMs, `WebSocket to ${url} to open`);
    return c;
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends text as one text frame (a string or a Buffer of possibly invalid UTF-8). */
  sendText(data) {
    this.ws.send(data, { binary: false });
  }

  /** Sends commands as one newline-joined text frame. */
  sendCommands(...commands) {
    this.sendText(commands.map((c) => JSON.stringify(c)).join('\n'));
  }

  /** Waits for the reply with `id`. */
  reply(id, timeoutMs = 5000) {
    return this.waitMessage((m) => m && m.id === id, timeoutMs, `reply with id ${id}`);
  }

  /** Waits for a received message satisfying pred; fails early if the socket closes. */
  waitMessage(pred, timeoutMs, what) {
    return waitFor(
      () => {
        const m = this.messages.find(pred);
        if (m) return m;
        if (this.closeInfo) {
          throw new Error(`socket closed (${this.closeInfo.code} ${JSON.stringify(this.closeInfo.reason)}) first`);
        }
        return undefined;
      },
      timeoutMs,
      `${what} on ${this.url}; received so far: ${JSON.stringify(this.messages).slice(0, 2000)}`,
      { intervalMs: 20 },
    );
  }

  /** Waits for the socket to close; resolves with {code, reason, at}. */
  waitClose(timeoutMs = 5000) {
    return withTimeout(
      this.closed,
      timeoutMs,
      `server to close ${this.url}; received so far: ${JSON.stringify(this.messages).slice(0, 2000)}`,
    );
  }

  /** Sends connect with token and waits for the successful reply; returns the connect result. */
  async connect(token, id = 1, timeoutMs = 5000) {
    const connect = token === undefined ? {} : { token };
    this.sendCommands({ id, connect });
    const r = await this.reply(id, timeoutMs);
    if (r.error || !r.connect) throw new Error(`connect failed: ${JSON.stringify(r)}`);
    return r.connect;
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      // ignore
    }
  }
}

// ---------------------------------------------------------------------------
// Env: everything one test file starts

export class Env {
  constructor(label = 'wirehub-it') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`));
    this.secret = randomBytes(32).toString('hex');
    this.secretFile = path.join(this.dir, 'token_secret');
    fs.writeFileSync(this.secretFile, this.secret, { mode: 0o600 });
    this.otherSecret = randomBytes(32).toString('hex');
    recordSecret(this.secret, 'env.secret (the HMAC secret of the env\'s edges)');
    recordSecret(this.otherSecret, 'env.otherSecret');
    this.otherSecretFile = path.join(this.dir, 'other_secret');
    fs.writeFileSync(this.otherSecretFile, this.otherSecret, { mode: 0o600 });
    this.processes = [];
    this.clients = [];
    this.proxies = [];
    this.control = null;
    this.clientReports = []; // sanitizer reports of wirehubctl runs
  }

  _checkClientStderr(what, stderr) {
    const report = findSanitizerReport(stderr);
    if (report !== null) this.clientReports.push(`${what} printed a sanitizer report:\n${report}`);
  }

  /**
   * A TCP proxy on 127.0.0.1 to `targetPort` that can cut every connection
   * (cut()) and refuse new ones until restore(); closed by cleanup().
   */
  async tcpProxy(targetPort) {
    const sockets = new Set();
    let down = false;
    const server = net.createServer((inbound) => {
      if (down) {
        inbound.destroy();
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [inbound, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      inbound.pipe(upstream);
      upstream.pipe(inbound);
      inbound.on('close', () => upstream.destroy());
      upstream.on('close', () => inbound.destroy());
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = {
      address: `127.0.0.1:${server.address().port}`,
      cut() {
        down = true;
        for (const s of sockets) s.destroy();
      },
      restore() {
        down = false;
      },
      close() {
        down = true;
        for (const s of sockets) s.destroy();
        server.close();
      },
    };
    this.proxies.push(proxy);
    return proxy;
  }

  _spawn(name, binary, args, { wrapper, env = {} } = {}) {
    const [command, ...commandArgs] = wrapper ? [...wrapper, binPath(binary), ...args] : [binPath(binary), ...args];
    const child = spawn(command, commandArgs, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: this.dir,
      // A variable set to undefined in `env` is left out.
      env: { ...process.env, ...env },
    });
    const proc = new ServerProcess(name, child);
    proc.args = args;
    this.processes.push(proc);
    return proc;
  }

  /**
   * Starts wirehub-control with its API and its edge link on ephemeral ports;
   * resolves when both listen. The process gets `address`/`port` (the API,
   * for wirehubctl and backends) and `edgeAddress`/`edgePort` (the edge link,
   * for startEdge). A control started with `--grpc_listen=127.0.0.1:P` where
   * P is the API port of an earlier control of this env (a restart on the
   * same address) also takes that control's edge link port, unless
   * `extraArgs` give `--edge_listen`. Its admin listener (/metrics, /healthz,
   * /readyz) is on an ephemeral port too: `adminAddress`/`adminPort`; it
   * drains without delay unless `extraArgs` say otherwise (absl takes a
   * flag's last occurrence).
   */
  async startControl(extraArgs = []) {
    const args = ['--admin_listen=127.0.0.1:0', '--drain_delay=0s', '--grpc_listen=127.0.0.1:0'];
    if (!extraArgs.some((a) => a.startsWith('--edge_listen='))) {
      const api = extraArgs.find((a) => a.startsWith('--grpc_listen='));
      const earlier = api && this.processes.find((p) => p.edgePort && `--grpc_listen=${p.address}` === api);
      args.push(`--edge_listen=127.0.0.1:${earlier ? earlier.edgePort : 0}`);
    }
    const proc = this._spawn('wirehub-control', 'wirehub-control', [...args, ...extraArgs]);
    // Both lines are printed together; the edge link's comes second.
    const m = await proc.waitForLine(/^wirehub-control: edge link listening on (127\.0\.0\.1:(\d+))$/, READY_TIMEOUT_MS);
    proc.edgeAddress = m[1];
    proc.edgePort = Number(m[2]);
    const api = proc.stdoutLines.map((l) => /^wirehub-control: grpc listening on (127\.0\.0\.1:(\d+))$/.exec(l)).find(Boolean);
    if (!api) throw new Error(`wirehub-control printed no grpc line before its edge link line: ${JSON.stringify(proc.stdoutLines)}`);
    proc.address = api[1];
    proc.port = Number(api[2]);
    const admin = proc.stdoutLines.map((l) => /^wirehub-control: admin listening on (127\.0\.0\.1:(\d+))$/.exec(l)).find(Boolean);
    if (!admin) throw new Error(`wirehub-control printed no admin line before its edge link line: ${JSON.stringify(proc.stdoutLines)}`);
    proc.adminAddress = admin[1];
    proc.adminPort = Number(admin[2]);
    if (!this.control) this.control = proc;
    return proc;
  }

  /**
   * Starts wirehub-edge attached to `control`; resolves when it is listening.
   * `flags` are extra `--name=value` flags (e.g. {ping_interval: '1s'}; with
   * {tls_cert_file, tls_key_file} it listens on wss://). `wrapper` is a
   * command that execs the edge (e.g. ['prlimit', '--nofile=200:200', '--']).
   * Its admin listener is on an ephemeral port (`adminAddress`/`adminPort`)
   * and it drains at once (no delay, every client closed together) unless
   * `flags` say otherwise: they come after these defaults, and absl takes a
   * flag's last occurrence.
   */
  async startEdge(control = this.control, flags = {}, { wrapper } = {}) {
    const args = [
      '--admin_listen=127.0.0.1:0',
      '--drain_delay=0s',
      '--drain_duration=0s',
      '--listen=127.0.0.1:0',
      // The edge link; a stand-in such as a proxy has only `address`.
      `--control=${control.edgeAddress ?? control.address}`,
      `--token_hmac_secret_file=${this.secretFile}`,
      `--stats_interval=${TEST_STATS_INTERVAL}`,
    ];
    if (!('config' in flags)) {
      // Namespaces deny everything unless configured: tests that bring no
      // configuration get public channels without a namespace.
      const open = path.join(this.dir, 'open-config.json');
      if (!fs.existsSync(open)) {
        fs.writeFileSync(open, JSON.stringify({ defaults: { allow_subscribe_for_client: true } }));
      }
      args.push(`--config=${open}`);
    }
    for (const [k, v] of Object.entries(flags)) args.push(`--${k}=${v}`);
    const name = `wirehub-edge${flags.edge_id ? `[${flags.edge_id}]` : ''}`;
    const proc = this._spawn(name, 'wirehub-edge', args, { wrapper });
    const m = await proc.waitForLine(
      /^wirehub-edge: websocket listening on (wss?:\/\/127\.0\.0\.1:(\d+)\/connection\/websocket)$/,
      READY_TIMEOUT_MS,
    );
    proc.url = m[1];
    proc.port = Number(m[2]);
    // Printed just before the websocket line.
    const admin = proc.stdoutLines.map((l) => /^wirehub-edge: admin listening on (127\.0\.0\.1:(\d+))$/.exec(l)).find(Boolean);
    if (!admin) throw new Error(`wirehub-edge printed no admin line before its websocket line: ${JSON.stringify(proc.stdoutLines)}`);
    proc.adminAddress = admin[1];
    proc.adminPort = Number(admin[2]);
    return proc;
  }

  /** Runs wirehubctl; resolves with {stdout, stderr}; rejects on non-zero exit or timeout. */
  ctl(args, { timeoutMs = CTL_TIMEOUT_MS } = {}) {
    const bin = binPath('wirehubctl');
    return new Promise((resolve, reject) => {
      execFile(bin, args, { timeout: timeoutMs, killSignal: 'SIGKILL', cwd: this.dir }, (err, stdout, stderr) => {
        logCtlStderr(args, err ? `exit ${err.code}, signal ${err.signal}` : 'exit 0', stderr);
        this._checkClientStderr(`wirehubctl ${args.join(' ')}`, stderr);
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `failed (exit code ${err.code}, signal ${err.signal})`;
          const e = new Error(`wirehubctl ${args.join(' ')} ${why}; stdout: ${stdout}; stderr: ${stderr}`);
          e.exitCode = err.code;
          e.stdout = stdout;
          e.stderr = stderr;
          reject(e);
          return;
        }
        resolve({ stdout, stderr });
      });
    });
  }

  /** Mints a connection token with wirehubctl (signed with this env's secret unless told). */
  async token(user, { ttl = 3600, secretFile = this.secretFile } = {}) {
    const { stdout } = await this.ctl(['token', `--user=${user}`, `--ttl=${ttl}`, `--token_hmac_secret_file=${secretFile}`]);
    const token = recordSecret(stdout.trim(), `a token minted by wirehubctl token for ${user}`);
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
      throw new Error(`wirehubctl token printed no JWT: ${JSON.stringify(stdout)}`);
    }
    return token;
  }

  /** Publishes a JSON value with wirehubctl; resolves with {offset, epoch}. `tenant` adds --tenant. */
  async publish(channel, data, control = this.control, { tenant } = {}) {
    const json = typeof data === 'string' ? data : JSON.stringify(data);
    const args = [`--control=${control.address}`, 'publish'];
    if (tenant !== undefined) args.push(`--tenant=${tenant}`);
    args.push(channel, json);
    const { stdout } = await this.ctl(args);
    const m = /^offset=(\d+) epoch=(\S*)$/m.exec(stdout.trim());
    if (!m) throw new Error(`unexpected wirehubctl publish output: ${JSON.stringify(stdout)}`);
    return { offset: Number(m[1]), epoch: m[2] };
  }

  /**
   * Spawns BIN_DIR/`binary` with `args` (stdout and stderr piped) without
   * waiting for anything; the process is tracked and stopped by cleanup()
   * like every other. Returns the ServerProcess (pid, exited, exitInfo,
   * stderrText). `env` adds environment variables to the test's own (one
   * set to undefined is removed).
   */
  spawnBinary(name, binary, args, { env } = {}) {
    return this._spawn(name, binary, args, { env });
  }

  /**
   * Publishes `lines` ("CHANNEL JSON" strings, no newline) through one
   * `wirehubctl publish-stream` to `control`, in order; resolves with the
   * position each got ({offset, epoch}, in line order). Rejects if any line
   * failed, on a non-zero exit, or after timeoutMs.
   */
  publishLines(lines, { control = this.control, timeoutMs = 30_000, tenant } = {}) {
    const args = [`--control=${control.address}`, 'publish-stream'];
    if (tenant !== undefined) args.push(`--tenant=${tenant}`);
    return new Promise((resolve, reject) => {
      const child = spawn(binPath('wirehubctl'), args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: this.dir });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.on('error', () => {}); // an early exit is reported below
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`wirehubctl publish-stream of ${lines.length} lines timed out after ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        logCtlStderr(args, `exit ${code}, signal ${signal}`, stderr);
        this._checkClientStderr(`wirehubctl ${args.join(' ')}`, stderr);
        const positions = new Array(lines.length);
        for (const line of stdout.split('\n')) {
          const m = /^(\d+) offset=(\d+) epoch=(\S*)$/.exec(line);
          if (m) positions[Number(m[1]) - 1] = { offset: Number(m[2]), epoch: m[3] };
        }
        const missing = positions.findIndex((p) => p === undefined);
        if (code !== 0 || missing >= 0 || positions.length !== lines.length) {
          reject(new Error(
            `wirehubctl publish-stream of ${lines.length} lines failed (exit ${code}, signal ${signal}); ` +
              `stdout: ${stdout.slice(0, 2000)}; stderr: ${stderr.slice(0, 2000)}`,
          ));
          return;
        }
        resolve(positions);
      });
      child.stdin.end(lines.map((l) => `${l}\n`).join(''));
    });
  }

  /** Writes obj as JSON to a file in this env's temp dir; returns its path. */
  writeConfig(name, obj) {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, JSON.stringify(obj));
    return file;
  }

  /**
   * Signs a connection token with this env's secret: `claims` over
   * {iat: now, exp: now + ttl}. Pass `exp: undefined` explicitly to drop it.
   */
  connToken(claims, { ttl = 3600, secret = this.secret } = {}) {
    const now = nowSeconds();
    const payload = { iat: now, exp: now + ttl, ...claims };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    return signHs256(secret, payload);
  }

  /** Signs a subscription token for `user` (the connection's `sub`) and `channel`. */
  subToken(user, channel, extra = {}, { ttl = 3600, secret = this.secret } = {}) {
    return this.connToken({ typ: 'subscription', sub: user, channel, ...extra }, { ttl, secret });
  }

  /** Runs wirehubctl against `control` (default this.control) and parses its stdout as JSON. */
  async ctlJson(args, control = this.control) {
    const { stdout } = await this.ctl([`--control=${control.address}`, ...args]);
    try {
      return JSON.parse(stdout);
    } catch (err) {
      throw new Error(`wirehubctl ${args.join(' ')} printed invalid JSON (${err.message}): ${stdout}`);
    }
  }

  /** wirehubctl presence-stats CHANNEL [extra...]; resolves {clients, users}. */
  async presenceStats(channel, extra = [], control = this.control) {
    const { stdout } = await this.ctl([`--control=${control.address}`, 'presence-stats', channel, ...extra]);
    const m = /clients=(\d+) users=(\d+)/.exec(stdout);
    if (!m) throw new Error(`unexpected wirehubctl presence-stats output: ${JSON.stringify(stdout)}`);
    return { clients: Number(m[1]), users: Number(m[2]) };
  }

  /** Runs a wirehubctl API subcommand printing `connections=N [edges_missing=M]`; resolves {connections, edgesMissing}. */
  async ctlCount(args, control = this.control) {
    const { stdout } = await this.ctl([`--control=${control.address}`, ...args]);
    const m = /connections=(\d+)(?: edges_missing=(\d+))?/.exec(stdout);
    if (!m) throw new Error(`unexpected wirehubctl ${args[0]} output: ${JSON.stringify(stdout)}`);
    return { connections: Number(m[1]), edgesMissing: Number(m[2] ?? 0) };
  }

  /** Fetches StatsResponse JSON with wirehubctl stats --json. */
  async stats(control = this.control) {
    const { stdout } = await this.ctl([`--control=${control.address}`, 'stats', '--json']);
    try {
      return JSON.parse(stdout);
    } catch (err) {
      throw new Error(`wirehubctl stats --json printed invalid JSON (${err.message}): ${stdout}`);
    }
  }

  /** Polls stats until pred(stats) is truthy; returns those stats. */
  async waitStats(pred, timeoutMs, what) {
    let last;
    try {
      return await waitFor(
        async () => {
          last = await this.stats();
          return pred(last) ? last : undefined;
        },
        timeoutMs,
        what,
        { intervalMs: 100 },
      );
    } catch (err) {
      err.message += `; last stats: ${JSON.stringify(last)}`;
      throw err;
    }
  }

  sdk(url, options = {}) {
    const c = new SdkClient(url, options);
    this.clients.push(c);
    return c;
  }

  async raw(url, options = {}) {
    const c = new RawClient(url, options);
    this.clients.push(c);
    await withTimeout(c.opened, 5000, `WebSocket to ${url} to open`);
    return c;
  }

  /** A description of every process's stderr, for failure messages. */
  logs() {
    return this.processes.map((p) => `--- ${p.name} (pid ${p.pid}) stderr:\n${p.stderrText}`).join('\n');
  }

  /**
   * Closes every client and proxy, stops every process (SIGTERM, SIGKILL
   * after 10 s) and removes the temp dir. Then throws, failing the test file,
   * if a process exited other than as expected (see
   * ServerProcess.expectExit()) or printed a sanitizer report, naming each
   * with its report or stderr.
   */
  async cleanup() {
    for (const c of this.clients) c.close();
    this.clients = [];
    for (const p of this.proxies) p.close();
    this.proxies = [];
    // Edges first, then control.
    const ordered = [...this.processes].reverse();
    await Promise.all(ordered.map((p) => p.stop({ graceMs: CLEANUP_GRACE_MS }).catch(() => {})));
    const problems = [...this.clientReports, ...this.processes.flatMap((p) => p.problems())];
    if (!process.env.WIREHUB_TEST_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
    if (problems.length > 0) {
      throw new Error(`${problems.length} process problem(s):\n\n${problems.join('\n\n')}`);
    }
  }
}
