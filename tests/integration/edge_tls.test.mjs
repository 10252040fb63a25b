// wss at the edge (issue 13, point 1): with --tls_cert_file/--tls_key_file
// the listener speaks TLS (banner wss://...), the npm centrifuge SDK connects
// over wss with the test CA, subscribes and receives; the TLS profile is
// Mozilla's intermediate one (TLS 1.0/1.1, a CBC cipher and non-ECDHE key
// exchange refused, 1.2 with ECDHE+AEAD and 1.3 accepted, with an RSA and an
// ECDSA certificate; no client-initiated renegotiation); a client that never finishes the TLS handshake is cut at
// handshake_timeout; certificates rotate without dropping connections, by a
// Kubernetes-style `..data` symlink swap in the watched directory and on
// SIGHUP, and a bad pair is refused with a log line while the old one stays.
//
// Certificates come from tls_util.mjs (openssl, in the test's temp dir).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

import { Env, WebSocket, sleep, waitFor, withTimeout } from './harness.mjs';
import { exchange, openSocket, upgradeRequest } from './handshake_util.mjs';
import {
  SecretDir, makeCa, makeMismatchedPair, makeServerCert, mentionsSerial, sClient, servedSerial,
} from './tls_util.mjs';

const env = new Env('wirehub-edge-tls');
after(() => env.cleanup());

const HANDSHAKE_TIMEOUT_MS = 2000;
const INSTALLED = 'tls: installed certificate';
const KEPT = 'tls: keeping the current certificate';
const LOG_WAIT_MS = 5000;

let ca;
let certs; // name -> {cert, key, serialHex}
let secret; // SecretDir watched by `edge`
let edge;
let client; // SDK client over wss, subscribed to 'tls-news' for the whole file
let newsSeq = 0;

before(async () => {
  const pki = path.join(env.dir, 'pki');
  ca = await makeCa(pki);
  const made = await Promise.all([
    makeServerCert(pki, ca, { name: 'v1', serial: 0x5a17c001n }),
    makeServerCert(pki, ca, { name: 'v2', serial: 0x5a17c002n }),
    makeMismatchedPair(pki, ca, { name: 'bad', serial: 0x5a17cbadn }),
    makeServerCert(pki, ca, { name: 'h1', serial: 0x5a17d001n }),
    makeServerCert(pki, ca, { name: 'h2', serial: 0x5a17d002n }),
    makeMismatchedPair(pki, ca, { name: 'hbad', serial: 0x5a17dbadn }),
  ]);
  certs = Object.fromEntries(['v1', 'v2', 'bad', 'h1', 'h2', 'hbad'].map((n, i) => [n, made[i]]));
  secret = new SecretDir(path.join(env.dir, 'secret'));
  secret.install('v1', certs.v1).activate('v1');

  const control = await env.startControl();
  edge = await env.startEdge(control, {
    edge_id: 'edge-tls',
    config: env.writeConfig('tls.json', {
      defaults: { allow_subscribe_for_client: true },
      limits: { handshake_timeout: `${HANDSHAKE_TIMEOUT_MS / 1000}s` },
    }),
    tls_cert_file: secret.certFile,
    tls_key_file: secret.keyFile,
  });
  client = env.sdk(edge.url, { token: await env.token('tls-user'), wsOptions: { ca: ca.certPem } });
});

/** Publishes to 'tls-news'; the long-lived wss client gets it on its first connection. */
async function clientStillReceives(afterWhat, sdk = client, channel = 'tls-news') {
  newsSeq += 1;
  const seq = newsSeq;
  const pos = await env.publish(channel, { seq, afterWhat });
  const pub = await sdk.waitPublication(channel, (d) => d && d.seq === seq, 5000, `publication over wss after ${afterWhat}`);
  assert.equal(pub.offset, pos.offset);
  assert.equal(sdk.state, 'connected', `wss client still connected after ${afterWhat}`);
  assert.equal(sdk.sockets.length, 1, `wss client never reconnected (after ${afterWhat})`);
}

/** A new SDK client over wss trusting the test CA connects, subscribes and receives. */
async function newClientWorks(label, url = edge.url) {
  const c = env.sdk(url, { token: await env.token(`fresh-${label}`), wsOptions: { ca: ca.certPem } });
  await c.connectAndWait();
  await c.subscribeAndWait('fresh');
  const pos = await env.publish('fresh', { label });
  const pub = await c.waitPublication('fresh', (d) => d && d.label === label, 5000, `fresh client publication (${label})`);
  assert.equal(pub.offset, pos.offset);
  c.close();
}

const linesWith = (proc, needle) => proc.stderrText.split('\n').filter((l) => l.includes(needle));

