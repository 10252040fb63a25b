// Tokens signed with RS256/384/512, PS256, ES256/384 and EdDSA next to the
// HS256 secret: config token_keys (PEM files) and token_jwks_file (a JWK
// Set), selection by `kid`, each key pinned to one algorithm, and SIGHUP
// re-reading the key files.
//
// Keys are made here with node:crypto and tokens signed with node:crypto, an
// implementation independent of the edge's OpenSSL code (ECDSA with
// dsaEncoding 'ieee-p1363', the r||s form JWS uses); one token is signed by
// `wirehubctl token --private_key_file`. A refused connect token closes the
// WebSocket with 3500 "invalid token"; a refused subscription token answers
// error 103.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Env, RawClient, nowSeconds, waitFor, withTimeout } from './harness.mjs';

const env = new Env('wirehub-token-algorithms');
after(() => env.cleanup());

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

// How node:crypto signs each JWS algorithm (RFC 7518 section 3).
function jwsSignature(alg, input, key) {
  const data = Buffer.from(input);
  switch (alg) {
    case 'HS256':
      return crypto.createHmac('sha256', key).update(data).digest();
    case 'RS256':
      return crypto.sign('sha256', data, key);
    case 'RS384':
      return crypto.sign('sha384', data, key);
    case 'RS512':
      return crypto.sign('sha512', data, key);
    case 'PS256':
      return crypto.sign('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return crypto.sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'ES384':
      return crypto.sign('sha384', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA':
      return crypto.sign(null, data, key);
    default:
      throw new Error(`no signer for ${alg}`);
  }
}

/** A compact JWS: header {alg, typ, kid?} over `claims` (iat/exp filled in). */
function sign(alg, key, { kid, claims = {}, header = {}, signature } = {}) {
  const now = nowSeconds();
  const h = { alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }), ...header };
  const input = `${b64(h)}.${b64({ sub: 'user', iat: now, exp: now + 600, ...claims })}`;
  const sig = signature ?? jwsSignature(alg, input, key);
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

const keys = {
  rsa: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
  rsa2: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
  p256: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  p384: crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ed: crypto.generateKeyPairSync('ed25519'),
  ed2: crypto.generateKeyPairSync('ed25519'),
  small: crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }),
};

function writeFile(name, text) {
  const file = path.join(env.dir, name);
  fs.writeFileSync(file, text);
  return file;
}
const publicPem = (pair) => pair.publicKey.export({ type: 'spki', format: 'pem' });
const jwk = (pair, extra) => ({ ...pair.publicKey.export({ format: 'jwk' }), ...extra });

let edge;
let jwksFile;
let rsaPemFile;

function jwks(...entries) {
  return JSON.stringify({ keys: entries });
}

before(async () => {
  const control = await env.startControl();
  rsaPemFile = writeFile('rsa.pem', publicPem(keys.rsa));
  jwksFile = writeFile(
    'keys.jwks',
    jwks(
      jwk(keys.p256, { kid: 'p256', use: 'sig' }),
      jwk(keys.ed, { kid: 'ed', alg: 'EdDSA' }),
      jwk(keys.rsa2, { kid: 'rsa512', alg: 'RS512' }),
      // Skipped with a warning: no kid, and an encryption key.
      jwk(keys.ed2, {}),
      jwk(keys.rsa2, { kid: 'enc', use: 'enc' }),
    ),
  );
  const config = env.writeConfig('tokens.json', {
    defaults: { allow_subscribe_for_client: true },
    token_keys: [
      { kid: 'rsa-pem', algorithm: 'RS256', public_key_file: rsaPemFile },
      { kid: 'rsa-ps', algorithm: 'PS256', public_key_file: rsaPemFile },
      { kid: 'p384', algorithm: 'ES384', public_key_file: writeFile('p384.pem', publicPem(keys.p384)) },
    ],
    token_jwks_file: jwksFile,
  });
  // The harness passes --token_hmac_secret_file: the HS256 key without kid.
  edge = await env.startEdge(control, { config, edge_id: 'edge-algorithms' });
});

/** Connects with `token` on a raw WebSocket; resolves with the connect result. */
async function accepted(token, what) {
  const c = await RawClient.open(edge.url);
  try {
    return await c.connect(token);
  } catch (err) {
    err.message = `${what}: ${err.message}; close ${JSON.stringify(c.closeInfo)}; edge stderr:\n${edge.stderrText.slice(-1500)}`;
    throw err;
  } finally {
    c.close();
  }
}

