// wirehub-control's two listeners protected (issue 13): start-up refusals
// beyond loopback, API keys minted by `wirehubctl apikey` (none, wrong, flag
// and environment, publish-only scope, tenant confinement), TLS on the API
// (wirehubctl --tls_ca_file, the TLS floor, rotation by a ..data swap with a
// bad pair kept out). Mutual TLS on the edge link with real edges is in
// edge_link_tls.test.mjs. Certificates are made here with the openssl CLI.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';

import { CTL_TIMEOUT_MS, Env, binPath, sleep, waitFor, withTimeout } from './harness.mjs';
import { makeCa, makeMismatchedPair, makeServerCert, openssl, sClient, SecretDir } from './tls_util.mjs';

const env = new Env('wirehub-control-security');
after(() => env.cleanup());

/** How long a refused start may take. */
const EXIT_BOUND_MS = 10_000;

/**
 * Runs wirehubctl with `args` and extra environment variables; resolves
 * {code, stdout, stderr} whatever the exit status.
 */
function ctl(args, extraEnv = {}) {
  return new Promise((resolve) => {
    execFile(
      binPath('wirehubctl'),
      args,
      { timeout: CTL_TIMEOUT_MS, killSignal: 'SIGKILL', cwd: env.dir, env: { ...process.env, ...extraEnv } },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 'killed') : 0, stdout, stderr }),
    );
  });
}

/** Mints a key with `wirehubctl apikey`; resolves {key, sha256, entry} (entry parsed). */
async function mintKey(flags) {
  const r = await ctl(['apikey', ...flags]);
  assert.equal(r.code, 0, `wirehubctl apikey ${flags.join(' ')}: ${r.stderr}`);
  const key = /^key: (wh_[A-Za-z0-9_-]{43})$/m.exec(r.stdout)?.[1];
  const sha256 = /^sha256: ([0-9a-f]{64})$/m.exec(r.stdout)?.[1];
  const entry = /^api_keys entry: (\{.*\})$/m.exec(r.stdout)?.[1];
  assert.ok(key && sha256 && entry, `unexpected wirehubctl apikey output: ${r.stdout}`);
  return { key, sha256, entry: JSON.parse(entry) };
}

/**
 * The serial (upper-case hex) a new handshake to `port` sees. gRPC closes a
 * connection that did not negotiate h2, so the probe offers it.
 */
async function servedSerial(port, caFile) {
  const hs = await sClient(port, ['-alpn', 'h2'], { caFile });
  if (!hs.ok) throw new Error(`openssl s_client to 127.0.0.1:${port} failed: ${hs.output.slice(0, 2000)}`);
  const r = await openssl(['x509', '-noout', '-serial'], { input: hs.certPem });
  const m = /^serial=([0-9A-Fa-f]+)$/m.exec(r.stdout);
  if (!m) throw new Error(`unexpected openssl x509 -serial output: ${r.stdout} ${r.stderr}`);
  return m[1].toUpperCase();
}

/** Spawns wirehub-control expecting it to refuse to start; resolves its stderr. */
async function refusedStart(name, args) {
  const proc = env.spawnBinary(name, 'wirehub-control', args).expectExit({ code: 2 });
  const info = await withTimeout(proc.exited, EXIT_BOUND_MS, `${name} to exit`);
  assert.deepEqual({ code: info.code, signal: info.signal }, { code: 2, signal: null }, proc.stderrText);
  return proc.stderrText;
}

test('control refuses to start beyond loopback without api_keys or an edge link client CA, naming the flag', async () => {
  const api = await refusedStart('wirehub-control[public-api]', ['--grpc_listen=0.0.0.0:0', '--edge_listen=127.0.0.1:0']);
  assert.match(api, /--grpc_listen=0\.0\.0\.0:0 is beyond loopback/);
  assert.match(api, /--insecure_api/);

  const edge = await refusedStart('wirehub-control[public-edge-link]', ['--grpc_listen=127.0.0.1:0', '--edge_listen=0.0.0.0:0']);
  assert.match(edge, /--edge_listen=0\.0\.0\.0:0 is beyond loopback without mutual TLS/);
  assert.match(edge, /--edge_tls_client_ca_file/);
  assert.match(edge, /--insecure_edge_link/);

  const badKey = env.writeConfig('bad-key.json', { api_keys: [{ name: 'ops', sha256: 'ABC' }] });
  const config = await refusedStart('wirehub-control[bad-api-key]', [
    '--grpc_listen=127.0.0.1:0', '--edge_listen=127.0.0.1:0', `--config=${badKey}`,
  ]);
  assert.match(config, /api_keys\[0\] \("ops"\): sha256 must be 64 lower-case hex digits/);
});

