// --check_config on both binaries, as CI runs it against a Helm chart's
// rendered config.json with the Deployment's args: every start-up check
// (flags, the file, ${ENV} references, api_keys and api_keys_file, the
// engine section, token keys, the listen policy, the --control list), then
// one "configuration OK" line and exit 0, or the start-up error and exit 2.
// It listens on nothing (every port given is held by this test), connects to
// nothing and reads none of the TLS files (paths inside a pod that do not
// exist here).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { Env, recordSecret, withTimeout } from './harness.mjs';

/** A check reads a few small files: it must be done well within this. */
const EXIT_BOUND_MS = 10_000;

const env = new Env('wirehub-check-config');
const holders = [];
after(async () => {
  for (const h of holders) h.close();
  await env.cleanup();
});

/** Holds a port on 127.0.0.1 with a listening server; resolves with the port. */
async function holdPort() {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  holders.push(server);
  return server.address().port;
}

/** Resolves true if something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Runs `binary --check_config ...args` with `extraEnv`; resolves with
 * {code, signal, stdout (lines), stderr, ms} once it exited and its output is
 * drained. `expectCode` is the exit status cleanup() holds it to.
 */
async function checkConfig(binary, args, { extraEnv = {}, expectCode = 0 } = {}) {
  const started = Date.now();
  const proc = env.spawnBinary(`${binary}[check_config]`, binary, ['--check_config', ...args], { env: extraEnv });
  proc.expectExit({ code: expectCode });
  let stdout = '';
  proc.child.stdout.setEncoding('utf8');
  proc.child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  const closed = new Promise((resolve) => proc.child.once('close', resolve));
  const info = await withTimeout(proc.exited, EXIT_BOUND_MS, `${binary} --check_config ${args.join(' ')} to exit`);
  await withTimeout(closed, 2000, `${binary} stdio to close`);
  return {
    code: info.code,
    signal: info.signal,
    stdout: stdout.split('\n').filter((l) => l !== ''),
    stderr: proc.stderrText,
    ms: Date.now() - started,
  };
}

function assertExit(result, code, what) {
  assert.deepEqual(
    { code: result.code, signal: result.signal },
    { code, signal: null },
    `${what}: exit status; stdout: ${JSON.stringify(result.stdout)}; stderr:\n${result.stderr}`,
  );
}

/** Asserts a refusal: exit 2, nothing on stdout, `pattern` on stderr. */
function assertRefused(result, pattern, what) {
  assertExit(result, 2, what);
  assert.deepEqual(result.stdout, [], `${what}: nothing on stdout`);
  assert.match(result.stderr, pattern, `${what}: stderr names the problem`);
}

const hexSha256 = (text) => createHash('sha256').update(text).digest('hex');

// Paths inside a pod: none exists here, and --check_config must not read them.
const POD_TLS = {
  cert: '/etc/wirehub/tls/tls.crt',
  key: '/etc/wirehub/tls/tls.key',
  ca: '/etc/wirehub/tls/ca.crt',
};
for (const p of Object.values(POD_TLS)) assert.ok(!fs.existsSync(p), `${p} must not exist on the test host`);

const redisPassword = recordSecret(randomBytes(24).toString('hex'), 'the Redis password of check_config');
const keyFile = env.writeConfig('api-keys.json', {
  api_keys: [{ name: 'billing', sha256: hexSha256('wh_billing'), tenant: 'acme', scope: 'publish' }],
});
const goodControlConfig = env.writeConfig('control.json', {
  namespaces: [{ name: 'news' }, { name: 'chat', options: { presence: true } }],
  api_keys: [{ name: 'ops', sha256: hexSha256('wh_ops'), scope: 'full' }],
  api_keys_file: keyFile,
  engine: {
    type: 'redis',
    // Nothing listens there: a check that dialed it would fail or hang.
    redis: { address: '127.0.0.1:1', password: '${WIREHUB_CHECK_REDIS_PASSWORD}', key_prefix: 'ci' },
  },
});

test('control: a good file with every listener on a taken port and absent TLS files is OK', async () => {
  const [grpcPort, edgePort, adminPort] = [await holdPort(), await holdPort(), await holdPort()];
  const result = await checkConfig(
    'wirehub-control',
    [
      `--config=${goodControlConfig}`,
      `--grpc_listen=127.0.0.1:${grpcPort}`,
      `--edge_listen=127.0.0.1:${edgePort}`,
      `--admin_listen=127.0.0.1:${adminPort}`,
      `--grpc_tls_cert_file=${POD_TLS.cert}`,
      `--grpc_tls_key_file=${POD_TLS.key}`,
      `--edge_tls_cert_file=${POD_TLS.cert}`,
      `--edge_tls_key_file=${POD_TLS.key}`,
      `--edge_tls_client_ca_file=${POD_TLS.ca}`,
    ],
    { extraEnv: { WIREHUB_CHECK_REDIS_PASSWORD: redisPassword } },
  );
  assertExit(result, 0, 'control --check_config of a good file');
  assert.deepEqual(
    result.stdout,
    [
      `wirehub-control: configuration OK (${goodControlConfig}: 2 namespaces, engine redis 127.0.0.1:1 prefix ci, 2 api keys)`,
    ],
    `the one OK line; stderr:\n${result.stderr}`,
  );
  assert.ok(result.ms < 5000, `exits at once (took ${result.ms} ms)`);
  for (const port of [grpcPort, edgePort, adminPort]) {
    assert.ok(await accepts(port), `the test still holds port ${port}`);
  }
  assert.ok(!result.stderr.includes(redisPassword), 'the password stays out of the log');
});

