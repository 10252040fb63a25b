// The centrifuge SDK in a real browser over wss (issue 13, points 1 and 4):
// headless Debian Chromium (driven by npm playwright-core) loads a page served
// on 127.0.0.1 by a small node http server, which includes the SDK's browser
// bundle from node_modules; the page connects to a wss edge whose
// certificate, from the test CA, Chromium accepts by its SPKI hash
// (--ignore-certificate-errors-spki-list), subscribes and receives a
// publication. The edge's allowed_origins lists the page's origin; the same
// page from another origin (localhost instead of 127.0.0.1) is refused.
//
// Skipped, saying so, only when /usr/bin/chromium is missing (Debian package
// `chromium`, installed by tools/dev/install-deps).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Env, sleep } from './harness.mjs';
import { makeCa, makeServerCert, spkiSha256Base64 } from './tls_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (install Debian's chromium: tools/dev/install-deps)`;
const BROWSER_TIMEOUT_MS = 30_000;

const env = new Env('wirehub-edge-browser');
let pageServer;
let pagePort;
let edge;
let context; // playwright persistent browser context
let token;

after(async () => {
  if (context) await context.close().catch(() => {});
  if (pageServer) pageServer.close();
  await env.cleanup();
});

/** The test page: the SDK bundle, then a client that records what happens in window.wh. */
function pageHtml(edgeUrl, clientToken, channel) {
  const config = JSON.stringify({ edgeUrl, token: clientToken, channel });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>wirehub wss</title></head>
<body>
<script src="/centrifuge.js"></script>
<script>
  const config = ${config};
  window.wh = { events: [], pubs: [] };
  const client = new Centrifuge(config.edgeUrl, { token: config.token, minReconnectDelay: 200, maxReconnectDelay: 1000 });
  for (const name of ['connecting', 'connected', 'disconnected', 'error']) {
    client.on(name, (ctx) => wh.events.push({ name, code: ctx.code, reason: ctx.reason, error: ctx.error && String(ctx.error.message) }));
  }
  const sub = client.newSubscription(config.channel);
  sub.on('subscribed', () => wh.events.push({ name: 'subscribed' }));
  sub.on('publication', (ctx) => wh.pubs.push(ctx.data));
  sub.subscribe();
  client.connect();
</script>
</body></html>`;
}

before(async () => {
  if (missing) return;
  const bundle = fs.readFileSync(path.join(here, 'node_modules/centrifuge/dist/centrifuge.js'));
  let html = '';
  pageServer = http.createServer((req, res) => {
    if (req.url === '/centrifuge.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(bundle);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pagePort = pageServer.address().port;

  const pki = path.join(env.dir, 'pki');
  const ca = await makeCa(pki);
  const server = await makeServerCert(pki, ca, { name: 'edge', serial: 0x0b40c001n });
  const control = await env.startControl();
  edge = await env.startEdge(control, {
    edge_id: 'edge-browser',
    config: env.writeConfig('browser.json', {
      defaults: { allow_subscribe_for_client: true },
      allowed_origins: [`http://127.0.0.1:${pagePort}`],
    }),
    tls_cert_file: server.cert,
    tls_key_file: server.key,
  });
  token = await env.token('browser-user');
  html = pageHtml(edge.url, token, 'browser-news');

  const { chromium } = await import('playwright-core');
  context = await chromium.launchPersistentContext(path.join(env.dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    timeout: BROWSER_TIMEOUT_MS,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spkiSha256Base64(server.leafPem)}`,
    ],
  });
});

/** window.wh of `page`, for failure messages. */
const state = async (page) => JSON.stringify(await page.evaluate(() => window.wh).catch((e) => `(unreadable: ${e.message})`));

test('Chromium loads a page that connects over wss with the SDK, subscribes and receives', { skip: missing }, async () => {
  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${pagePort}/`, { timeout: BROWSER_TIMEOUT_MS });
    await page
      .waitForFunction(() => window.wh && window.wh.events.some((e) => e.name === 'subscribed'), null, { timeout: 10_000 })
      .catch(async (err) => {
        throw new Error(`the page did not connect and subscribe: ${err.message}; page state: ${await state(page)}; edge stderr:\n${edge.stderrText.slice(-2000)}`);
      });
    const pos = await env.publish('browser-news', { hello: 'browser' });
    await page
      .waitForFunction(() => window.wh.pubs.some((d) => d && d.hello === 'browser'), null, { timeout: 5000 })
      .catch(async (err) => {
        throw new Error(`no publication in the page: ${err.message}; page state: ${await state(page)}`);
      });
    const wh = await page.evaluate(() => window.wh);
    assert.deepEqual(wh.pubs, [{ hello: 'browser' }]);
    assert.equal(wh.events.filter((e) => e.name === 'connected').length, 1, `one connection: ${JSON.stringify(wh.events)}`);
    assert.ok(pos.offset > 0);
  } finally {
    await page.close();
  }
});

test('the same page from an origin not in allowed_origins cannot connect', { skip: missing }, async () => {
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  try {
    // localhost resolves to loopback in Chromium; the origin differs from 127.0.0.1's.
    await page.goto(`http://localhost:${pagePort}/`, { timeout: BROWSER_TIMEOUT_MS });
    await page.waitForFunction(() => window.wh && window.wh.events.length > 0, null, { timeout: 5000 });
    await sleep(2000);
    const wh = await page.evaluate(() => window.wh);
    assert.ok(!wh.events.some((e) => e.name === 'connected'), `a page from http://localhost:${pagePort} must not connect: ${JSON.stringify(wh.events)}`);
    assert.ok(
      consoleLines.some((l) => /\b403\b/.test(l)),
      `Chromium reports the edge's 403 for the handshake; console: ${JSON.stringify(consoleLines)}`,
    );
  } finally {
    await page.close();
  }
});