async function waitLog(proc, pred, what) {
  return waitFor(() => proc.stderrText.split('\n').find(pred), LOG_WAIT_MS, `${what}; stderr tail:\n${proc.stderrText.slice(-3000)}`);
}

test('the banner says wss:// and the centrifuge SDK connects over wss with the test CA, subscribes and receives', async () => {
  assert.match(edge.url, /^wss:\/\/127\.0\.0\.1:\d+\/connection\/websocket$/);
  await client.connectAndWait();
  await client.subscribeAndWait('tls-news');
  await clientStillReceives('connect');
});

test('the wss port speaks only TLS: plain ws gets no 101, and a client without the CA refuses the certificate', async () => {
  const plain = await exchange(edge.port, upgradeRequest(edge.port), { timeoutMs: 3000 });
  assert.notEqual(plain.status, 101, `plain HTTP on the TLS port: ${JSON.stringify(plain.raw)}`);
  const ws = new WebSocket(edge.url);
  const err = await withTimeout(
    new Promise((resolve) => {
      ws.once('open', () => resolve(null));
      ws.once('error', resolve);
    }),
    5000,
    'a wss client without the CA to fail',
  );
  ws.terminate();
  assert.ok(err, 'a client that does not trust the test CA must not connect');
  assert.match(String(err.code ?? err.message), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/i, String(err.message));
  await clientStillReceives('plain and untrusted clients');
});

// [what, s_client args] per case. TLS 1.0/1.1 need the client's own floor
// lowered (Debian's openssl refuses them by itself otherwise).
const OLD = ['-cipher', 'DEFAULT:@SECLEVEL=0'];
const REFUSED = [
  ['TLS 1.0', ['-tls1', ...OLD]],
  ['TLS 1.1', ['-tls1_1', ...OLD]],
  ['TLS 1.2 ECDHE-RSA-AES128-SHA256 (CBC)', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA256']],
  ['TLS 1.2 ECDHE-RSA-AES256-SHA384 (CBC)', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-SHA384']],
  ['TLS 1.2 ECDHE-RSA-AES128-SHA (CBC, SHA-1)', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA:@SECLEVEL=0']],
  ['TLS 1.2 AES128-GCM-SHA256 (RSA key exchange)', ['-tls1_2', '-cipher', 'AES128-GCM-SHA256']],
  ['TLS 1.2 DHE-RSA-AES128-GCM-SHA256 (finite-field DHE)', ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256']],
];
const ACCEPTED = [
  ['TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], 'TLSv1.2'],
  ['TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384'], 'TLSv1.2'],
  ['TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305', ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305'], 'TLSv1.2'],
  ['TLS 1.3', ['-tls1_3'], 'TLSv1.3'],
];

test('the probes can fail: each refused case connects to a permissive TLS server', async () => {
  const server = tls.createServer(
    {
      cert: fs.readFileSync(certs.v1.cert),
      key: fs.readFileSync(certs.v1.key),
      minVersion: 'TLSv1',
      ciphers: 'ALL:@SECLEVEL=0',
      dhparam: 'auto',
    },
    (socket) => {
      socket.on('error', () => {});
      socket.end();
    },
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    for (const [what, args] of REFUSED) {
      const r = await sClient(server.address().port, args, { caFile: ca.cert });
      assert.ok(r.ok, `${what} against a permissive server (else the edge test proves nothing): ${r.output.slice(0, 1500)}`);
    }
  } finally {
    server.close();
  }
});

test('TLS profile: 1.0, 1.1, CBC ciphers and non-ECDHE key exchange refused; 1.2 ECDHE+AEAD and 1.3 accepted', async () => {
  for (const [what, args] of REFUSED) {
    const r = await sClient(edge.port, args, { caFile: ca.cert });
    assert.ok(!r.ok, `${what} must be refused; negotiated ${r.protocol} ${r.cipher}`);
  }
  for (const [what, args, protocol] of ACCEPTED) {
    const r = await sClient(edge.port, args, { caFile: ca.cert });
    assert.ok(r.ok, `${what} must be accepted: ${r.output.slice(0, 2000)}`);
    assert.equal(r.protocol, protocol, what);
    assert.ok(r.verified, `${what}: the chain verifies against the test CA`);
  }
  await clientStillReceives('TLS probes');
});

test('an ECDSA certificate: ECDHE-ECDSA with AEAD accepted, CBC refused, the SDK connects', async () => {
  const pki = path.join(env.dir, 'pki');
  const ec = await makeServerCert(pki, ca, { name: 'ec', serial: 0x5a17ec01n, keyType: 'ec' });
  const ecEdge = await env.startEdge(env.control, { edge_id: 'edge-tls-ecdsa', tls_cert_file: ec.cert, tls_key_file: ec.key });
  for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
    const r = await sClient(ecEdge.port, ['-tls1_2', '-cipher', cipher], { caFile: ca.cert });
    assert.ok(r.ok && r.cipher === cipher, `${cipher} must be accepted: ${r.output.slice(0, 2000)}`);
  }
  for (const cipher of ['ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384']) {
    const r = await sClient(ecEdge.port, ['-tls1_2', '-cipher', cipher], { caFile: ca.cert });
    assert.ok(!r.ok, `${cipher} must be refused; negotiated ${r.protocol} ${r.cipher}`);
  }
  assert.equal(await servedSerial(ecEdge.port, { caFile: ca.cert }), ec.serialHex);
  await newClientWorks('ecdsa', ecEdge.url);
});

test('no client-initiated renegotiation (TLS 1.2)', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn('openssl', [
    's_client', '-connect', `127.0.0.1:${edge.port}`, '-servername', 'localhost', '-tls1_2', '-msg', '-CAfile', ca.cert,
  ]);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  child.stdin.on('error', () => {});
  const serverHellos = () => out.split('\n').filter((l) => /^<<< TLS 1\.2, Handshake \[length [0-9a-f]+\], ServerHello$/.test(l)).length;
  try {
    await waitFor(() => /Verify return code/.test(out), 5000, `the first handshake; output: ${out.slice(0, 2000)}`);
    assert.equal(serverHellos(), 1);
    child.stdin.write('R\n'); // s_client: renegotiate
    await waitFor(() => /RENEGOTIATING/.test(out), 3000, 's_client to start renegotiating');
    await sleep(1500);
    assert.equal(serverHellos(), 1, `the edge must not answer a renegotiation ClientHello; output:\n${out.slice(-3000)}`);
  } finally {
    child.kill('SIGKILL');
  }
  await clientStillReceives('a renegotiation attempt');
});

test('handshake_timeout covers TLS: a client that never finishes the TLS handshake is cut', async () => {
  const silent = await openSocket(edge.port);
  const partial = await openSocket(edge.port);
  const sockets = [silent, partial];
  const closedAt = new Map();
  const openedAt = Date.now();
  for (const s of sockets) s.once('close', () => closedAt.set(s, Date.now()));
  partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])); // the start of a ClientHello, never finished
  try {
    await waitFor(() => closedAt.size === 2, HANDSHAKE_TIMEOUT_MS + 4000, 'the edge to cut the unfinished TLS handshakes').catch((err) => {
      const open = [['silent', silent], ['partial ClientHello', partial]].filter(([, s]) => !closedAt.has(s)).map(([w]) => w);
      throw new Error(`${err.message}; still open: ${open.join(', ')}`);
    });
    for (const [what, s] of [['silent', silent], ['partial ClientHello', partial]]) {
      const after = closedAt.get(s) - openedAt;
      assert.ok(after >= HANDSHAKE_TIMEOUT_MS - 200 && after <= HANDSHAKE_TIMEOUT_MS + 2500, `${what}: cut after ${after} ms`);
    }
  } finally {
    for (const s of sockets) s.destroy();
  }
  await clientStillReceives('unfinished TLS handshakes');
});

