// CI checks of the Helm chart k8s/charts/wirehub (see README.md here):
// for the default values and every ci/*-values.yaml, helm lint --strict, the
// rendered objects against the Kubernetes schemas, labels, probes, the
// restricted Pod Security profile, the edge's drain timing, the helm test pod,
// and wirehub-control / wirehub-edge --check_config on the rendered config and
// args; the values against values.schema.json; charts that must not render;
// the values table of docs/kubernetes.md.
//
//   cd k8s/tests && npm ci && node --test chart.test.mjs
//
// WIREHUB_BIN_DIR: where wirehub-control and wirehub-edge are (default
// build/bin of the repository). Every child process runs with a timeout.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer';

import { helm } from './helm.mjs';
import { checkDoc, collectValues, WRITE_HINT, chartDir, repoRoot } from './values-table.mjs';

const RELEASE = 'wh';
const NAMESPACE = 'wirehub';
// The Kubernetes version helm renders and lints for (the kubectl of the same
// npm package is 1.31); the chart's kubeVersion must admit it.
const KUBE_VERSION = '1.31.0';
const OPTIONAL_API_VERSIONS = ['monitoring.coreos.com/v1', 'cert-manager.io/v1'];
const HELM_TIMEOUT_MS = 60_000;
const CHECK_CONFIG_TIMEOUT_MS = 30_000;
// What a secretKeyRef resolves to for --check_config: 32 characters, as long
// as an HS256 secret must be.
const DUMMY_SECRET = 'wirehub-chart-check-dummy-secret';

// Every kind the chart may render, with its model. A kind not listed fails
// the schema test: add it here deliberately, with its model.
const MODELS = new Map(
  [ConfigMap, Pod, Secret, Service, ServiceAccount, Deployment, HorizontalPodAutoscaler, Ingress, NetworkPolicy,
    PodDisruptionBudget, PrometheusRule, ServiceMonitor, Certificate, Issuer].map((Cls) => [
    `${Cls.apiVersion}/${Cls.kind}`,
    Cls,
  ]),
);
const WITH_APIS = `with --api-versions ${OPTIONAL_API_VERSIONS.join(' ')}`;
const WITHOUT_APIS = 'without the optional API versions';
const OPTIONAL_GROUPS = OPTIONAL_API_VERSIONS.map((v) => v.split('/')[0]);

const RECOMMENDED_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
  'helm.sh/chart',
];
const COMPONENT_LABEL = 'app.kubernetes.io/component';
const UNSTABLE_SELECTOR_LABELS = ['app.kubernetes.io/version', 'helm.sh/chart'];
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);
// The Deployments of the chart: component -> binary.
const SERVERS = { control: 'wirehub-control', edge: 'wirehub-edge' };
const CONFIG_MOUNT = '/etc/wirehub/config/config.json';

const binDir = process.env.WIREHUB_BIN_DIR
  ? path.resolve(process.env.WIREHUB_BIN_DIR)
  : path.join(repoRoot, 'build', 'bin');
const valuesFile = path.join(chartDir, 'values.yaml');
const schemaFile = path.join(chartDir, 'values.schema.json');

function ciValueFiles() {
  const dir = path.join(chartDir, 'ci');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => path.join(dir, f));
}

// The default values (no -f) and every ci file.
// A variant whose edge link is issued by cert-manager needs its API: the
// chart refuses to render it without (rather than run a plaintext link).
const needsCertManager = (file) =>
  file !== null && YAML.parse(fs.readFileSync(file, 'utf8'))?.edgeLink?.tls?.mode === 'certManager';
const VARIANTS = [
  { name: 'default values', file: null, needsCertManager: false },
  ...ciValueFiles().map((file) => ({ name: `ci/${path.basename(file)}`, file, needsCertManager: needsCertManager(file) })),
];

const valueArgs = (variant) => (variant.file ? ['-f', variant.file] : []);

function describeObject(obj) {
  return `${obj?.kind ?? '?'} ${obj?.metadata?.name ?? '?'}`;
}

