// Never a token, key or secret in a log (issue 14). ctest runs this file
// after every other integration test (it is the cleanup of the
// wirehub_test_logs fixture they all require): the harness wrote the whole
// stderr of every process it started, and of every wirehubctl run, to files
// under LOG_DIR, and recorded there every secret and token the tests made or
// used (recordSecret). This fails naming the log file, line and secret when
// any log holds a recorded value or 16 characters of it in a row, or anything
// shaped like a JWT, a wirehubctl API key, an "apikey KEY" credential or a
// private key.
//
// Run alone (`node --test log_secrets.test.mjs`) it checks whatever logs
// LOG_DIR holds from earlier runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { LOG_DIR, MIN_SECRET_CHARS } from './harness.mjs';

/** A leak is this many characters of a secret in a row (MIN_SECRET_CHARS: recordSecret keeps none shorter). */
const WINDOW = MIN_SECRET_CHARS;
/** Windows with fewer distinct characters ("xxxxxxxxxxxxxxxx") could be ordinary text. */
const MIN_DISTINCT_CHARS = 6;
/** The characters of hex, base64, base64url, JWTs and API keys; windows are looked for in runs of these. */
const RUN = /[A-Za-z0-9+/=_.-]{16,}/g;
const RUN_CHAR = /^[A-Za-z0-9+/=_.-]+$/;
/** Most leaks reported in one failure (the first of each secret, each file). */
const MAX_REPORTED = 40;

/** Things no log may hold whoever made them, with what each is. */
const SHAPES = [
  { what: 'a JWT (header.payload)', re: /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
  { what: 'a wirehubctl API key', re: /\bwh_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/ },
  // The control's own hint names the scheme with the placeholder KEY.
  { what: 'an "apikey KEY" credential', re: /apikey\s+(?!KEY\b)[^\s"'\\]{8,}/i },
  { what: 'a private key', re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
];

function listDir() {
  try {
    return fs.readdirSync(LOG_DIR).sort();
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
}

function readSecrets(files) {
  const secrets = new Map(); // value -> {what, source}
  for (const name of files.filter((f) => f.endsWith('.secrets'))) {
    const text = fs.readFileSync(path.join(LOG_DIR, name), 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const { what, value } = JSON.parse(line);
      if (!secrets.has(value)) secrets.set(value, { what, source: name.replace(/\.secrets$/, '') });
    }
  }
  return secrets;
}

/**
 * The parts of `value` whose windows count: a JWT's payload and signature
 * (every HS256 token shares its header), anything else whole.
 */
function distinctiveParts(value) {
  const jwt = /^eyJ[A-Za-z0-9_-]*\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)$/.exec(value);
  return jwt ? [jwt[1], jwt[2]] : [value];
}

/** Every WINDOW-long piece of every secret, to the secret it comes from. */
function indexWindows(secrets) {
  const windows = new Map();
  for (const value of secrets.keys()) {
    for (const part of distinctiveParts(value)) {
      for (let i = 0; i + WINDOW <= part.length; i++) {
        const w = part.slice(i, i + WINDOW);
        if (!RUN_CHAR.test(w) || new Set(w).size < MIN_DISTINCT_CHARS) continue;
        if (!windows.has(w)) windows.set(w, value);
      }
    }
  }
  return windows;
}

function lineAt(text, index) {
  const start = text.lastIndexOf('\n', index) + 1;
  let end = text.indexOf('\n', index);
  if (end < 0) end = text.length;
  const number = text.slice(0, start).split('\n').length;
  const line = text.slice(start, end);
  return { number, line: line.length > 400 ? `${line.slice(0, 400)}...` : line };
}

const files = listDir();
const logs = files.filter((f) => f.endsWith('.log'));
const secrets = readSecrets(files);

test('the harness wrote the logs and the secrets of the suite', (t) => {
  if (logs.length === 0 && secrets.size === 0) {
    t.skip(`no logs in ${LOG_DIR}: run the integration tests first (ctest -L integration runs this last)`);
    return;
  }
  assert.ok(logs.length > 0, `${LOG_DIR} holds ${secrets.size} recorded secrets but no log: the harness did not capture stderr`);
  assert.ok(secrets.size > 0, `${LOG_DIR} holds ${logs.length} logs but no recorded secret: the harness did not record them`);
});

test('no log holds a secret, key or token the tests made or used', () => {
  const windows = indexWindows(secrets);
  // Values with characters outside the runs are looked for whole.
  const odd = [...secrets.keys()].filter((v) => !RUN_CHAR.test(v));
  const leaks = [];
  for (const name of logs) {
    const text = fs.readFileSync(path.join(LOG_DIR, name), 'utf8');
    const found = new Map(); // secret -> index of its first window in text
    for (const m of text.matchAll(RUN)) {
      const run = m[0];
      for (let i = 0; i + WINDOW <= run.length; i++) {
        const secret = windows.get(run.slice(i, i + WINDOW));
        if (secret !== undefined && !found.has(secret)) found.set(secret, m.index + i);
      }
    }
    for (const secret of odd) {
      const at = text.indexOf(secret);
      if (at >= 0 && !found.has(secret)) found.set(secret, at);
    }
    for (const [secret, at] of found) {
      const { what, source } = secrets.get(secret);
      const { number, line } = lineAt(text, at);
      leaks.push(`${name}:${number}: ${what} (recorded by ${source}): ${secret}\n    ${line}`);
    }
  }
  assert.equal(
    leaks.length,
    0,
    `${leaks.length} log line(s) in ${LOG_DIR} hold a secret (${secrets.size} recorded, ${logs.length} logs):\n` +
      leaks.slice(0, MAX_REPORTED).join('\n'),
  );
});

test('no log holds anything shaped like a token, an API key or a private key', () => {
  const leaks = [];
  for (const name of logs) {
    const text = fs.readFileSync(path.join(LOG_DIR, name), 'utf8');
    for (const { what, re } of SHAPES) {
      const m = re.exec(text);
      if (!m) continue;
      const { number, line } = lineAt(text, m.index);
      leaks.push(`${name}:${number}: ${what}: ${m[0]}\n    ${line}`);
    }
  }
  assert.equal(leaks.length, 0, `${leaks.length} credential(s) in the logs in ${LOG_DIR}:\n${leaks.slice(0, MAX_REPORTED).join('\n')}`);
});