test('rotation by ..data symlink swap: the new pair is installed without dropping connections; a bad pair is refused and the old one stays', async () => {
  assert.equal(await servedSerial(edge.port, { caFile: ca.cert }), certs.v1.serialHex);

  // A good pair.
  secret.install('v2', certs.v2).activate('v2');
  await waitLog(edge, (l) => l.includes(INSTALLED) && mentionsSerial(l, certs.v2.serialHex), `"${INSTALLED}" naming serial ${certs.v2.serialHex}`);
  assert.equal(await servedSerial(edge.port, { caFile: ca.cert }), certs.v2.serialHex, 'a new handshake sees the new certificate');
  await clientStillReceives('rotation to v2');
  await newClientWorks('after-v2');

  // A certificate with another key: refused, v2 stays.
  let kept = linesWith(edge, KEPT).length;
  secret.install('bad', certs.bad).activate('bad');
  await waitLog(edge, () => linesWith(edge, KEPT).length > kept, `"${KEPT}" for a certificate whose key does not match`);
  assert.equal(await servedSerial(edge.port, { caFile: ca.cert }), certs.v2.serialHex, 'the old pair stays after a mismatched one');
  assert.ok(!linesWith(edge, INSTALLED).some((l) => mentionsSerial(l, certs.bad.serialHex)), 'the mismatched certificate was not installed');
  await clientStillReceives('a mismatched pair');
  await newClientWorks('after-bad');

  // An unparsable certificate: refused, v2 stays.
  kept = linesWith(edge, KEPT).length;
  const junk = path.join(env.dir, 'pki', 'junk.crt');
  fs.writeFileSync(junk, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  secret.install('junk', { cert: junk, key: certs.v2.key }).activate('junk');
  await waitLog(edge, () => linesWith(edge, KEPT).length > kept, `"${KEPT}" for an unparsable certificate`);
  assert.equal(await servedSerial(edge.port, { caFile: ca.cert }), certs.v2.serialHex, 'the old pair stays after an unparsable one');
  await clientStillReceives('an unparsable pair');

  // An unparsable key: refused, v2 stays.
  kept = linesWith(edge, KEPT).length;
  const junkKey = path.join(env.dir, 'pki', 'junk.key');
  fs.writeFileSync(junkKey, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
  secret.install('junkkey', { cert: certs.v1.cert, key: junkKey }).activate('junkkey');
  await waitLog(edge, () => linesWith(edge, KEPT).length > kept, `"${KEPT}" for an unparsable key`);
  assert.equal(await servedSerial(edge.port, { caFile: ca.cert }), certs.v2.serialHex, 'the old pair stays after an unparsable key');
  await clientStillReceives('an unparsable key');

  // Back to a good pair after the bad ones.
  secret.install('v1again', certs.v1).activate('v1again');
  await waitLog(edge, (l) => l.includes(INSTALLED) && mentionsSerial(l, certs.v1.serialHex), `"${INSTALLED}" naming serial ${certs.v1.serialHex}`);
  assert.equal(await servedSerial(edge.port, { caFile: ca.cert }), certs.v1.serialHex);
  await clientStillReceives('rotation back to v1');
  assert.ok(edge.running, 'the edge is still running');
});

test('SIGHUP re-reads the files: a good pair is installed, a bad one refused, connections stay', async (t) => {
  // The files are hard links to files in another directory, rewritten in
  // place there: the directory the edge watches sees no event (inotify
  // reports a child's change to the directory it was opened through), so
  // only SIGHUP can notice.
  const store = path.join(env.dir, 'store');
  const linkDir = path.join(env.dir, 'hup');
  fs.mkdirSync(store);
  fs.mkdirSync(linkDir);
  const put = (pair) => {
    fs.writeFileSync(path.join(store, 'current.crt'), fs.readFileSync(pair.cert));
    fs.writeFileSync(path.join(store, 'current.key'), fs.readFileSync(pair.key));
  };
  put(certs.h1);
  fs.linkSync(path.join(store, 'current.crt'), path.join(linkDir, 'tls.crt'));
  fs.linkSync(path.join(store, 'current.key'), path.join(linkDir, 'tls.key'));
  const hupEdge = await env.startEdge(env.control, {
    edge_id: 'edge-tls-hup',
    tls_cert_file: path.join(linkDir, 'tls.crt'),
    tls_key_file: path.join(linkDir, 'tls.key'),
  });
  const watcher = env.sdk(hupEdge.url, { token: await env.token('hup-user'), wsOptions: { ca: ca.certPem } });
  await watcher.connectAndWait();
  await watcher.subscribeAndWait('hup-news');
  assert.equal(await servedSerial(hupEdge.port, { caFile: ca.cert }), certs.h1.serialHex);

  put(certs.h2);
  await sleep(1000);
  if ((await servedSerial(hupEdge.port, { caFile: ca.cert })) === certs.h2.serialHex) {
    t.skip('the edge noticed a change outside the watched directory by itself; this test cannot tell SIGHUP apart');
    return;
  }
  hupEdge.child.kill('SIGHUP');
  await waitLog(hupEdge, (l) => l.includes(INSTALLED) && mentionsSerial(l, certs.h2.serialHex), `"${INSTALLED}" naming ${certs.h2.serialHex} after SIGHUP`);
  assert.equal(await servedSerial(hupEdge.port, { caFile: ca.cert }), certs.h2.serialHex);
  await clientStillReceives('SIGHUP with a good pair', watcher, 'hup-news');

  const kept = linesWith(hupEdge, KEPT).length;
  put(certs.hbad);
  hupEdge.child.kill('SIGHUP');
  await waitLog(hupEdge, () => linesWith(hupEdge, KEPT).length > kept, `"${KEPT}" after SIGHUP with a mismatched pair`);
  assert.equal(await servedSerial(hupEdge.port, { caFile: ca.cert }), certs.h2.serialHex);
  await clientStillReceives('SIGHUP with a bad pair', watcher, 'hup-news');
  assert.ok(hupEdge.running, 'SIGHUP does not stop the edge');
});
