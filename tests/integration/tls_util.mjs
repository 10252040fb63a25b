// Test certificates and TLS probes for the wss tests, made with the `openssl`
// CLI in a test's temp dir (nothing here is committed): a CA, server
// certificates for 127.0.0.1 and localhost with chosen serials, a certificate
// with someone else's key, a Kubernetes-style secret directory whose `..data`
// symlink can be swapped atomically, and `openssl s_client` runs.

import { execFile } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Bound for one openssl run (RSA key generation included). */
const OPENSSL_TIMEOUT_MS = 20_000;

/**
 * Runs `openssl ...args` with `input` on stdin; resolves {code, stdout,
 * stderr} whatever the exit status (a refused handshake is a result here).
 */
export function openssl(args, { input = '', timeoutMs = OPENSSL_TIMEOUT_MS, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'openssl',
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', cwd, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && err.killed) {
          reject(new Error(`openssl ${args.join(' ')} timed out after ${timeoutMs} ms; stderr: ${stderr}`));
          return;
        }
        if (err && typeof err.code !== 'number') {
          reject(new Error(`openssl ${args.join(' ')} could not run: ${err.message}`));
          return;
        }
        resolve({ code: err ? err.code : 0, stdout, stderr });
      },
    );
    child.stdin.on('error', () => {}); // an early exit is reported above
    child.stdin.end(input);
  });
}

/** Runs openssl and rejects unless it exits 0. */
async function mustOpenssl(args, options) {
  const r = await openssl(args, options);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
  return r;
}

/**
 * Makes a self-signed RSA CA in `dir`: resolves {cert, key, certPem} (paths
 * and the certificate's PEM text).
 */