// helm template; returns the parsed objects, or throws with helm's output.
async function renderChart(extraArgs, { apiVersions }) {
  const args = ['template', RELEASE, chartDir, '-n', NAMESPACE, '--kube-version', KUBE_VERSION, ...extraArgs];
  if (apiVersions) for (const v of OPTIONAL_API_VERSIONS) args.push('--api-versions', v);
  const { code, stdout, stderr } = await helm(args, { timeout: HELM_TIMEOUT_MS });
  if (code !== 0) throw new Error(`helm ${args.join(' ')} exited ${code}:\n${stderr}${stdout}`);
  const objects = [];
  for (const doc of YAML.parseAllDocuments(stdout)) {
    if (doc.errors.length) {
      throw new Error(`helm ${args.join(' ')}: rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const obj = doc.toJS({ maxAliasCount: -1 });
    if (obj === null || obj === undefined) continue;
    assert.equal(typeof obj, 'object', `a rendered document is not an object: ${JSON.stringify(obj)}`);
    objects.push(obj);
  }
  return objects;
}

function run(file, args, { env, timeout }) {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
        signal: error?.signal ?? null,
        error: error && typeof error.code !== 'number' && !error.signal ? error : null,
        stdout,
        stderr,
      });
    });
  });
}

function chartMeta() {
  return YAML.parse(fs.readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'));
}

// Helm's coalescing of values files: maps merge key by key, anything else is
// replaced, null deletes the key.
function mergeValues(base, override) {
  if (!isPlainObject(base) || !isPlainObject(override)) return structuredClone(override);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(override)) {
    if (v === null) delete out[k];
    else out[k] = k in out ? mergeValues(out[k], v) : structuredClone(v);
  }
  return out;
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function podSpecOf(obj) {
  if (obj.kind === 'Pod') return obj.spec;
  if (obj.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template?.spec;
  return obj.spec?.template?.spec;
}

function allContainers(podSpec) {
  return [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])];
}

function labelsMatch(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

// The deployment of one server (control or edge), by name suffix and
// container name.
function serverDeployment(objects, component) {
  const matches = objects.filter(
    (o) => o.kind === 'Deployment' && o.metadata?.name?.endsWith(`-${component}`),
  );
  assert.equal(matches.length, 1, `expected one Deployment *-${component}, found ${matches.map(describeObject).join(', ') || 'none'}`);
  const deployment = matches[0];
  const container = deployment.spec?.template?.spec?.containers?.find((c) => c.name === component);
  assert.ok(container, `${describeObject(deployment)} has no container named ${component}`);
  return { deployment, container };
}

function configMapOf(objects) {
  const maps = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-config'));
  assert.equal(maps.length, 1, `expected one ConfigMap *-config, found ${maps.map(describeObject).join(', ') || 'none'}`);
  assert.equal(typeof maps[0].data?.['config.json'], 'string', `${describeObject(maps[0])} has no data key config.json`);
  return maps[0];
}

// Go/absl durations as the flags take them: 5s, 1m30s, 500ms, 1.5h.
function parseDurationSeconds(text) {
  const units = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 };
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)/gy;
  let total = 0;
  let consumed = 0;
  for (let m; (m = re.exec(text)); ) {
    total += Number(m[1]) * units[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return total;
}

// The value of --name=V or --name V in args, or undefined.
function flagValue(args, name) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${name}` || a === `-${name}`) return args[i + 1];
    for (const prefix of [`--${name}=`, `-${name}=`]) if (a.startsWith(prefix)) return a.slice(prefix.length);
  }
  return undefined;
}

// Kubernetes' $(VAR) expansion in env values, command and args: a defined
// variable is replaced, $$ escapes, anything else stays as written.
function expandK8s(text, vars) {
  return String(text).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name) =>
    m === '$$' ? '$' : name in vars ? vars[name] : m,
  );
}

const FIELD_REF_VALUES = {
  'metadata.name': 'wh-wirehub-pod-0',
  'metadata.namespace': NAMESPACE,
  'metadata.uid': '00000000-0000-4000-8000-000000000000',
  'spec.nodeName': 'node-0',
  'spec.serviceAccountName': 'default',
  'status.hostIP': '10.0.0.1',
  'status.hostIPs': '10.0.0.1',
  'status.podIP': '10.0.0.2',
  'status.podIPs': '10.0.0.2',
};

function findObject(objects, kind, name) {
  return objects.find((o) => o.kind === kind && o.metadata?.name === name);
}

function secretData(secret) {
  const out = {};
  for (const [k, v] of Object.entries(secret?.data ?? {})) out[k] = Buffer.from(String(v), 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret?.stringData ?? {})) out[k] = String(v);
  return out;
}

function configMapData(configMap) {
  const out = { ...(configMap?.data ?? {}) };
  for (const [k, v] of Object.entries(configMap?.binaryData ?? {})) out[k] = Buffer.from(String(v), 'base64').toString('utf8');
  return out;
}

