// --log_format and --log_level on both servers (issue 14): with json every
// line on stderr is one JSON object (ts, level, src, msg, then the event's
// fields), the text default keeps its "I 2026-...Z file.cc:12] message"
// shape, --log_level=warning keeps info lines out, and an invalid value stops
// the server with exit status 2 naming the flag.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, withTimeout } from './harness.mjs';

const env = new Env('wirehub-log-format');
after(() => env.cleanup());

const EXIT_BOUND_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const TEXT_LINE = /^[DIWEF] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [^\s\]]+\] ?/;
const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function lines(proc) {
  return proc.stderrText.split('\n').filter((l) => l !== '');
}

/** Every stderr line of `proc` parsed as a JSON log object (fails naming the first that is not). */
function jsonLines(proc) {
  return lines(proc).map((line) => {
    let obj;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      assert.fail(`${proc.name} wrote a line that is not JSON (${err.message}): ${line}\nstderr:\n${proc.stderrText}`);
    }
    assert.equal(typeof obj, 'object', line);
    assert.match(obj.ts ?? '', TS, `ts of ${line}`);
    assert.ok(['debug', 'info', 'warning', 'error', 'fatal'].includes(obj.level), `level of ${line}`);
    assert.match(obj.src ?? '', /^[\w.-]+(:\d+)?$/, `src of ${line}`);
    assert.equal(typeof obj.msg, 'string', `msg of ${line}`);
    return obj;
  });
}

/** A control and an edge with `flags`, a client that connects, subscribes and receives, then both stopped. */
async function runPair(flags) {
  const control = await env.startControl(Object.entries(flags).map(([k, v]) => `--${k}=${v}`));
  const edge = await env.startEdge(control, flags);
  const client = env.sdk(edge.url, { token: await env.token('log-reader') });
  await client.connectAndWait();
  await client.subscribeAndWait('logs');
  await env.publish('logs', { n: 1 }, control);
  await client.waitPublication('logs', (d) => d?.n === 1, 5000, 'the publication');
  client.close();
  for (const proc of [edge, control]) {
    const info = await proc.stop({ graceMs: STOP_GRACE_MS });
    assert.deepEqual({ code: info.code, signal: info.signal }, { code: 0, signal: null }, `${proc.name}: ${proc.stderrText}`);
  }
  return { control, edge };
}

test('by default both servers write text lines in the classic shape', async () => {
  const { control, edge } = await runPair({});
  for (const proc of [control, edge]) {
    const all = lines(proc);
    assert.ok(all.length > 0, `${proc.name} logged something`);
    for (const line of all) assert.match(line, TEXT_LINE, `${proc.name}: ${line}`);
  }
});

test('with --log_format=json every line both servers write is one JSON object, events with their fields', async () => {
  const { control, edge } = await runPair({ log_format: 'json' });
  for (const proc of [control, edge]) {
    const objects = jsonLines(proc);
    assert.ok(objects.length > 0, `${proc.name} logged something`);
    // SIGTERM starts a drain, a lifecycle event with a number field.
    const drain = objects.find((o) => o.event === 'drain_started');
    assert.ok(drain, `${proc.name} logged a drain_started event: ${proc.stderrText}`);
    assert.ok(Object.values(drain).some((v) => typeof v === 'number'), `a field of ${JSON.stringify(drain)} is a JSON number`);
  }
  assert.ok(
    jsonLines(edge).some((o) => o.level === 'info' && /attached to control/.test(o.msg)),
    `the edge's attach line: ${edge.stderrText}`,
  );
});

test('--log_level=warning keeps info lines out', async () => {
  const { control, edge } = await runPair({ log_level: 'warning' });
  for (const proc of [control, edge]) {
    const info = lines(proc).filter((l) => l.startsWith('I '));
    assert.deepEqual(info, [], `${proc.name} wrote info lines at --log_level=warning`);
  }
});

test('an invalid --log_format or --log_level stops either server with exit status 2 naming the flag', async () => {
  const cases = [
    ['--log_level=verbose', /--log_level=verbose: must be one of debug, info, warning, error/],
    ['--log_format=yaml', /--log_format=yaml: must be text or json/],
  ];
  for (const binary of ['wirehub-control', 'wirehub-edge']) {
    for (const [flag, expected] of cases) {
      // The flags are checked first: nothing is bound.
      const args = binary === 'wirehub-control'
        ? ['--grpc_listen=127.0.0.1:0', '--edge_listen=127.0.0.1:0', flag]
        : ['--listen=127.0.0.1:0', '--control=127.0.0.1:1', `--token_hmac_secret_file=${env.secretFile}`, flag];
      const proc = env.spawnBinary(`${binary}[${flag}]`, binary, args).expectExit({ code: 2 });
      const info = await withTimeout(proc.exited, EXIT_BOUND_MS, `${binary} ${flag} to exit`);
      assert.deepEqual({ code: info.code, signal: info.signal }, { code: 2, signal: null }, `${binary} ${flag}: ${proc.stderrText}`);
      assert.match(proc.stderrText, expected, `${binary} ${flag}`);
    }
  }
});
