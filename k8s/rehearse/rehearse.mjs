// The podman rehearsal of the Helm chart; run by k8s/rehearse/run inside a
// network namespace of its own (see there). Steps, each bounded in time:
//   1. render the chart with k8s/rehearse/values.yaml (helm from k8s/tests);
//   2. `podman kube play` the rendered ConfigMap and the control and edge
//      Deployments with the rendered Secrets (Services, PDBs, policies and
//      monitoring objects, which podman does not run, are left out; what
//      podman 4.3.1 needs changed is listed where it is done);
//   3. wait for both admin listeners' /readyz, as the readiness probes do;
//   4. an npm centrifuge SDK client connects to the edge and subscribes;
//      wirehubctl publishes through control's API with the API key the chart
//      generated; the client must receive it;
//   5. the chart's `helm test` Pod runs as rendered (the Services' DNS
//      names in its environment become 127.0.0.1) and must exit 0;
//   6. SIGTERM to the edge container: /readyz turns 503 at once and the
//      client is closed with 3001 within the chart's drain settings;
//   7. `podman kube down`.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { helm } from '../tests/helm.mjs';
import { SdkClient, signHs256, nowSeconds, waitFor, sleep } from '../../tests/integration/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The yaml package comes with k8s/tests' npm dependencies.
const { parseAllDocuments, stringify } = createRequire(path.join(here, '../tests/package.json'))('yaml');
const root = path.resolve(here, '../..');
const podman = (process.env.WIREHUB_PODMAN ?? 'podman').split(' ');
const image = process.env.WIREHUB_IMAGE;
const wirehubctl = path.resolve(process.env.WIREHUB_BIN_DIR ?? path.join(root, 'build/bin'), 'wirehubctl');
const channel = 'rehearsal:room';

function log(line) {
  console.log(`rehearse: ${line}`);
}

function run(file, args, { timeoutMs = 60_000, input } = {}) {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr, error });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