// The container's environment as the kubelet would give it, with every
// secretKeyRef (and a Secret not rendered by the chart) replaced by
// DUMMY_SECRET.
function containerEnv(container, objects) {
  const env = {};
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const data = configMapData(findObject(objects, 'ConfigMap', from.configMapRef.name));
      for (const [k, v] of Object.entries(data)) env[prefix + k] = v;
    } else if (from.secretRef) {
      const data = secretData(findObject(objects, 'Secret', from.secretRef.name));
      for (const k of Object.keys(data)) env[prefix + k] = DUMMY_SECRET;
    }
  }
  for (const e of container.env ?? []) {
    if ('value' in e) env[e.name] = expandK8s(e.value ?? '', env);
    else if (e.valueFrom?.secretKeyRef) env[e.name] = DUMMY_SECRET;
    else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const data = configMapData(findObject(objects, 'ConfigMap', ref.name));
      if (ref.key in data) env[e.name] = data[ref.key];
      else if (!ref.optional) env[e.name] = 'dummy';
    } else if (e.valueFrom?.fieldRef) {
      env[e.name] = FIELD_REF_VALUES[e.valueFrom.fieldRef.fieldPath] ?? 'dummy';
    } else if (e.valueFrom?.resourceFieldRef) {
      env[e.name] = '1';
    } else {
      env[e.name] = '';
    }
  }
  return env;
}

// Writes the files the container's volume mounts would show (ConfigMaps and
// Secrets the chart renders; Secrets are kept as rendered, not replaced) under
// root. Returns [{ mountPath, hostPath, external }], longest mount path first;
// external: the volume holds a Secret the chart does not render (an existing
// Secret of the cluster), whose files writeStandIns makes up.
function materializeMounts(container, podSpec, objects, root) {
  const volumes = new Map((podSpec.volumes ?? []).map((v) => [v.name, v]));
  const mounts = [];
  const filesOf = (volume) => {
    const files = {};
    let external = false;
    const secret = (name) => {
      const obj = findObject(objects, 'Secret', name);
      if (!obj) external = true;
      return secretData(obj);
    };
    const add = (data, items) => {
      if (items) {
        for (const item of items) if (item.key in data) files[item.path] = data[item.key];
      } else {
        Object.assign(files, data);
      }
    };
    if (volume.configMap) add(configMapData(findObject(objects, 'ConfigMap', volume.configMap.name)), volume.configMap.items);
    if (volume.secret) add(secret(volume.secret.secretName), volume.secret.items);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap) add(configMapData(findObject(objects, 'ConfigMap', source.configMap.name)), source.configMap.items);
      if (source.secret) add(secret(source.secret.name), source.secret.items);
    }
    return { files, external };
  };
  container.volumeMounts?.forEach((mount, i) => {
    const volume = volumes.get(mount.name);
    if (!volume) return;
    const hostDir = path.join(root, `mount-${i}`);
    fs.mkdirSync(hostDir, { recursive: true });
    const { files, external } = filesOf(volume);
    for (const [rel, content] of Object.entries(files)) {
      const file = path.join(hostDir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content, { mode: 0o600 });
    }
    const hostPath = mount.subPath ? path.join(hostDir, mount.subPath) : hostDir;
    mounts.push({ mountPath: mount.mountPath.replace(/\/+$/, ''), hostPath, external });
  });
  return mounts.sort((a, b) => b.mountPath.length - a.mountPath.length);
}

function rewritePath(value, mounts) {
  for (const { mountPath, hostPath } of mounts) {
    if (value === mountPath) return hostPath;
    if (value.startsWith(`${mountPath}/`)) return hostPath + value.slice(mountPath.length);
  }
  return value;
}

function rewriteJsonPaths(value, mounts) {
  if (typeof value === 'string') return rewritePath(value, mounts);
  if (Array.isArray(value)) return value.map((v) => rewriteJsonPaths(v, mounts));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewriteJsonPaths(v, mounts)]));
  }
  return value;
}

// Stand-ins for the files of Secrets the chart does not render (existing
// Secrets named in the values), by how the server uses them. TLS files are
// not read by --check_config and get none.
function standInKeyPem(algorithm) {
  const pair = {
    RS256: ['rsa', { modulusLength: 2048 }],
    RS384: ['rsa', { modulusLength: 2048 }],
    RS512: ['rsa', { modulusLength: 2048 }],
    PS256: ['rsa', { modulusLength: 2048 }],
    ES256: ['ec', { namedCurve: 'P-256' }],
    ES384: ['ec', { namedCurve: 'P-384' }],
    EdDSA: ['ed25519', {}],
  }[algorithm];
  if (!pair) return null;
  return crypto.generateKeyPairSync(pair[0], pair[1]).publicKey.export({ type: 'spki', format: 'pem' });
}

