// The private edge link with mutual TLS (issue 13, point 2): control's edge
// link requires a client certificate from its CA (--edge_tls_*), the edge
// verifies control and presents its own (--control_tls_*). An edge with a
// certificate from the CA attaches, delivers publications and answers its
// clients' history and presence over the link; an edge with no client
// certificate, with one from another CA, or that does not trust control's CA
// does not attach, keeps running and retrying, and logs why (gRPC's status)
// without flooding its log. After a control restart the edge attaches again
// over TLS.
//
// Every certificate is made here with the `openssl` CLI in the env's temp
// directory: a CA, control's server certificate (SAN IP:127.0.0.1), an edge
// client certificate from the CA, and another CA with a client certificate
// of its own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Env, sleep, u64, waitFor } from './harness.mjs';

const env = new Env('wirehub-edge-link-tls');
after(() => env.cleanup());

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [
    {
      name: 'chat',
      options: {
        allow_subscribe_for_client: true,
        history_size: 10,
        history_ttl: '60s',
        allow_history_for_subscriber: true,
        presence: true,
        allow_presence_for_subscriber: true,
      },
    },
  ],
};

/** How long a refused edge is watched: several of its retries (100 ms doubling to 5 s). */
const REFUSED_WATCH_MS = 3000;
const ATTACH_FAILED = 'control link attach to';

let pki;
let configFile;
let control;
let edge; // the edge with a valid client certificate

function openssl(args) {
  try {
    execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? err.message}`);
  }
}

/** A self-signed CA: NAME.pem and NAME.key. */
function makeCa(name) {
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A certificate NAME.pem (and NAME.key) signed by CA with the extensions `ext` (openssl config lines). */
function issue(ca, name, ext) {
  openssl([
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`,
  ]);
  fs.writeFileSync(path.join(pki, `${name}.ext`), `${ext.join('\n')}\n`);
  openssl([
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '1', '-sha256',
    '-extfile', `${name}.ext`, '-out', `${name}.pem`,
  ]);
}

const file = (name) => path.join(pki, name);

/** The edge flags of a client certificate NAME (NAME.pem, NAME.key) verifying control with CA. */
function edgeTls(ca, name) {
  const flags = { control_tls_ca_file: file(`${ca}.pem`) };
  if (name) {
    flags.control_tls_cert_file = file(`${name}.pem`);
    flags.control_tls_key_file = file(`${name}.key`);
  }
  return flags;
}

async function edgeIds() {
  const stats = await env.stats(control);
  return (stats.edges ?? []).map((e) => e.id).sort();
}

/** Lines of `proc`'s stderr saying an attach failed. */
const attachFailures = (proc) => proc.stderrText.split('\n').filter((l) => l.includes(ATTACH_FAILED));

/**
 * Starts an edge that control must refuse, watches it for REFUSED_WATCH_MS
 * and checks that it never attached, still runs, and logged the reason once
 * (the same reason is repeated at most every 5 s). Returns the log line.
 */
async function expectRefused(edgeId, flags) {
  const refused = await env.startEdge(control, { edge_id: edgeId, config: configFile, ...flags });
  const line = await waitFor(() => attachFailures(refused)[0], 10_000, `${edgeId} to log a failed attach`);
  await sleep(REFUSED_WATCH_MS);
  assert.ok(refused.running, `${edgeId} keeps running: ${refused.stderrText}`);
  // Before the valid edge attaches control lists no edge at all.
  assert.deepEqual(await edgeIds(), edge ? ['edge-tls'] : [], `${edgeId} is not among control's edges`);
  assert.ok(!refused.stderrText.includes('attached to control'), `${edgeId} never attached: ${refused.stderrText}`);
  const lines = attachFailures(refused);
  assert.equal(lines.length, 1, `the reason is logged once, not per retry: ${lines.join('\n')}`);
  assert.match(line, new RegExp(`${ATTACH_FAILED} ${control.edgeAddress} failed: .+ \\(14\\)`), 'gRPC UNAVAILABLE with its message');
  await refused.stop();
  return line;
}

before(async () => {
  pki = path.join(env.dir, 'pki');
  fs.mkdirSync(pki);
  makeCa('ca');
  makeCa('other-ca');
  issue('ca', 'control', ['basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1']);
  issue('ca', 'edge', ['basicConstraints=CA:FALSE', 'extendedKeyUsage=clientAuth']);
  issue('other-ca', 'stranger', ['basicConstraints=CA:FALSE', 'extendedKeyUsage=clientAuth']);

  configFile = env.writeConfig('config.json', config);
  control = await env.startControl([
    `--config=${configFile}`,
    `--edge_tls_cert_file=${file('control.pem')}`,
    `--edge_tls_key_file=${file('control.key')}`,
    `--edge_tls_client_ca_file=${file('ca.pem')}`,
  ]);
});