/** Connects with `token`; asserts the edge closes with 3500 "invalid token". */
async function refused(token, what) {
  const c = await RawClient.open(edge.url);
  try {
    c.sendCommands({ id: 1, connect: { token } });
    const info = await c.waitClose(5000);
    assert.deepEqual({ code: info.code, reason: info.reason }, { code: 3500, reason: 'invalid token' }, what);
    assert.equal(c.messages.filter((m) => m.id === 1 && m.connect).length, 0, `${what}: no connect result`);
  } finally {
    c.close();
  }
}

test('every algorithm is accepted with the key its kid selects', async () => {
  const cases = [
    ['RS256', keys.rsa.privateKey, 'rsa-pem'],
    ['PS256', keys.rsa.privateKey, 'rsa-ps'],
    ['ES384', keys.p384.privateKey, 'p384'],
    ['ES256', keys.p256.privateKey, 'p256'],
    ['EdDSA', keys.ed.privateKey, 'ed'],
    ['RS512', keys.rsa2.privateKey, 'rsa512'],
    ['HS256', env.secret, undefined],
  ];
  for (const [alg, key, kid] of cases) {
    const result = await accepted(sign(alg, key, { kid, claims: { sub: `u-${alg}` } }), `${alg} kid ${kid}`);
    assert.ok(result.client, `${alg}: connect result has a client id`);
  }
});

test('the SDK connects with an EdDSA token and subscribes with an ES256 subscription token', async () => {
  const c = env.sdk(edge.url, { token: sign('EdDSA', keys.ed.privateKey, { kid: 'ed', claims: { sub: 'sdk-user' } }) });
  await c.connectAndWait();
  const subToken = sign('ES256', keys.p256.privateKey, {
    kid: 'p256',
    claims: { sub: 'sdk-user', typ: 'subscription', channel: 'alg-room' },
  });
  const sub = c.client.newSubscription('alg-room', { token: subToken });
  const subscribed = new Promise((resolve, reject) => {
    sub.once('subscribed', resolve);
    sub.once('error', (e) => reject(new Error(`subscribe failed: ${JSON.stringify(e)}`)));
  });
  sub.subscribe();
  await withTimeout(subscribed, 5000, 'subscribed with an ES256 subscription token');
  c.client.disconnect();
});

test('a subscription token of the wrong family answers 103', async () => {
  const c = await RawClient.open(edge.url);
  try {
    await c.connect(sign('HS256', env.secret, { claims: { sub: 'sub-user' } }));
    const claims = { sub: 'sub-user', typ: 'subscription', channel: 'alg-locked' };
    // Signed with the P-256 key but naming the P-384 key.
    const wrong = sign('ES256', keys.p256.privateKey, { kid: 'p384', claims });
    c.sendCommands({ id: 2, subscribe: { channel: 'alg-locked', token: wrong } });
    const reply = await c.reply(2);
    assert.equal(reply.error?.code, 103, `reply ${JSON.stringify(reply)}`);
    const right = sign('ES384', keys.p384.privateKey, { kid: 'p384', claims });
    c.sendCommands({ id: 3, subscribe: { channel: 'alg-locked', token: right } });
    const ok = await c.reply(3);
    assert.ok(ok.subscribe && !ok.error, `reply ${JSON.stringify(ok)}`);
  } finally {
    c.close();
  }
});

