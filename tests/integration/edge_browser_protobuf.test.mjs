// The SDK's protobuf browser bundle (`dist/centrifuge.protobuf.js`) in
// headless Debian Chromium over wss (issue 18): the page's WebSocket offers
// `centrifuge-protobuf` and gets it, subscribes, receives a wirehubctl
// publication as bytes, publishes bytes itself (a JSON SDK client in node
// receives them as JSON), and reads history. Set up as edge_browser.test.mjs
// (a page served on 127.0.0.1, the test CA's certificate accepted by its
// SPKI hash), in one page to keep it short.
//
// Skipped, saying so, only when /usr/bin/chromium is missing (Debian package
// `chromium`, installed by tools/dev/install-deps).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Env } from './harness.mjs';
import { makeCa, makeServerCert, spkiSha256Base64 } from './tls_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (install Debian's chromium: tools/dev/install-deps)`;
const BROWSER_TIMEOUT_MS = 30_000;
const CHANNEL = 'room:browser';

const env = new Env('wirehub-edge-browser-pb');
let pageServer;
let pagePort;
let edge;
let caPem;
let context; // playwright persistent browser context
let html = '';

after(async () => {
  if (context) await context.close().catch(() => {});
  if (pageServer) pageServer.close();
  await env.cleanup();
});

/**
 * The test page: the protobuf bundle, then a client that records in
 * window.wh what happens (publication data decoded as UTF-8 text, the
 * subprotocol its WebSocket got); window.whPublish and window.whHistory
 * publish and read history on the subscription.
 */
function pageHtml(edgeUrl, clientToken, channel) {
  const config = JSON.stringify({ edgeUrl, token: clientToken, channel });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>wirehub protobuf wss</title></head>
<body>
<script src="/centrifuge.protobuf.js"></script>
<script>
  const config = ${config};
  window.wh = { events: [], pubs: [], protocols: [], binaryTypes: [] };
  class RecordingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener('open', () => wh.protocols.push(this.protocol));
      this.addEventListener('message', (e) => wh.binaryTypes.push(e.data instanceof ArrayBuffer ? 'binary' : typeof e.data));
    }
  }
  const text = (bytes) => new TextDecoder().decode(bytes);
  const client = new Centrifuge(config.edgeUrl, {
    token: config.token, websocket: RecordingWebSocket, minReconnectDelay: 200, maxReconnectDelay: 1000,
  });
  for (const name of ['connecting', 'connected', 'disconnected', 'error']) {
    client.on(name, (ctx) => wh.events.push({ name, code: ctx.code, reason: ctx.reason, error: ctx.error && String(ctx.error.message) }));
  }
  const sub = client.newSubscription(config.channel);
  sub.on('subscribed', () => wh.events.push({ name: 'subscribed' }));
  sub.on('publication', (ctx) => wh.pubs.push({
    bytes: ctx.data instanceof Uint8Array, text: text(ctx.data), offset: ctx.offset, user: ctx.info ? ctx.info.user : null,
  }));
  window.whPublish = (value) => sub.publish(new TextEncoder().encode(JSON.stringify(value))).then(() => 'ok', (e) => 'error ' + e.code);
  window.whHistory = () => sub.history({ limit: 10 }).then(
    (h) => ({ texts: h.publications.map((p) => text(p.data)), offset: h.offset, epoch: h.epoch }),
    (e) => ({ error: e.code }),
  );
  sub.subscribe();
  client.connect();
</script>
</body></html>`;
}

before(async () => {
  if (missing) return;
  const bundle = fs.readFileSync(path.join(here, 'node_modules/centrifuge/dist/centrifuge.protobuf.js'));
  pageServer = http.createServer((req, res) => {
    if (req.url === '/centrifuge.protobuf.js') {
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
  caPem = ca.certPem;
  const server = await makeServerCert(pki, ca, { name: 'edge', serial: 0x0b40c002n });
  const file = env.writeConfig('browser.json', {
    defaults: { allow_subscribe_for_client: true },
    namespaces: [{
      name: 'room',
      options: {
        allow_subscribe_for_client: true, allow_publish_for_subscriber: true,
        history_size: 10, history_ttl: '60s', allow_history_for_subscriber: true,
      },
    }],
    allowed_origins: [`http://127.0.0.1:${pagePort}`],
  });
  const control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, {
    edge_id: 'edge-browser-pb',
    config: file,
    tls_cert_file: server.cert,
    tls_key_file: server.key,
  });
  html = pageHtml(edge.url, await env.token('browser-user'), CHANNEL);

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

test('Chromium with the protobuf bundle: connect, subscribe, receive, publish bytes, read history', { skip: missing }, async () => {
  // A JSON SDK client in node on the same channel, over wss with the test CA.
  const watcher = env.sdk(edge.url, { token: await env.token('node-watcher'), wsOptions: { ca: caPem } });
  await watcher.connectAndWait();
  await watcher.subscribeAndWait(CHANNEL);

  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${pagePort}/`, { timeout: BROWSER_TIMEOUT_MS });
    await page
      .waitForFunction(() => window.wh && window.wh.events.some((e) => e.name === 'subscribed'), null, { timeout: 10_000 })
      .catch(async (err) => {
        throw new Error(`the page did not connect and subscribe: ${err.message}; page state: ${await state(page)}; edge stderr:\n${edge.stderrText.slice(-2000)}`);
      });

    const pos = await env.publish(CHANNEL, { hello: 'browser' });
    await page
      .waitForFunction(() => window.wh.pubs.length >= 1, null, { timeout: 5000 })
      .catch(async (err) => {
        throw new Error(`no publication in the page: ${err.message}; page state: ${await state(page)}`);
      });

    assert.equal(await page.evaluate(() => window.whPublish({ from: 'browser' })), 'ok');
    await page.waitForFunction(() => window.wh.pubs.length >= 2, null, { timeout: 5000 }).catch(async (err) => {
      throw new Error(`the page's own publication did not come back: ${err.message}; page state: ${await state(page)}`);
    });
    const fromPage = await watcher.waitPublication(CHANNEL, (d) => d?.from === 'browser', 5000, 'the page publication in node');
    assert.equal(fromPage.info?.user, 'browser-user');
    assert.equal(fromPage.offset, pos.offset + 1);

    const history = await page.evaluate(() => window.whHistory());
    assert.deepEqual(history.texts, ['{"hello":"browser"}', '{"from":"browser"}'], JSON.stringify(history));
    assert.equal(history.offset, pos.offset + 1);

    const wh = await page.evaluate(() => window.wh);
    assert.deepEqual(wh.protocols, ['centrifuge-protobuf'], 'one WebSocket, on centrifuge-protobuf');
    assert.ok(wh.binaryTypes.length > 0 && wh.binaryTypes.every((t) => t === 'binary'), `binary messages only: ${JSON.stringify(wh.binaryTypes)}`);
    assert.deepEqual(wh.pubs, [
      { bytes: true, text: '{"hello":"browser"}', offset: pos.offset, user: null },
      { bytes: true, text: '{"from":"browser"}', offset: pos.offset + 1, user: 'browser-user' },
    ]);
    assert.equal(wh.events.filter((e) => e.name === 'connected').length, 1, `one connection: ${JSON.stringify(wh.events)}`);
  } finally {
    await page.close();
    watcher.close();
  }
});