async function must(file, args, options) {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} failed (${result.code}): ${result.stderr || result.stdout}`);
  }
  return result;
}

function get(port, pathname) {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: pathname, timeout: 2000 }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolve({ status: 0, body: String(error.message) }));
  });
}

async function containerNamed(fragment) {
  const { stdout } = await must(podman[0], [...podman.slice(1), 'ps', '--format', '{{.Names}}']);
  const name = stdout.split('\n').find((n) => n.includes(fragment));
  if (!name) throw new Error(`no running container named like ${fragment}: ${stdout}`);
  return name;
}

async function dumpLogs() {
  const { stdout } = await run(podman[0], [...podman.slice(1), 'ps', '-a', '--format', '{{.Names}}']);
  for (const name of stdout.split('\n').filter((n) => n.includes('wirehub'))) {
    const logs = await run(podman[0], [...podman.slice(1), 'logs', '--tail', '40', name]);
    console.log(`--- podman logs ${name}\n${logs.stdout}${logs.stderr}`);
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-rehearse-'));
const manifest = path.join(work, 'rendered.yaml');
let played = false;
const createdSecrets = [];
let client;
try {
  // 1. Render.
  const [repository, tag] = image.split(/:(?=[^:/]+$)/);
  const secret = `rehearsal-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const rendered = await helm([
    'template', 'rehearse', path.join(root, 'k8s/charts/wirehub'), '--namespace', 'default',
    '-f', path.join(here, 'values.yaml'), '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`,
    '--set', `tokenHmacSecret.value=${secret}`,
  ]);
  if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS()).filter(Boolean);
  const kept = objects.filter(
    (o) => o.kind === 'Deployment' || (o.kind === 'ConfigMap' && o.metadata.name.endsWith('-config')),
  );
  const secrets = new Map(objects.filter((o) => o.kind === 'Secret').map((o) => [o.metadata.name, o]));
  log(`rendered ${objects.length} objects; playing ${kept.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}` +
      ` with Secrets ${[...secrets.keys()].join(', ')}`);
  // What Debian's podman 4.3.1 needs, and nothing else changed:
  // - secretKeyRef reads a podman secret holding the Secret's data map as JSON
  //   (a Secret document played beside the pods is stored in another form);
  // - a secret volume crashes kube play (nil pointer in VolumeFromSecret), so
  //   each becomes a hostPath directory holding the same items;
  // - containerPorts are refused with host networking, where they mean nothing.
  for (const [name, secret] of secrets) {
    await run(podman[0], [...podman.slice(1), 'secret', 'rm', name]);
    const file = path.join(work, `secret-${name}.json`);
    fs.writeFileSync(file, JSON.stringify(secret.data), { mode: 0o600 });
    await must(podman[0], [...podman.slice(1), 'secret', 'create', name, file]);
    createdSecrets.push(name);
  }
  for (const deployment of kept.filter((o) => o.kind === 'Deployment')) {
    const spec = deployment.spec.template.spec;
    for (const container of spec.containers) delete container.ports;
    for (const volume of spec.volumes ?? []) {
      if (!volume.secret) continue;
      const secret = secrets.get(volume.secret.secretName);
      if (!secret) throw new Error(`volume ${volume.name}: the chart rendered no Secret ${volume.secret.secretName}`);
      const dir = path.join(work, 'secrets', deployment.metadata.name, volume.name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      const items = volume.secret.items ?? Object.keys(secret.data).map((key) => ({ key, path: key }));
      for (const item of items) {
        fs.writeFileSync(path.join(dir, item.path), Buffer.from(secret.data[item.key], 'base64'), { mode: 0o644 });
      }
      delete volume.secret;
      volume.hostPath = { path: dir, type: 'Directory' };
    }
  }
  const keySecret = objects.find((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-test-api-key'));
  const apiKey = Buffer.from(keySecret.data.apiKey, 'base64').toString('utf8');
  const edgeDeployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-edge'));
  const edgeArgs = edgeDeployment.spec.template.spec.containers[0].args;
  const seconds = (flag) => parseFloat(edgeArgs.find((a) => a.startsWith(`--${flag}=`)).split('=')[1]);
  const drainDelay = seconds('drain_delay');
  const drainDuration = seconds('drain_duration');
  fs.writeFileSync(manifest, kept.map((o) => stringify(o)).join('---\n'));
  const testPod = objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');
  if (!testPod) throw new Error('the chart rendered no helm test Pod');

  // 2. Play.
  const play = await must(podman[0], [...podman.slice(1), 'kube', 'play', '--network', 'host', manifest], {
    timeoutMs: 120_000,
  });
  played = true;
  log(`podman kube play: ${play.stdout.trim().split('\n').join(' ')}`);

  // 3. Ready, as the readiness probes see it.
  for (const [what, port] of [['control', 7102], ['edge', 8001]]) {
    await waitFor(async () => (await get(port, '/readyz')).status === 200, 60_000, `${what} /readyz 200`);
    log(`${what} /readyz: 200`);
  }

  // 4. An SDK client receives what wirehubctl publishes through control.
  const token = signHs256(secret, { sub: 'rehearsal-user', exp: nowSeconds() + 600 });
  client = new SdkClient('ws://127.0.0.1:8000/connection/websocket', { token, maxReconnectDelay: 500 });
  const connected = await client.connectAndWait(10_000);
  log(`SDK client connected (client ${connected.client})`);
  const sub = await client.subscribeAndWait(channel, 10_000);
  log(`SDK client subscribed to ${channel}`);
  const published = await must(wirehubctl, [
    '--control=127.0.0.1:7100', `--api_key=${apiKey}`, 'publish', channel, '{"text":"through the rendered pods"}',
  ]);
  log(`wirehubctl publish: ${published.stdout.trim()}`);
  await waitFor(() => sub.publications.length >= 1, 10_000, 'the publication at the SDK client');
  log(`SDK client received: ${JSON.stringify(sub.publications[0].data)} at offset ${sub.publications[0].offset}`);

  // 5. The chart's helm test Pod, as rendered, but for the Services' DNS names
  //    in its environment: no cluster DNS here (and podman 4.3 ignores
  //    hostAliases with host networking), so they become 127.0.0.1.
  const names = [];
  for (const env of testPod.spec.containers[0].env) {
    if (typeof env.value !== 'string') continue;
    env.value = env.value.replace(/[a-z0-9-]+\.[a-z0-9-]+\.svc(?=:\d+)/g, (name) => {
      names.push(name);
      return '127.0.0.1';
    });
  }
  for (const container of testPod.spec.containers) delete container.ports;
  const testManifest = path.join(work, 'helm-test.yaml');
  fs.writeFileSync(testManifest, stringify(testPod));
  await must(podman[0], [...podman.slice(1), 'kube', 'play', '--network', 'host', testManifest], { timeoutMs: 60_000 });
  try {
    const testContainer = `${testPod.metadata.name}-${testPod.spec.containers[0].name}`;
    const waited = await must(podman[0], [...podman.slice(1), 'wait', testContainer], { timeoutMs: 90_000 });
    const testLogs = await run(podman[0], [...podman.slice(1), 'logs', testContainer]);
    const output = `${testLogs.stdout}${testLogs.stderr}`.trim();
    log(`helm test pod ${testPod.metadata.name} (${names.join(', ')} -> 127.0.0.1): exit ${waited.stdout.trim()}: ${output}`);
    if (waited.stdout.trim() !== '0') throw new Error('the helm test pod failed');
  } finally {
    await run(podman[0], [...podman.slice(1), 'kube', 'down', testManifest], { timeoutMs: 60_000 });
  }

  // 6. SIGTERM drains the edge as configured.
  const edge = await containerNamed('edge');
  const socket = client.sockets.at(-1);
  const termAt = Date.now();
  await must(podman[0], [...podman.slice(1), 'kill', '--signal', 'TERM', edge]);
  const unready = await get(8001, '/readyz');
  log(`SIGTERM to ${edge}: /readyz ${unready.status} ${unready.body.trim()}`);
  if (unready.status !== 503) throw new Error(`the edge did not turn unready at once: ${unready.status}`);
  const limitMs = (drainDelay + drainDuration + 2) * 1000;
  await waitFor(() => socket.closeInfo, limitMs + 2000, 'the client to be closed by the drain');
  const closedAfter = (Date.now() - termAt) / 1000;
  log(`client closed with ${socket.closeInfo.code} "${socket.closeInfo.reason}" ${closedAfter.toFixed(2)} s after SIGTERM ` +
      `(drain_delay ${drainDelay} s, drain_duration ${drainDuration} s)`);
  if (socket.closeInfo.code !== 3001) throw new Error(`expected close code 3001, got ${socket.closeInfo.code}`);
  if (closedAfter < drainDelay - 0.2) throw new Error(`closed before drain_delay (${closedAfter} s)`);
  const logs = await run(podman[0], [...podman.slice(1), 'logs', edge]);
  const finished = `${logs.stdout}${logs.stderr}`.split('\n').find((l) => l.includes('drain_finished'));
  log(`edge log: ${finished ?? '(no drain_finished line yet)'}`);
  log('PASSED');
} catch (error) {
  console.error(`rehearse: FAILED: ${error.stack ?? error}`);
  await dumpLogs();
  process.exitCode = 1;
} finally {
  if (client) client.client.disconnect();
  if (played) {
    const down = await run(podman[0], [...podman.slice(1), 'kube', 'down', manifest], { timeoutMs: 120_000 });
    log(`podman kube down: ${down.code === 0 ? 'ok' : down.stderr.trim()}`);
  }
  for (const name of createdSecrets) await run(podman[0], [...podman.slice(1), 'secret', 'rm', name]);
  fs.rmSync(work, { recursive: true, force: true });
}