test('an edge without a client certificate does not attach and logs why', async () => {
  const line = await expectRefused('edge-nocert', edgeTls('ca', null));
  assert.ok(line.includes(`[TLS: control verified with ${file('ca.pem')}, no client certificate]`), line);
});

test("an edge with a client certificate from another CA does not attach and logs why", async () => {
  const line = await expectRefused('edge-stranger', edgeTls('ca', 'stranger'));
  assert.ok(line.includes(`client certificate ${file('stranger.pem')}]`), line);
});

test("an edge that does not trust control's CA does not attach and logs why", async () => {
  const line = await expectRefused('edge-distrust', edgeTls('other-ca', 'edge'));
  assert.match(line, /certificate verify failed|CERTIFICATE_VERIFY_FAILED|handshake/i, 'the reason names the verification');
});

test('an edge with a client certificate from the CA attaches over mutual TLS and delivers', async () => {
  edge = await env.startEdge(control, { edge_id: 'edge-tls', config: configFile, ...edgeTls('ca', 'edge') });
  await env.waitStats((s) => (s.edges ?? []).some((e) => e.id === 'edge-tls'), 10_000, 'edge-tls attached');
  await waitFor(() => edge.stderrText.includes('over TLS'), 5000, 'the edge to log its TLS attach');
  assert.deepEqual(attachFailures(edge), [], 'no failed attach on the way');

  const alice = env.sdk(edge.url, { token: env.connToken({ sub: 'alice' }) });
  await alice.connectAndWait();
  await alice.subscribeAndWait('chat:tls');
  const pos = await env.publish('chat:tls', { n: 1 }, control);
  const pub = await alice.waitPublication('chat:tls', (d) => d?.n === 1, 5000, 'the publication over the TLS link');
  assert.equal(pub.offset, pos.offset);
});

test("the edge's client history and presence go over the TLS link", async () => {
  const bob = env.sdk(edge.url, { token: env.connToken({ sub: 'bob' }) });
  await bob.connectAndWait();
  const rec = await bob.subscribeAndWait('chat:reads');
  for (let n = 1; n <= 3; n++) await env.publish('chat:reads', { n }, control);
  await bob.waitPublication('chat:reads', (d) => d?.n === 3, 5000);

  const h = await rec.sub.history({ limit: 10 });
  assert.deepEqual(h.publications.map((p) => p.data.n), [1, 2, 3], JSON.stringify(h));
  const p = await rec.sub.presence();
  assert.deepEqual(Object.values(p.clients).map((c) => c.user), ['bob'], JSON.stringify(p));
  const s = await rec.sub.presenceStats();
  assert.equal(u64(s.numClients), 1, JSON.stringify(s));
  assert.equal(u64(s.numUsers), 1, JSON.stringify(s));
});

test('a bad --control_tls_* set stops the edge at start-up with a message', async () => {
  const bad = env.spawnBinary('wirehub-edge[bad-tls]', 'wirehub-edge', [
    '--admin_listen=127.0.0.1:0',
    '--listen=127.0.0.1:0',
    `--control=${control.edgeAddress}`,
    `--token_hmac_secret_file=${env.secretFile}`,
    `--control_tls_ca_file=${file('ca.pem')}`,
    `--control_tls_cert_file=${file('edge.pem')}`,
    `--control_tls_key_file=${file('stranger.key')}`,
  ]);
  bad.expectExit({ code: 2 });
  const { code } = await Promise.race([bad.exited, sleep(10_000).then(() => ({ code: 'still running' }))]);
  assert.equal(code, 2, bad.stderrText);
  assert.match(bad.stderrText, /control link TLS: .*does not belong to the certificate/);
});

test('the valid edge is still the only one attached', async () => {
  assert.deepEqual(await edgeIds(), ['edge-tls']);
});

test('after a control restart the edge attaches again over TLS and delivers', async () => {
  const controlArgs = control.args.filter((a) => !a.startsWith('--grpc_listen=') && !a.startsWith('--edge_listen='));
  await control.stop();
  control = await env.startControl([...controlArgs, `--grpc_listen=${control.address}`, `--edge_listen=${control.edgeAddress}`]);
  env.control = control;
  await env.waitStats((s) => (s.edges ?? []).some((e) => e.id === 'edge-tls'), 15_000, 'edge-tls attached again');
  assert.equal((edge.stderrText.match(/attached to control at \S+ over TLS/g) ?? []).length, 2, edge.stderrText);

  const carol = env.sdk(edge.url, { token: env.connToken({ sub: 'carol' }) });
  await carol.connectAndWait();
  await carol.subscribeAndWait('chat:again');
  await env.publish('chat:again', { n: 1 }, control);
  await carol.waitPublication('chat:again', (d) => d?.n === 1, 5000, 'a publication after the restart');
});