test('control: beyond loopback with api_keys from the file is OK, without any key it is refused', async () => {
  const port = await holdPort();
  const ok = await checkConfig(
    'wirehub-control',
    [`--config=${goodControlConfig}`, `--grpc_listen=0.0.0.0:${port}`, '--edge_listen=127.0.0.1:0'],
    { extraEnv: { WIREHUB_CHECK_REDIS_PASSWORD: redisPassword } },
  );
  assertExit(ok, 0, 'control beyond loopback with keys');
  assert.match(ok.stdout[0] ?? '', /configuration OK \(.*, 2 api keys\)$/);

  const noKeys = env.writeConfig('no-keys.json', { namespaces: [{ name: 'news' }] });
  const refused = await checkConfig(
    'wirehub-control',
    [`--config=${noKeys}`, `--grpc_listen=0.0.0.0:${port}`, '--edge_listen=127.0.0.1:0'],
    { expectCode: 2 },
  );
  assertRefused(refused, /--grpc_listen=0\.0\.0\.0:\d+ is beyond loopback and the configuration has no api_keys/, 'API beyond loopback without keys');

  const edgeLink = await checkConfig(
    'wirehub-control',
    [`--config=${goodControlConfig}`, '--grpc_listen=127.0.0.1:0', `--edge_listen=0.0.0.0:${port}`],
    { extraEnv: { WIREHUB_CHECK_REDIS_PASSWORD: redisPassword }, expectCode: 2 },
  );
  assertRefused(edgeLink, /--edge_listen=0\.0\.0\.0:\d+ is beyond loopback/, 'edge link beyond loopback without a client CA');
});

test('control: without --config the flags are checked and the built-in defaults named', async () => {
  const ok = await checkConfig('wirehub-control', ['--grpc_listen=127.0.0.1:0', '--edge_listen=127.0.0.1:0']);
  assertExit(ok, 0, 'control --check_config without --config');
  assert.deepEqual(ok.stdout, ['wirehub-control: configuration OK (no --config: built-in defaults, engine memory, 0 api keys)']);

  const badFlag = await checkConfig('wirehub-control', ['--api_call_timeout=0s'], { expectCode: 2 });
  assertRefused(badFlag, /--api_call_timeout must be positive/, 'a bad flag');
  const halfTls = await checkConfig('wirehub-control', [`--grpc_tls_cert_file=${POD_TLS.cert}`], { expectCode: 2 });
  assertRefused(halfTls, /--grpc_tls_cert_file and --grpc_tls_key_file go together/, 'a TLS certificate without its key');
});

