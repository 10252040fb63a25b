// What a new user tries first on the servers: --help lists the binary's own
// flags, --version prints the project version, SIGHUP is logged and ignored
// (SIGTERM still stops gracefully), and a second wirehub-control on a port
// that is taken refuses to start instead of sharing it.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Env, binPath, waitFor, withTimeout } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUN_BOUND_MS = 10_000;
const EXIT_BOUND_MS = 10_000;
const LOG_BOUND_MS = 5_000;

const env = new Env('wirehub-server-flags');
after(() => env.cleanup());

/** The project version from the root CMakeLists.txt's project(... VERSION x.y.z ...). */
function projectVersion() {
  const cmake = fs.readFileSync(path.resolve(here, '../../CMakeLists.txt'), 'utf8');
  const m = /project\(\s*wirehub\s+VERSION\s+(\S+)/.exec(cmake);
  assert.ok(m, 'CMakeLists.txt declares project(wirehub VERSION ...)');
  return m[1];
}

/** Runs BIN_DIR/binary with args to completion (bounded); resolves {code, signal, stdout, stderr}. */
function run(binary, args) {
  return new Promise((resolve) => {
    execFile(
      binPath(binary),
      args,
      { timeout: RUN_BOUND_MS, killSignal: 'SIGKILL', cwd: env.dir },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, signal: err?.signal ?? null, killed: Boolean(err?.killed), stdout, stderr });
      },
    );
  });
}

const OWN_FLAGS = {
  'wirehub-control': ['--grpc_listen', '--config', '--edge_timeout', '--max_payload_bytes'],
  'wirehub-edge': ['--listen', '--control', '--config', '--token_hmac_secret_file', '--ping_interval'],
};

for (const [binary, flags] of Object.entries(OWN_FLAGS)) {
  test(`${binary} --help lists its own flags, not abseil's`, async () => {
    const r = await run(binary, ['--help']);
    const output = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.ok(!r.killed, `${binary} --help finished within ${RUN_BOUND_MS} ms`);
    // Abseil ends every help mode with status 1 (only --version and
    // --only_check_args exit 0); what matters is a clean exit, not a crash.
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 1, signal: null }, `exit status; ${output}`);
    assert.ok(!r.stdout.includes('No flags matched'), `--help matched the binary's flags; ${output}`);
    for (const flag of flags) {
      assert.match(r.stdout, new RegExp(`^\\s+${flag} \\(`, 'm'), `--help lists ${flag}; ${output}`);
    }
    assert.ok(r.stdout.startsWith(`${binary}: `), `the usage line names the binary once; ${output}`);
    assert.ok(!r.stdout.startsWith(`${binary}: ${binary}`), `the usage line names the binary once; ${output}`);
    assert.ok(!r.stdout.includes('--flagfile'), `--help leaves abseil's own flags to --helpfull; ${output}`);

    const full = await run(binary, ['--helpfull']);
    assert.ok(!full.killed, `${binary} --helpfull finished within ${RUN_BOUND_MS} ms`);
    assert.ok(full.stdout.includes('--flagfile'), `--helpfull lists abseil's flags too:\n${full.stdout}`);
    for (const flag of flags) assert.ok(full.stdout.includes(`${flag} (`), `--helpfull lists ${flag}`);
  });

  test(`${binary} --version prints "${binary} <project version>" and exits 0`, async () => {
    const r = await run(binary, ['--version']);
    assert.deepEqual(
      { code: r.code, signal: r.signal, stdout: r.stdout },
      { code: 0, signal: null, stdout: `${binary} ${projectVersion()}\n` },
      `${binary} --version; stderr:\n${r.stderr}`,
    );
  });
}

/** Sends SIGHUP to proc and waits until it logged it; fails as soon as it exits instead. */
async function hangUp(proc) {
  const before = proc.stderrText.length;
  proc.child.kill('SIGHUP');
  const outcome = await Promise.race([
    proc.exited.then((info) => ({ exited: info })),
    waitFor(
      () => !proc.running || /SIGHUP/.test(proc.stderrText.slice(before)),
      LOG_BOUND_MS,
      `${proc.name} to log SIGHUP; stderr:\n${proc.stderrText}`,
    ).then(() => ({})),
  ]);
  assert.equal(outcome.exited, undefined, `${proc.name} exited on SIGHUP; stderr:\n${proc.stderrText}`);
  assert.ok(proc.running, `${proc.name} still runs after SIGHUP; stderr:\n${proc.stderrText}`);
}

/**
 * Starts control and an edge with a client subscribed to `news`, sends
 * SIGHUP to `target(control, edge)`, and checks that both still serve: a
 * publication reaches the client connected before, a new client connects
 * and subscribes. Then SIGTERM stops both with status 0.
 */
async function hangUpAndServe(target) {
  const control = await env.startControl();
  const edge = await env.startEdge(control);
  const before = env.sdk(edge.url, { token: env.connToken({ sub: 'before' }) });
  await before.connectAndWait();
  await before.subscribeAndWait('news');

  await hangUp(target(control, edge));

  await env.publish('news', { n: 1 }, control);
  await before.waitPublication('news', (d) => d?.n === 1, 5000, 'the publication after SIGHUP');
  const after = env.sdk(edge.url, { token: env.connToken({ sub: 'after' }) });
  await after.connectAndWait();
  await after.subscribeAndWait('news');
  assert.ok(control.running && edge.running, `both still running; ${env.logs()}`);

  for (const proc of [edge, control]) {
    const info = await proc.stop();
    assert.deepEqual(info, { code: 0, signal: null, forced: false }, `${proc.name} after SIGTERM; stderr:\n${proc.stderrText}`);
  }
}

test('wirehub-control logs and ignores SIGHUP, keeps serving, and SIGTERM still stops it with status 0', () =>
  hangUpAndServe((control) => control));

test('wirehub-edge logs and ignores SIGHUP, keeps serving, and SIGTERM still stops it with status 0', () =>
  hangUpAndServe((control, edge) => edge));

test('a second wirehub-control on a taken port exits with status 1 naming the address; the first keeps serving', async () => {
  const first = await env.startControl();
  await env.publish('before', { n: 1 }, first);

  const second = env
    .spawnBinary('wirehub-control[second]', 'wirehub-control', [
      '--admin_listen=127.0.0.1:0',
      `--grpc_listen=${first.address}`,
    ])
    .expectExit({ code: 1 });
  second.child.stdout.setEncoding('utf8');
  let secondStdout = '';
  second.child.stdout.on('data', (d) => (secondStdout += d));
  const info = await withTimeout(second.exited, EXIT_BOUND_MS, `the second wirehub-control on taken ${first.address} to exit`).catch(
    (err) => {
      err.message += `; its stdout: ${JSON.stringify(secondStdout)}; stderr:\n${second.stderrText}`;
      throw err;
    },
  );
  const output = `stdout:\n${secondStdout}\nstderr:\n${second.stderrText}`;
  assert.deepEqual({ code: info.code, signal: info.signal }, { code: 1, signal: null }, `the second control's exit status; ${output}`);
  assert.ok(second.stderrText.includes(first.address), `stderr names ${first.address}; ${output}`);

  // Every call reaches the first: consecutive offsets on one channel.
  assert.ok(first.running, 'the first control is still running');
  const positions = [];
  for (let i = 0; i < 5; i++) positions.push(await env.publish('after', { i }, first));
  assert.deepEqual(positions.map((p) => p.offset), [1, 2, 3, 4, 5], 'offsets from one control');
  assert.equal(new Set(positions.map((p) => p.epoch)).size, 1, 'one epoch: one control answered');
});