const STAND_IN_API_KEYS = `${JSON.stringify({
  api_keys: [{ name: 'check-config-stand-in', sha256: crypto.createHash('sha256').update(DUMMY_SECRET).digest('hex') }],
})}\n`;

function standInJwks() {
  const jwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return `${JSON.stringify({ keys: [{ ...jwk, kid: 'check-config-stand-in', use: 'sig', alg: 'ES256' }] })}\n`;
}

// Writes a stand-in for each file the (rewritten) config and args name that
// lies in an external Secret's mount and does not exist. Returns the files
// written, for messages.
function writeStandIns(config, args, mounts) {
  const written = [];
  const put = (file, content) => {
    if (typeof file !== 'string' || content === null || fs.existsSync(file)) return;
    if (!mounts.some((m) => m.external && (file === m.hostPath || file.startsWith(`${m.hostPath}/`)))) return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode: 0o600 });
    written.push(file);
  };
  put(config?.api_keys_file, STAND_IN_API_KEYS);
  if (config?.token_jwks_file) put(config.token_jwks_file, standInJwks());
  for (const key of config?.token_keys ?? []) {
    if (key?.public_key_file) put(key.public_key_file, standInKeyPem(key.algorithm));
  }
  const secretFile = flagValue(args, 'token_hmac_secret_file');
  if (secretFile) put(secretFile, `${DUMMY_SECRET}\n`);
  return written;
}

// Runs the server of component with the container's args and env and
// --check_config against the rendered config.json. Returns the run's result
// and the command line, for messages.
async function checkConfig(objects, component, tmpRoot) {
  const { deployment, container } = serverDeployment(objects, component);
  const podSpec = deployment.spec.template.spec;
  const configMap = configMapOf(objects);
  const root = fs.mkdtempSync(path.join(tmpRoot, `${component}-`));
  const mounts = materializeMounts(container, podSpec, objects, root);

  const env = containerEnv(container, objects);
  const configFile = path.join(root, 'config.json');
  let config;
  try {
    config = JSON.parse(configMap.data['config.json']);
  } catch (e) {
    assert.fail(`${describeObject(configMap)}: config.json is not JSON: ${e.message}`);
  }
  config = rewriteJsonPaths(config, mounts);
  fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });

  const args = [];
  let sawConfig = false;
  const given = (container.args ?? []).map((a) => expandK8s(a, env));
  for (let i = 0; i < given.length; i++) {
    const a = given[i];
    if (a === '--config' || a === '-config') {
      sawConfig = true;
      args.push(`--config=${configFile}`);
      i++;
      continue;
    }
    if (/^--?config=/.test(a)) {
      sawConfig = true;
      args.push(`--config=${configFile}`);
      continue;
    }
    const flag = /^(--?[A-Za-z0-9_]+=)(.*)$/s.exec(a);
    args.push(flag ? flag[1] + rewritePath(flag[2], mounts) : rewritePath(a, mounts));
  }
  assert.ok(sawConfig, `${describeObject(deployment)}: container ${component} has no --config argument`);
  args.push('--check_config');
  const standIns = writeStandIns(config, args, mounts);

  const binary = path.join(binDir, SERVERS[component]);
  assert.ok(
    fs.existsSync(binary),
    `${binary} does not exist: build first (ninja -C build) or set WIREHUB_BIN_DIR`,
  );
  const result = await run(binary, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    timeout: CHECK_CONFIG_TIMEOUT_MS,
  });
  const commandLine = [
    ...Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
    binary,
    ...args,
  ].join(' ') + (standIns.length ? `\n(stand-ins for files of Secrets the chart does not render: ${standIns.join(', ')})` : '');
  return { result, commandLine };
}