test('tokens are refused across families and algorithms', async () => {
  const rsaPem = publicPem(keys.rsa);
  // RS256 without kid: the only key without kid is the HMAC secret.
  await refused(sign('RS256', keys.rsa.privateKey), 'RS256 token without kid (only the HS256 key has none)');
  // The classic confusion: HS256 keyed with the RSA public key's bytes.
  await refused(sign('HS256', rsaPem, { kid: 'rsa-pem' }), 'HS256 keyed with the RSA public PEM, kid of the RSA key');
  await refused(sign('HS256', rsaPem), 'HS256 keyed with the RSA public PEM, no kid');
  // HS256 with the real secret but the RSA key's kid.
  await refused(sign('HS256', env.secret, { kid: 'rsa-pem' }), 'HS256 token naming the RSA kid');
  // ES256 token against the ES384 key, and PS256 on the RS256-pinned key.
  await refused(sign('ES256', keys.p256.privateKey, { kid: 'p384' }), 'ES256 token naming the P-384 key');
  await refused(sign('PS256', keys.rsa.privateKey, { kid: 'rsa-pem' }), 'PS256 token on the RS256 key');
  await refused(sign('RS256', keys.rsa.privateKey, { kid: 'rsa-ps' }), 'RS256 token on the PS256 key');
  // A right-family token signed by another key.
  await refused(sign('EdDSA', keys.ed2.privateKey, { kid: 'ed' }), 'EdDSA token signed by another key');
  // alg none, with and without kid; unknown algorithms.
  for (const kid of [undefined, 'ed']) {
    await refused(sign('none', null, { kid, signature: Buffer.alloc(0) }), `alg none, kid ${kid}`);
  }
  await refused(sign('HS512', null, { signature: crypto.createHmac('sha512', env.secret).update('x').digest() }), 'HS512');
  // Unknown kid, and kids of keys the JWKS skipped.
  await refused(sign('ES256', keys.p256.privateKey, { kid: 'nobody' }), 'unknown kid');
  await refused(sign('EdDSA', keys.ed2.privateKey, { kid: '' }), 'empty kid');
  await refused(sign('RS256', keys.rsa2.privateKey, { kid: 'enc' }), 'kid of a use=enc JWK');
});

test('tampered tokens and malformed ECDSA signatures are refused', async () => {
  const good = sign('ES256', keys.p256.privateKey, { kid: 'p256', claims: { sub: 'alice' } });
  await accepted(good, 'untouched ES256 token');
  const [h, p, s] = good.split('.');
  const forged = b64({ sub: 'admin', exp: nowSeconds() + 600 });
  await refused(`${h}.${forged}.${s}`, 'tampered payload');
  const sig = Buffer.from(s, 'base64url');
  sig[10] ^= 1;
  await refused(`${h}.${p}.${sig.toString('base64url')}`, 'tampered signature');
  // The DER form node produces by default is not a JWS signature.
  const der = crypto.sign('sha256', Buffer.from(`${h}.${p}`), keys.p256.privateKey);
  await refused(`${h}.${p}.${der.toString('base64url')}`, 'DER-encoded ECDSA signature');
  const raw = Buffer.from(s, 'base64url');
  await refused(`${h}.${p}.${raw.subarray(0, 63).toString('base64url')}`, '63-byte ES256 signature');
  await refused(`${h}.${p}.${Buffer.concat([raw, Buffer.alloc(1)]).toString('base64url')}`, '65-byte ES256 signature');
});