export async function makeCa(dir, name = 'wirehub test CA') {
  fs.mkdirSync(dir, { recursive: true });
  const base = name.replace(/[^A-Za-z0-9]+/g, '-');
  const cnf = path.join(dir, `${base}.cnf`);
  fs.writeFileSync(
    cnf,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      `CN = ${name}`,
      '[v3_ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const cert = path.join(dir, `${base}.crt`);
  const key = path.join(dir, `${base}.key`);
  await mustOpenssl([
    'req', '-x509', '-new', '-config', cnf, '-extensions', 'v3_ca', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2',
  ]);
  return { cert, key, certPem: fs.readFileSync(cert, 'utf8') };
}

/**
 * Makes a server certificate (RSA 2048, or ECDSA P-256 with `keyType: 'ec'`)
 * signed by `ca` for IP:127.0.0.1 and DNS:localhost with serial `serial` (a
 * BigInt or a number). Writes
 * `${name}.crt` (the certificate followed by the CA's, a chain) and
 * `${name}.key` in `dir`. Resolves {cert, key, serialHex} with serialHex as
 * `openssl x509 -serial` prints it (upper case).
 */
export async function makeServerCert(dir, ca, { name = 'server', serial, keyType = 'rsa' }) {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const leaf = path.join(dir, `${name}.leaf.crt`);
  const ext = path.join(dir, `${name}.ext`);
  const cert = path.join(dir, `${name}.crt`);
  fs.writeFileSync(
    ext,
    [
      'basicConstraints = CA:FALSE',
      `keyUsage = critical,digitalSignature${keyType === 'ec' ? '' : ',keyEncipherment'}`,
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
      'authorityKeyIdentifier = keyid,issuer',
      '',
    ].join('\n'),
  );
  const serialHex = BigInt(serial).toString(16).toUpperCase();
  const newKey = keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  await mustOpenssl(['req', '-new', ...newKey, '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  await mustOpenssl([
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${serialHex}`,
    '-days', '2', '-extfile', ext, '-out', leaf,
  ]);
  fs.writeFileSync(cert, fs.readFileSync(leaf, 'utf8') + ca.certPem);
  return { cert, key, serialHex, leafPem: fs.readFileSync(leaf, 'utf8') };
}

/** Writes a fresh RSA key to `file` (one that matches no certificate). */
export async function makeKey(file) {
  await mustOpenssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file]);
  return file;
}

/**
 * A certificate (signed by `ca`, serial `serial`) with another key than its
 * own: resolves {cert, key, serialHex}. An edge must refuse to install it.
 */
export async function makeMismatchedPair(dir, ca, { name = 'mismatched', serial }) {
  const good = await makeServerCert(dir, ca, { name, serial });
  const other = path.join(dir, `${name}.other.key`);
  await makeKey(other);
  return { cert: good.cert, key: other, serialHex: good.serialHex };
}

/**
 * base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in
 * `certPem`, as Chromium's --ignore-certificate-errors-spki-list wants it.
 */
export function spkiSha256Base64(certPem) {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * A Kubernetes-style secret directory: `dir/<version>/tls.crt|tls.key`,
 * `dir/..data -> <version>`, `dir/tls.crt -> ..data/tls.crt` (and tls.key).
 * `install(version, {cert, key})` copies a pair into `dir/<version>/`;
 * `activate(version)` swaps `..data` atomically (a temporary symlink renamed
 * over it), as the kubelet does.
 */
export class SecretDir {
  constructor(dir) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
    this.certFile = path.join(dir, 'tls.crt');
    this.keyFile = path.join(dir, 'tls.key');
  }

  install(version, { cert, key }) {
    const vdir = path.join(this.dir, version);
    fs.mkdirSync(vdir, { recursive: true });
    fs.copyFileSync(cert, path.join(vdir, 'tls.crt'));
    fs.copyFileSync(key, path.join(vdir, 'tls.key'));
    return this;
  }

  activate(version) {
    const tmp = path.join(this.dir, '..data_tmp');
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(version, tmp);
    fs.renameSync(tmp, path.join(this.dir, '..data'));
    for (const f of ['tls.crt', 'tls.key']) {
      const link = path.join(this.dir, f);
      if (!fs.existsSync(link)) fs.symlinkSync(path.join('..data', f), link);
    }
    return this;
  }
}

/**
 * Runs `openssl s_client` against 127.0.0.1:port with `extraArgs` and stdin
 * closed at once (so it ends after the handshake). Resolves {ok, protocol,
 * cipher, verified, certPem, output}: ok when a session was established.
 */
export async function sClient(port, extraArgs = [], { caFile, timeoutMs = 10_000 } = {}) {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...extraArgs];
  if (caFile) args.push('-CAfile', caFile);
  const r = await openssl(args, { timeoutMs });
  const output = `${r.stdout}\n${r.stderr}`;
  const cipher = /Cipher is (\S+)/.exec(r.stdout)?.[1] ?? null;
  const protocol = /^\s*Protocol\s*:\s*(\S+)/m.exec(r.stdout)?.[1] ?? /^New, (TLSv[\d.]+),/m.exec(r.stdout)?.[1] ?? null;
  const verified = /Verify return code: 0 \(ok\)/.test(r.stdout);
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(r.stdout)?.[0] ?? null;
  const ok = r.code === 0 && cipher !== null && cipher !== '(NONE)' && certPem !== null;
  return { ok, code: r.code, protocol, cipher, verified, certPem, output };
}

/** The serial (hex, upper case, as `openssl x509 -serial` prints it) a new handshake to port sees. */
export async function servedSerial(port, { caFile } = {}) {
  const hs = await sClient(port, [], { caFile });
  if (!hs.ok) throw new Error(`openssl s_client to 127.0.0.1:${port} failed: ${hs.output.slice(0, 2000)}`);
  const r = await mustOpenssl(['x509', '-noout', '-serial'], { input: hs.certPem });
  const m = /^serial=([0-9A-Fa-f]+)$/m.exec(r.stdout);
  if (!m) throw new Error(`unexpected openssl x509 -serial output: ${r.stdout}`);
  return m[1].toUpperCase();
}

/** Whether `text` names serialHex (any case, with or without colons between bytes). */
export function mentionsSerial(text, serialHex) {
  const plain = text.replace(/:/g, '').toUpperCase();
  return plain.includes(serialHex.toUpperCase());
}