function checkRestrictedPod(obj) {
  const podSpec = podSpecOf(obj);
  const what = describeObject(obj);
  assert.ok(podSpec, `${what}: no pod spec`);
  const psc = podSpec.securityContext ?? {};
  assert.equal(psc.runAsNonRoot, true, `${what}: pod securityContext.runAsNonRoot must be true`);
  assert.equal(psc.seccompProfile?.type, 'RuntimeDefault', `${what}: pod securityContext.seccompProfile.type must be RuntimeDefault`);
  for (const flag of ['hostNetwork', 'hostPID', 'hostIPC']) assert.notEqual(podSpec[flag], true, `${what}: ${flag} is not allowed (restricted)`);
  for (const v of podSpec.volumes ?? []) assert.ok(!v.hostPath, `${what}: hostPath volume ${v.name} is not allowed (restricted)`);
  if (psc.runAsUser !== undefined) assert.notEqual(psc.runAsUser, 0, `${what}: pod runAsUser 0`);
  for (const c of allContainers(podSpec)) {
    const where = `${what} container ${c.name}`;
    const sc = c.securityContext ?? {};
    assert.equal(sc.allowPrivilegeEscalation, false, `${where}: securityContext.allowPrivilegeEscalation must be false`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${where}: securityContext.readOnlyRootFilesystem must be true`);
    assert.equal(sc.runAsNonRoot, true, `${where}: securityContext.runAsNonRoot must be true`);
    assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: securityContext.capabilities.drop must be [ALL]`);
    for (const cap of sc.capabilities?.add ?? []) {
      assert.equal(cap, 'NET_BIND_SERVICE', `${where}: capability ${cap} is not allowed (restricted)`);
    }
    assert.notEqual(sc.privileged, true, `${where}: privileged`);
    if (sc.runAsUser !== undefined) assert.notEqual(sc.runAsUser, 0, `${where}: runAsUser 0`);
    if (sc.seccompProfile) assert.ok(['RuntimeDefault', 'Localhost'].includes(sc.seccompProfile.type), `${where}: seccompProfile ${sc.seccompProfile.type}`);
    for (const p of c.ports ?? []) assert.ok(!p.hostPort, `${where}: hostPort ${p.hostPort} is not allowed (restricted)`);
  }
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-chart-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

test('Chart.yaml: apiVersion v2, name wirehub', () => {
  const meta = chartMeta();
  assert.equal(meta.apiVersion, 'v2');
  assert.equal(meta.name, 'wirehub');
  assert.ok(meta.version, 'Chart.yaml has no version');
  assert.ok(meta.appVersion, 'Chart.yaml has no appVersion');
});

// Which optional kinds each variant rendered (with the optional API versions).
const renderedKinds = new Map();

for (const variant of VARIANTS) {
  describe(variant.name, () => {
    // label -> objects, or the error of that render.
    const renders = new Map();

    before(async () => {
      const results = await Promise.allSettled([
        renderChart(valueArgs(variant), { apiVersions: true }),
        renderChart(valueArgs(variant), { apiVersions: false }),
      ]);
      renders.set(WITH_APIS, results[0].status === 'fulfilled' ? results[0].value : results[0].reason);
      renders.set(WITHOUT_APIS, results[1].status === 'fulfilled' ? results[1].value : results[1].reason);
      if (results[0].status === 'fulfilled') renderedKinds.set(variant.name, new Set(results[0].value.map((o) => o.kind)));
    });

    // The renders that succeeded, as [label, objects]; the checks below run
    // on each. The render test reports the failed ones; the others fail only
    // when no render succeeded.
    const rendered = () => {
      const ok = [...renders].filter(([, r]) => Array.isArray(r));
      if (ok.length === 0) throw renders.get(WITH_APIS);
      return ok;
    };

    test('helm lint --strict', async () => {
      const args = ['lint', '--strict', chartDir, '--kube-version', KUBE_VERSION, ...valueArgs(variant)];
      const { code, stdout, stderr } = await helm(args, { timeout: HELM_TIMEOUT_MS });
      assert.equal(code, 0, `helm ${args.join(' ')} exited ${code}:\n${stdout}${stderr}`);
    });

    test('renders with and without the optional API versions', () => {
      if (variant.needsCertManager) {
        const without = renders.get(WITHOUT_APIS);
        assert.ok(!Array.isArray(without), `${WITHOUT_APIS}: rendered although edgeLink.tls.mode is certManager`);
        assert.match(without.message, /needs cert-manager's CRDs/);
        renders.delete(WITHOUT_APIS);
      }
      const failed = [...renders].filter(([, r]) => !Array.isArray(r));
      if (failed.length) assert.fail(failed.map(([label, e]) => `${label}: ${e.message}`).join('\n\n'));
      for (const [label, objects] of rendered()) {
        assert.ok(objects.length > 0, `nothing rendered ${label}`);
        for (const o of objects) {
          assert.ok(o.apiVersion && o.kind && o.metadata?.name, `an object without apiVersion, kind or name ${label}: ${JSON.stringify(o).slice(0, 200)}`);
        }
        const keys = objects.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.name}`);
        const dupes = keys.filter((k, i) => keys.indexOf(k) !== i);
        assert.deepEqual(dupes, [], `objects rendered twice ${label}`);
      }
      if (!renders.has(WITHOUT_APIS)) return;
      const leaked = renders.get(WITHOUT_APIS).filter((o) => OPTIONAL_GROUPS.includes(o.apiVersion.split('/')[0]));
      if (leaked.length) {
        assert.fail(`without --api-versions ${OPTIONAL_API_VERSIONS.join(', ')} the chart must not render ${leaked.map(describeObject).join(', ')}`);
      }
    });

    test('objects validate against the Kubernetes schemas', () => {
      for (const [label, objects] of rendered()) {
        for (const obj of objects) {
          const Cls = MODELS.get(`${obj.apiVersion}/${obj.kind}`);
          assert.ok(
            Cls,
            `${describeObject(obj)} (${obj.apiVersion}) ${label}: kind not known to these checks; add its model to MODELS in chart.test.mjs`,
          );
          try {
            new Cls(obj).validate();
          } catch (e) {
            assert.fail(`${describeObject(obj)} ${label}: ${e.message}`);
          }
        }
      }
    });

    test('recommended labels; Deployment selectors', () => {
      const meta = chartMeta();
      const expected = {
        'app.kubernetes.io/instance': RELEASE,
        'app.kubernetes.io/managed-by': 'Helm',
        'helm.sh/chart': `${meta.name}-${meta.version}`.replace(/\+/g, '_'),
      };
      for (const [label, objects] of rendered()) {
        for (const obj of objects) {
          const what = `${describeObject(obj)} ${label}`;
          const labels = obj.metadata.labels ?? {};
          for (const key of RECOMMENDED_LABELS) assert.ok(labels[key], `${what}: no label ${key}`);
          for (const [key, value] of Object.entries(expected)) assert.equal(labels[key], value, `${what}: label ${key}`);
          if (WORKLOAD_KINDS.has(obj.kind)) {
            assert.ok(labels[COMPONENT_LABEL], `${what}: no label ${COMPONENT_LABEL}`);
            const podLabels = (obj.kind === 'CronJob' ? obj.spec?.jobTemplate?.spec?.template : obj.spec?.template)?.metadata?.labels ?? {};
            for (const key of [...RECOMMENDED_LABELS, COMPONENT_LABEL]) {
              assert.ok(podLabels[key], `${what}: pod template has no label ${key}`);
            }
          }
          if (obj.kind === 'Deployment') {
            const selector = obj.spec.selector?.matchLabels ?? {};
            assert.ok(Object.keys(selector).length > 0, `${what}: empty selector.matchLabels`);
            assert.ok(!obj.spec.selector.matchExpressions?.length, `${what}: use matchLabels only`);
            assert.ok(labelsMatch(selector, obj.spec.template.metadata?.labels), `${what}: selector ${JSON.stringify(selector)} is not a subset of the pod template labels`);
            for (const key of UNSTABLE_SELECTOR_LABELS) {
              assert.ok(!(key in selector), `${what}: the selector holds ${key}, which changes on upgrade (selectors are immutable)`);
            }
            assert.ok(COMPONENT_LABEL in selector, `${what}: the selector must hold ${COMPONENT_LABEL}, or it selects the other Deployment's pods`);
          }
        }
        // No Deployment selects another's pods.
        const deployments = objects.filter((o) => o.kind === 'Deployment');
        for (const a of deployments) {
          for (const b of deployments) {
            if (a === b) continue;
            assert.ok(
              !labelsMatch(a.spec.selector.matchLabels, b.spec.template.metadata?.labels),
              `${describeObject(a)} selects the pods of ${describeObject(b)} ${label}`,
            );
          }
        }
      }
    });

    test('Services, PDBs, HPAs and config volumes refer to rendered objects', () => {
      for (const [label, objects] of rendered()) {
        const podTemplates = objects.filter((o) => o.kind === 'Deployment').map((d) => d.spec.template.metadata?.labels ?? {});
        for (const obj of objects) {
          const what = `${describeObject(obj)} ${label}`;
          if (obj.kind === 'Service' && obj.spec?.selector) {
            assert.ok(podTemplates.some((l) => labelsMatch(obj.spec.selector, l)), `${what}: selector ${JSON.stringify(obj.spec.selector)} matches no Deployment's pods`);
          }
          if (obj.kind === 'PodDisruptionBudget') {
            assert.ok(podTemplates.some((l) => labelsMatch(obj.spec.selector?.matchLabels, l)), `${what}: selector matches no Deployment's pods`);
          }
          if (obj.kind === 'HorizontalPodAutoscaler') {
            const ref = obj.spec.scaleTargetRef;
            assert.ok(findObject(objects, ref.kind, ref.name), `${what}: scaleTargetRef ${ref.kind} ${ref.name} is not rendered`);
          }
          if (obj.kind === 'ServiceMonitor') {
            const services = objects.filter((o) => o.kind === 'Service');
            assert.ok(services.some((s) => labelsMatch(obj.spec.selector?.matchLabels, s.metadata.labels)), `${what}: selector matches no Service`);
          }
          if (obj.kind === 'Deployment') {
            const podSpec = obj.spec.template.spec;
            for (const v of podSpec.volumes ?? []) {
              if (v.configMap && !v.configMap.optional) {
                assert.ok(findObject(objects, 'ConfigMap', v.configMap.name), `${what}: volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`);
              }
            }
          }
        }
      }
    });

    test('containers: probes on the admin port, resources, restricted security context, config checksum', () => {
      for (const [label, objects] of rendered()) {
        for (const component of Object.keys(SERVERS)) {
          const { deployment, container } = serverDeployment(objects, component);
          const what = `${describeObject(deployment)} ${label}`;
          assert.deepEqual(container.command, [SERVERS[component]], `${what}: container ${component} command`);
          assert.ok(Array.isArray(container.args), `${what}: container ${component} has no args`);
          assert.equal(flagValue(container.args, 'config'), CONFIG_MOUNT, `${what}: --config must be ${CONFIG_MOUNT}`);
          const mountedConfig = (container.volumeMounts ?? []).some(
            (m) => m.mountPath === CONFIG_MOUNT || (!m.subPath && CONFIG_MOUNT.startsWith(`${m.mountPath.replace(/\/+$/, '')}/`)),
          );
          assert.ok(mountedConfig, `${what}: nothing is mounted at ${CONFIG_MOUNT}`);
        }
        for (const deployment of objects.filter((o) => o.kind === 'Deployment')) {
          const what = `${describeObject(deployment)} ${label}`;
          const template = deployment.spec.template;
          assert.match(
            String(template.metadata?.annotations?.['checksum/config'] ?? ''),
            /^[0-9a-f]{16,}$/,
            `${what}: pod template has no checksum/config annotation`,
          );
          checkRestrictedPod(deployment);
          for (const c of template.spec.containers) {
            const where = `${what} container ${c.name}`;
            const admin = (c.ports ?? []).find((p) => p.name === 'admin');
            assert.ok(admin, `${where}: declares no port named admin`);
            for (const [probe, pathname] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
              const get = c[probe]?.httpGet;
              assert.ok(get, `${where}: no ${probe}.httpGet`);
              assert.equal(get.path, pathname, `${where}: ${probe} path`);
              assert.ok(get.port === 'admin' || get.port === admin.containerPort, `${where}: ${probe} must use the admin port, not ${get.port}`);
            }
            const resources = c.resources ?? {};
            assert.ok(
              Object.keys(resources.requests ?? {}).length + Object.keys(resources.limits ?? {}).length > 0,
              `${where}: no resources`,
            );
          }
        }
      }
    });

    test('edge: terminationGracePeriodSeconds above drain delay + duration; preStop hook', () => {
      for (const [label, objects] of rendered()) {
        const { deployment, container } = serverDeployment(objects, 'edge');
        const what = `${describeObject(deployment)} ${label}`;
        // The edge's defaults (edge/main.cc) when the chart does not pass them.
        const delay = parseDurationSeconds(flagValue(container.args, 'drain_delay') ?? '5s');
        const duration = parseDurationSeconds(flagValue(container.args, 'drain_duration') ?? '20s');
        const grace = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        assert.ok(grace > delay + duration, `${what}: terminationGracePeriodSeconds ${grace} must exceed --drain_delay ${delay}s + --drain_duration ${duration}s`);
        const preStop = container.lifecycle?.preStop;
        assert.ok(preStop && (preStop.exec || preStop.httpGet || preStop.sleep || preStop.tcpSocket), `${what}: container edge has no preStop hook`);
      }
    });

    test('helm test pod: exists, restricted security context', () => {
      for (const [label, objects] of rendered()) {
        const tests = objects.filter(
          (o) => o.kind === 'Pod' && String(o.metadata?.annotations?.['helm.sh/hook'] ?? '').split(',').map((s) => s.trim()).includes('test'),
        );
        assert.ok(tests.length > 0, `no Pod with annotation helm.sh/hook: test ${label}`);
        for (const pod of tests) checkRestrictedPod(pod);
      }
    });

    test('--check_config accepts the rendered config and args', async () => {
      // The fullest render: the servers' args and config do not depend on the
      // optional API versions.
      const objects = rendered()[0][1];
      const failures = [];
      for (const component of Object.keys(SERVERS)) {
        const { result, commandLine } = await checkConfig(objects, component, tmpRoot);
        if (result.error) throw result.error;
        const output = `${result.stdout}${result.stderr}`.trimEnd();
        if (result.signal !== null) {
          failures.push(`${component}: killed by ${result.signal} after ${CHECK_CONFIG_TIMEOUT_MS} ms (did it start serving instead of checking?)\n${commandLine}\n${output}`);
        } else if (result.code !== 0) {
          failures.push(`${component}: exited ${result.code}\n${commandLine}\n${output}`);
        } else if (!/configuration OK/.test(result.stdout)) {
          failures.push(`${component}: exited 0 but printed no "configuration OK"\n${commandLine}\n${output}`);
        }
      }
      if (failures.length) assert.fail(`--check_config failed:\n\n${failures.join('\n\n')}`);
    });
  });
}