test('a token from `wirehubctl token --private_key_file` is accepted', async () => {
  const keyFile = writeFile('p256.key', keys.p256.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const { stdout } = await env.ctl([
    'token',
    '--user=ctl-user',
    `--private_key_file=${keyFile}`,
    '--algorithm=ES256',
    '--kid=p256',
  ]);
  const token = stdout.trim();
  const [header] = token.split('.');
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url')), { alg: 'ES256', kid: 'p256', typ: 'JWT' });
  const result = await accepted(token, 'wirehubctl ES256 token');
  assert.ok(result.client);
  // The same key under another kid is refused.
  const { stdout: other } = await env.ctl(['token', '--user=ctl-user', `--private_key_file=${keyFile}`, '--algorithm=ES256', '--kid=p384']);
  await refused(other.trim(), 'wirehubctl ES256 token naming the P-384 key');
});

test('SIGHUP re-reads the JWKS: a new kid is accepted without a restart, a broken file keeps the old keys', async () => {
  const rotated = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const token = sign('ES256', rotated.privateKey, { kid: 'rotated', claims: { sub: 'rotating' } });
  await refused(token, 'kid "rotated" before the reload');

  // A connection made before the reload stays.
  const before = await RawClient.open(edge.url, { autoPong: true });
  await before.connect(sign('EdDSA', keys.ed.privateKey, { kid: 'ed', claims: { sub: 'old' } }));

  fs.writeFileSync(
    jwksFile,
    jwks(jwk(keys.p256, { kid: 'p256' }), jwk(keys.ed, { kid: 'ed', alg: 'EdDSA' }), jwk(rotated, { kid: 'rotated', alg: 'ES256' })),
  );
  const reloads = () => edge.stderrText.split('\n').filter((l) => l.includes('SIGHUP: token keys reloaded')).length;
  const reloadsBefore = reloads();
  edge.child.kill('SIGHUP');
  await waitFor(() => reloads() > reloadsBefore, 5000, `"SIGHUP: token keys reloaded" in the edge log; stderr:\n${edge.stderrText.slice(-1500)}`);
  // The set is swapped on the loop right after the log line; allow for it.
  await waitFor(async () => {
    try {
      await accepted(token, 'kid "rotated" after the reload');
      return true;
    } catch {
      return false;
    }
  }, 5000, 'the rotated key to verify tokens');
  // RS512 left the JWKS with the rewrite.
  await refused(sign('RS512', keys.rsa2.privateKey, { kid: 'rsa512' }), 'kid "rsa512" after it left the JWKS');
  assert.equal(before.isOpen, true, 'the connection made before the reload is still open');

  // A broken JWKS: logged, and the keys in use stay.
  fs.writeFileSync(jwksFile, jwks(jwk(keys.p384, { kid: 'bad', alg: 'ES256' })));
  const kept = () => edge.stderrText.split('\n').filter((l) => l.includes('SIGHUP: token keys not reloaded')).length;
  const keptBefore = kept();
  edge.child.kill('SIGHUP');
  await waitFor(() => kept() > keptBefore, 5000, `"SIGHUP: token keys not reloaded" in the edge log; stderr:\n${edge.stderrText.slice(-1500)}`);
  const line = edge.stderrText.split('\n').filter((l) => l.includes('SIGHUP: token keys not reloaded')).pop();
  assert.match(line, /kid "bad"/, `the error names the kid: ${line}`);
  assert.ok(line.includes(jwksFile), `the error names the file: ${line}`);
  await accepted(token, 'kid "rotated" after a refused reload');
  before.close();
});

test('an edge with token_keys alone starts without a secret; a key that does not fit its algorithm stops it', async () => {
  const control = env.control;
  const config = env.writeConfig('keys-only.json', {
    defaults: { allow_subscribe_for_client: true },
    token_keys: [{ kid: 'ed-only', algorithm: 'EdDSA', public_key_file: writeFile('ed.pem', publicPem(keys.ed)) }],
  });
  const keysOnly = env.spawnBinary('wirehub-edge[keys-only]', 'wirehub-edge', [
    '--admin_listen=127.0.0.1:0',
    '--drain_delay=0s',
    '--listen=127.0.0.1:0',
    `--control=${control.edgeAddress ?? control.address}`,
    `--config=${config}`,
  ]);
  const m = await keysOnly.waitForLine(/^wirehub-edge: websocket listening on (ws:\/\/\S+)$/, 10_000);
  const c = await RawClient.open(m[1]);
  await c.connect(sign('EdDSA', keys.ed.privateKey, { kid: 'ed-only' }));
  c.close();
  const hs = await RawClient.open(m[1]);
  hs.sendCommands({ id: 1, connect: { token: sign('HS256', env.secret) } });
  assert.equal((await hs.waitClose(5000)).code, 3500, 'no HS256 secret on this edge');
  hs.close();
  await keysOnly.stop();

  const misfit = env.writeConfig('misfit.json', {
    token_keys: [{ kid: 'wrong-curve', algorithm: 'ES256', public_key_file: writeFile('p384-b.pem', publicPem(keys.p384)) }],
  });
  const small = env.writeConfig('small.json', {
    token_keys: [{ kid: 'tiny', algorithm: 'RS256', public_key_file: writeFile('small.pem', publicPem(keys.small)) }],
  });
  const none = env.writeConfig('no-keys.json', { defaults: { allow_subscribe_for_client: true } });
  for (const [file, expected] of [
    [misfit, /token_keys\[0\] \(kid "wrong-curve"\).*ES256 needs an EC key on P-256/],
    [small, /token_keys\[0\] \(kid "tiny"\).*at least 2048 bits/],
    [none, /no token key/],
  ]) {
    const bad = env.spawnBinary('wirehub-edge[bad-keys]', 'wirehub-edge', [
      '--admin_listen=127.0.0.1:0',
      '--listen=127.0.0.1:0',
      `--control=${control.edgeAddress ?? control.address}`,
      `--config=${file}`,
    ]);
    bad.expectExit({ code: 2 });
    bad.child.stdout.resume();
    const info = await withTimeout(bad.exited, 10_000, `wirehub-edge with ${path.basename(file)} to exit`);
    assert.equal(info.code, 2, `exit code with ${path.basename(file)}; stderr:\n${bad.stderrText}`);
    assert.match(bad.stderrText, expected, `stderr with ${path.basename(file)}`);
  }
});