test('API keys from wirehubctl apikey: none and wrong are UNAUTHENTICATED, scope and tenant are PERMISSION_DENIED', async () => {
  const ops = await mintKey(['--name=ops']);
  const publisher = await mintKey(['--name=publisher', '--scope=publish']);
  const acme = await mintKey(['--name=acme-backend', '--tenant=acme']);
  assert.deepEqual(acme.entry, { name: 'acme-backend', sha256: acme.sha256, tenant: 'acme', scope: 'full' });
  const config = env.writeConfig('keys.json', {
    defaults: { allow_subscribe_for_client: true },
    api_keys: [ops.entry, publisher.entry, acme.entry],
  });
  const control = await env.startControl([`--config=${config}`]);
  const edge = await env.startEdge(control);
  const at = `--control=${control.address}`;

  const none = await ctl([at, 'stats']);
  assert.equal(none.code, 1, none.stdout);
  assert.match(none.stderr, /^error: UNAUTHENTICATED: an API key is required/m);
  const wrong = await ctl([at, '--api_key=wh_wrong', 'stats']);
  assert.match(wrong.stderr, /^error: UNAUTHENTICATED: unknown API key$/m);

  // The key from the environment, and the flag winning over it.
  const fromEnv = await ctl([at, 'stats', '--json'], { WIREHUB_API_KEY: ops.key });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.ok(Array.isArray(JSON.parse(fromEnv.stdout).edges));
  const flagWins = await ctl([at, `--api_key=${ops.key}`, 'stats'], { WIREHUB_API_KEY: 'wh_wrong' });
  assert.equal(flagWins.code, 0, flagWins.stderr);

  // A publication made with a key reaches a subscriber.
  const client = env.sdk(edge.url, { token: await env.token('reader') });
  await client.connectAndWait();
  await client.subscribeAndWait('news');
  const published = await ctl([at, `--api_key=${publisher.key}`, 'publish', 'news', '{"n":1}']);
  assert.equal(published.code, 0, published.stderr);
  await client.waitPublication('news', (d) => d?.n === 1, 5000, 'the publication made with the publish key');

  // Publish-only key.
  const disconnect = await ctl([at, `--api_key=${publisher.key}`, 'disconnect', '--user=reader']);
  assert.equal(disconnect.code, 1);
  assert.match(disconnect.stderr, /^error: PERMISSION_DENIED: API key 'publisher' has scope "publish": Disconnect needs scope "full"/m);
  assert.equal(client.state, 'connected', 'the refused Disconnect closed nobody');

  // Tenant key.
  const own = await ctl([at, `--api_key=${acme.key}`, 'publish', '--tenant=acme', 'news', '{}']);
  assert.equal(own.code, 0, own.stderr);
  const other = await ctl([at, `--api_key=${acme.key}`, 'publish', '--tenant=globex', 'news', '{}']);
  assert.match(other.stderr, /^error: PERMISSION_DENIED: API key 'acme-backend' is confined to tenant 'acme': Publish names tenant 'globex'$/m);
  const defaultSpace = await ctl([at, `--api_key=${acme.key}`, 'disconnect', '--user=reader']);
  assert.match(defaultSpace.stderr, /^error: PERMISSION_DENIED: .*the default space/m);
  const stats = await ctl([at, `--api_key=${acme.key}`, 'stats']);
  assert.match(stats.stderr, /^error: PERMISSION_DENIED: .*Stats spans every tenant$/m);
  assert.equal(client.state, 'connected');
});

test('TLS on the API: wirehubctl --tls_ca_file, TLS 1.1 refused, rotation by ..data swap with a bad pair kept out', async () => {
  const dir = path.join(env.dir, 'api-tls');
  const ca = await makeCa(dir);
  const first = await makeServerCert(dir, ca, { name: 'first', serial: 0x1001 });
  const second = await makeServerCert(dir, ca, { name: 'second', serial: 0x1002 });
  const bad = await makeMismatchedPair(dir, ca, { name: 'bad', serial: 0x1003 });
  const secret = new SecretDir(path.join(dir, 'secret')).install('v1', first).activate('v1');
  const control = await env.startControl([`--grpc_tls_cert_file=${secret.certFile}`, `--grpc_tls_key_file=${secret.keyFile}`]);
  const at = `--control=${control.address}`;

  const ok = await ctl([at, `--tls_ca_file=${ca.cert}`, 'stats']);
  assert.equal(ok.code, 0, ok.stderr);
  const named = await ctl([at, `--tls_ca_file=${ca.cert}`, '--tls_server_name=localhost', 'stats']);
  assert.equal(named.code, 0, named.stderr);
  const plaintext = await ctl([at, '--timeout=2', 'stats']);
  assert.equal(plaintext.code, 1);
  assert.match(plaintext.stderr, /^error: UNAVAILABLE/m);
  const otherName = await ctl([at, `--tls_ca_file=${ca.cert}`, '--tls_server_name=wrong.example', '--timeout=2', 'stats']);
  assert.equal(otherName.code, 1, 'a certificate without that name is refused');

  // The floor is TLS 1.2 (the client lowers its own floor, or the test could not fail).
  const old = await sClient(control.port, ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0'], { caFile: ca.cert });
  assert.equal(old.ok, false, `TLS 1.1 accepted: ${old.output.slice(0, 500)}`);
  const tls12 = await sClient(control.port, ['-tls1_2', '-alpn', 'h2'], { caFile: ca.cert });
  assert.ok(tls12.ok, tls12.output.slice(0, 1000));

  assert.equal(await servedSerial(control.port, ca.cert), first.serialHex);
  // A mismatched pair: logged once, the old pair stays.
  secret.install('v2', bad).activate('v2');
  await waitFor(() => /API TLS: keeping the current certificate/.test(control.stderrText), 5000, 'the refusal of the bad pair to be logged');
  await sleep(1500); // past gRPC's 1 s re-read of its copy
  assert.equal(await servedSerial(control.port, ca.cert), first.serialHex);
  // A good pair, and SIGHUP for good measure: new handshakes see it.
  secret.install('v3', second).activate('v3');
  control.child.kill('SIGHUP');
  await waitFor(async () => (await servedSerial(control.port, ca.cert)) === second.serialHex, 10_000, 'the new certificate to be served');
  assert.match(control.stderrText, /API TLS: reloaded/);
  const after = await ctl([at, `--tls_ca_file=${ca.cert}`, 'stats']);
  assert.equal(after.code, 0, after.stderr);
});