test('the variants render ServiceMonitor, PrometheusRule and Certificate somewhere', () => {
  for (const kind of ['ServiceMonitor', 'PrometheusRule', 'Certificate']) {
    const where = [...renderedKinds].filter(([, kinds]) => kinds.has(kind)).map(([name]) => name);
    assert.ok(where.length > 0, `no variant renders a ${kind}: add a ci/*-values.yaml that enables it, or these checks never see it`);
  }
});

describe('values.schema.json', () => {
  const load = () => {
    const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
    if (schema.$schema) {
      assert.match(schema.$schema, /draft-07/, 'helm 3 validates with JSON Schema draft-07: declare that $schema');
    }
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    return { schema, validate: ajv.compile(schema) };
  };
  const defaults = () => YAML.parse(fs.readFileSync(valuesFile, 'utf8')) ?? {};
  const explain = (validate) => (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`).join('\n');

  test('values.yaml validates', () => {
    const { validate } = load();
    assert.ok(validate(defaults()), `values.yaml:\n${explain(validate)}`);
  });

  for (const file of ciValueFiles()) {
    test(`ci/${path.basename(file)} validates (merged over values.yaml, as helm does)`, () => {
      const { validate } = load();
      const override = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
      assert.ok(validate(mergeValues(defaults(), override)), `ci/${path.basename(file)}:\n${explain(validate)}`);
    });
  }

  test('an unknown top-level key is refused (additionalProperties: false)', () => {
    const { schema, validate } = load();
    assert.equal(schema.additionalProperties, false, 'values.schema.json: top-level additionalProperties must be false');
    assert.equal(validate({ ...defaults(), noSuchValueKey: 1 }), false, 'ajv accepted an unknown top-level key');
  });
});

describe('charts that must not render', () => {
  const mustFail = async (extraArgs, pattern) => {
    const args = ['template', RELEASE, chartDir, '-n', NAMESPACE, '--kube-version', KUBE_VERSION, ...extraArgs];
    const { code, stdout, stderr } = await helm(args, { timeout: HELM_TIMEOUT_MS });
    assert.notEqual(code, 0, `helm ${args.join(' ')} succeeded; expected a failure matching ${pattern}\n${stdout.slice(0, 2000)}`);
    assert.match(stderr, pattern, `helm ${args.join(' ')} failed with another message:\n${stderr}`);
  };

  test('control.replicaCount 3 with the memory engine', async () => {
    await mustFail(['--set', 'control.replicaCount=3'], /Redis engine/);
  });

  test('an unknown top-level value key', async () => {
    await mustFail(['--set', 'noSuchValueKey=1'], /noSuchValueKey[\s\S]*not allowed|not allowed[\s\S]*noSuchValueKey/i);
  });
});

describe('docs/kubernetes.md values table', () => {
  test('every value has a description and the table is up to date', () => {
    const { problems } = checkDoc();
    if (problems.length) assert.fail(`${problems.join('\n')}\n(${WRITE_HINT} after documenting every value)`);
  });

  test('the generator reports undocumented values', () => {
    const { undocumented, rows } = collectValues(
      ['# -- documented', 'a: 1', 'b: 2', 'm:', '  # -- c', '  c: 3', '  d: {}', '# -- a map', 'n:', '  e: 1', ''].join('\n'),
    );
    assert.deepEqual(undocumented, ['b', 'm.d']);
    assert.deepEqual(rows.map((r) => r.key), ['a', 'm.c', 'n']);
  });
});