test('control: bad JSON, an unknown key, an unset ${VAR} and a bad api_keys_file are refused naming them', async () => {
  const write = (name, text) => {
    const file = path.join(env.dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  // A comma missing at the end of line 2.
  const badJson = write('bad-json.json', '{\n  "namespaces": [{"name": "news"}]\n  "idempotency_window": "60s"\n}\n');
  const r1 = await checkConfig('wirehub-control', [`--config=${badJson}`], { expectCode: 2 });
  assertRefused(r1, new RegExp(`${badJson}: Expected , or \\} after key:value pair\\. \\(line 3, column \\d+\\)`), 'bad JSON');

  const unknownKey = env.writeConfig('unknown-key.json', { namespaces: [{ name: 'news', options: { history_sise: 10 } }] });
  const r2 = await checkConfig('wirehub-control', [`--config=${unknownKey}`], { expectCode: 2 });
  assertRefused(r2, new RegExp(`${unknownKey}: \\(namespaces\\[0\\]\\.options\\) history_sise: Cannot find field`), 'an unknown key');

  const r3 = await checkConfig('wirehub-control', [`--config=${goodControlConfig}`], {
    extraEnv: { WIREHUB_CHECK_REDIS_PASSWORD: undefined },
    expectCode: 2,
  });
  assertRefused(
    r3,
    /engine\.redis\.password: secret reference \$\{WIREHUB_CHECK_REDIS_PASSWORD\}: environment variable WIREHUB_CHECK_REDIS_PASSWORD is not set/,
    'an unset ${VAR}',
  );

  const missing = path.join(env.dir, 'absent-keys.json');
  const r4 = await checkConfig('wirehub-control', [`--config=${env.writeConfig('missing-keys.json', { api_keys_file: missing })}`], {
    expectCode: 2,
  });
  assertRefused(r4, new RegExp(`api_keys_file: cannot open API key file ${missing}`), 'a missing api_keys_file');

  const duplicateFile = env.writeConfig('dup-keys.json', {
    api_keys: [
      { name: 'search', sha256: hexSha256('wh_search') },
      { name: 'ops', sha256: hexSha256('wh_other') },
    ],
  });
  const dupConfig = env.writeConfig('dup.json', {
    api_keys: [{ name: 'ops', sha256: hexSha256('wh_ops') }],
    api_keys_file: duplicateFile,
  });
  const r5 = await checkConfig('wirehub-control', [`--config=${dupConfig}`], { expectCode: 2 });
  assertRefused(
    r5,
    new RegExp(`${duplicateFile}: api_keys\\[1\\] \\("ops"\\): name is used by an earlier key \\(${dupConfig}: api_keys\\[0\\]\\)`),
    'a name in both the config and the api_keys_file',
  );
});

test('edge: a good file with taken ports and absent TLS files is OK', async () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const publicKeyFile = path.join(env.dir, 'ed25519.pub.pem');
  fs.writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const config = env.writeConfig('edge.json', {
    namespaces: [{ name: 'news' }, { name: 'chat' }, { name: 'ops' }],
    token_keys: [{ kid: 'k1', algorithm: 'EdDSA', public_key_file: publicKeyFile }],
    allowed_origins: ['https://*.example.com'],
  });
  const [listenPort, adminPort] = [await holdPort(), await holdPort()];
  const result = await checkConfig(
    'wirehub-edge',
    [
      `--config=${config}`,
      `--listen=127.0.0.1:${listenPort}`,
      `--admin_listen=127.0.0.1:${adminPort}`,
      // Nothing answers there, and control-b is resolved by no one.
      '--control=127.0.0.1:1,control-b.invalid:7101,[::1]:1',
      `--tls_cert_file=${POD_TLS.cert}`,
      `--tls_key_file=${POD_TLS.key}`,
      `--control_tls_ca_file=${POD_TLS.ca}`,
      `--control_tls_cert_file=${POD_TLS.cert}`,
      `--control_tls_key_file=${POD_TLS.key}`,
    ],
    { extraEnv: { WIREHUB_TOKEN_HMAC_SECRET: env.secret } },
  );
  assertExit(result, 0, 'edge --check_config of a good file');
  assert.deepEqual(
    result.stdout,
    [
      `wirehub-edge: configuration OK (${config}: 3 namespaces, 2 token keys (HS256 without kid, kid "k1" EdDSA), 3 control targets over TLS)`,
    ],
    `the one OK line; stderr:\n${result.stderr}`,
  );
  assert.ok(result.ms < 5000, `exits at once (took ${result.ms} ms)`);
  for (const port of [listenPort, adminPort]) assert.ok(await accepts(port), `the test still holds port ${port}`);
});

test('edge: a bad --control list, no token key, an unset ${VAR} and an unreadable key file are refused', async () => {
  const open = env.writeConfig('edge-open.json', { defaults: { allow_subscribe_for_client: true } });
  const secret = { WIREHUB_TOKEN_HMAC_SECRET: env.secret };
  const badList = await checkConfig('wirehub-edge', [`--config=${open}`, '--control=127.0.0.1:7101,,b:1'], {
    extraEnv: secret,
    expectCode: 2,
  });
  assertRefused(badList, /--control: item 2 of '127\.0\.0\.1:7101,,b:1' is empty/, 'a bad --control list');
  const badPort = await checkConfig('wirehub-edge', [`--config=${open}`, '--control=control:http'], {
    extraEnv: secret,
    expectCode: 2,
  });
  assertRefused(badPort, /--control: item 1 'control:http' has a bad port/, 'a bad --control port');

  const noKey = await checkConfig('wirehub-edge', [`--config=${open}`], {
    extraEnv: { WIREHUB_TOKEN_HMAC_SECRET: undefined },
    expectCode: 2,
  });
  assertRefused(noKey, /token keys: no token key/, 'no token key');

  const unsetVar = env.writeConfig('edge-unset.json', { token_hmac_secret: '${WIREHUB_CHECK_UNSET_SECRET}' });
  const r = await checkConfig('wirehub-edge', [`--config=${unsetVar}`], {
    extraEnv: { WIREHUB_TOKEN_HMAC_SECRET: undefined, WIREHUB_CHECK_UNSET_SECRET: undefined },
    expectCode: 2,
  });
  assertRefused(r, /environment variable WIREHUB_CHECK_UNSET_SECRET is not set/, 'an unset ${VAR} for the HS256 secret');

  // Token key files are part of the configuration and are read.
  const absentKey = path.join(env.dir, 'absent.pub.pem');
  const keyConfig = env.writeConfig('edge-absent-key.json', {
    token_keys: [{ kid: 'k1', algorithm: 'EdDSA', public_key_file: absentKey }],
  });
  const absent = await checkConfig('wirehub-edge', [`--config=${keyConfig}`], { extraEnv: secret, expectCode: 2 });
  assertRefused(absent, new RegExp(absentKey), 'an absent token key file');

  const halfTls = await checkConfig('wirehub-edge', [`--config=${open}`, `--control_tls_cert_file=${POD_TLS.cert}`], {
    extraEnv: secret,
    expectCode: 2,
  });
  assertRefused(halfTls, /control link TLS: .*--control_tls_ca_file/, 'a control link certificate without a CA');
});
