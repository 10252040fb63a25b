// Token lifecycle (issue #4, points 4 and 9): a connection whose token
// expires gets the refresh flow (connect reply expires/ttl, the SDK's refresh
// command with a token from getToken) and stays on one WebSocket; without a
// refresh it is closed with 3005 at exp + --expired_close_delay. Refresh
// tokens of another identity, aud/iss checks, nbf; subscription tokens:
// sub_refresh keeps the subscription, otherwise an unsubscribe push 2501.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, nowSeconds, signHs256, sleep, waitFor } from './harness.mjs';

const env = new Env('wirehub-token-lifecycle');
after(() => env.cleanup());

const DELAY_S = 1; // --expired_close_delay
// The edge checks expiries on a periodic sweep; allowed lateness of a close.
const SWEEP_SLACK_MS = 1500;

const config = {
  defaults: { allow_subscribe_for_client: true },
  namespaces: [{ name: 'private', options: {} }],
};

let control;
let edge;
let strictEdge; // token_audience / token_issuer configured

before(async () => {
  const file = env.writeConfig('config.json', config);
  control = await env.startControl([`--config=${file}`]);
  edge = await env.startEdge(control, { edge_id: 'edge-tl', config: file, expired_close_delay: `${DELAY_S}s` });
  const strict = env.writeConfig('strict.json', { ...config, token_audience: 'wirehub-test', token_issuer: 'backend' });
  strictEdge = await env.startEdge(control, { edge_id: 'edge-strict', config: strict, expired_close_delay: `${DELAY_S}s` });
});

function sentCommands(c, method) {
  const out = [];
  for (const ws of c.sockets) {
    for (const f of ws.sentFrames) {
      for (const line of f.split('\n')) {
        if (!line.trim()) continue;
        const m = JSON.parse(line);
        if (m[method]) out.push(m);
      }
    }
  }
  return out;
}

test('the SDK refreshes an expiring connection with getToken and stays on one WebSocket past exp + delay', async () => {
  const exp = nowSeconds() + 2;
  let calls = 0;
  const c = env.sdk(edge.url, {
    token: signHs256(env.secret, { sub: 'refresher', exp }),
    getToken: async () => {
      calls++;
      return env.connToken({ sub: 'refresher' }, { ttl: 3 });
    },
  });
  await c.connectAndWait();
  const connectReply = c.receivedMessages().find((m) => m.connect);
  assert.equal(connectReply.connect.expires, true, `connect reply: ${JSON.stringify(connectReply)}`);
  assert.ok(connectReply.connect.ttl >= 1 && connectReply.connect.ttl <= 2, `ttl ${connectReply.connect.ttl}`);
  const rec = await c.subscribeAndWait('live');

  // Well past the original exp + delay + sweep.
  await sleep(Math.max(0, exp * 1000 + DELAY_S * 1000 + SWEEP_SLACK_MS + 1000 - Date.now()));
  assert.equal(c.state, 'connected');
  assert.equal(c.sockets.length, 1, `one WebSocket throughout; closes: ${JSON.stringify(c.sockets.map((s) => s.closeInfo))}`);
  assert.ok(calls >= 1, 'getToken was called');
  const refreshes = sentCommands(c, 'refresh');
  assert.ok(refreshes.length >= 1, 'the SDK sent refresh');
  const replies = c.receivedMessages().filter((m) => m.refresh);
  assert.ok(replies.length >= 1, 'refresh answered');
  assert.equal(replies[0].refresh.expires, true);
  assert.ok(replies[0].refresh.ttl >= 1, JSON.stringify(replies[0]));
  // The connection still works.
  await env.publish('live', { after: 'refresh' });
  await c.waitPublication('live', (d) => d.after === 'refresh', 5000);
  assert.equal(rec.events.filter((e) => e.name === 'unsubscribed').length, 0);
  c.close();
});

test('a connection that does not refresh (getToken never resolves) is closed with 3005 at exp + delay', async () => {
  const exp = nowSeconds() + 2;
  let asked = 0;
  const c = env.sdk(edge.url, {
    token: signHs256(env.secret, { sub: 'stuck', exp }),
    getToken: () => {
      asked++;
      return new Promise(() => {});
    },
  });
  await c.connectAndWait();
  const ws = c.sockets[0];
  await waitFor(() => ws.closeInfo, exp * 1000 + DELAY_S * 1000 + SWEEP_SLACK_MS + 2000 - Date.now(), 'the edge to close the connection');
  const closedAt = Date.now();
  assert.equal(ws.closeInfo.code, 3005, JSON.stringify(ws.closeInfo));
  assert.equal(ws.closeInfo.reason, 'connection expired');
  assert.ok(closedAt >= exp * 1000 + DELAY_S * 1000 - 50, `closed ${exp * 1000 + DELAY_S * 1000 - closedAt} ms before exp + delay`);
  assert.ok(asked >= 1, 'the SDK asked for a token at ttl');
  // 3005 is a reconnect code for the SDK.
  await waitFor(() => c.events.find((e) => e.name === 'connecting' && e.ctx.code === 3005), 3000, 'connecting with code 3005');
  c.close();
});

test('a raw client that never refreshes is closed with 3005; it was told expires/ttl', async () => {
  const exp = nowSeconds() + 2;
  const raw = await env.raw(edge.url, { autoPong: true });
  const result = await raw.connect(signHs256(env.secret, { sub: 'raw-late', exp }));
  assert.equal(result.expires, true);
  assert.ok(result.ttl >= 1 && result.ttl <= 2, `ttl ${result.ttl}`);
  const close = await raw.waitClose(exp * 1000 + DELAY_S * 1000 + SWEEP_SLACK_MS + 2000 - Date.now());
  assert.equal(close.code, 3005, JSON.stringify(close));
  assert.ok(close.at >= exp * 1000 + DELAY_S * 1000 - 50, 'not before exp + delay');
});

test('refresh with a token of another user, or an expired one, ends the connection', async () => {
  const raw = await env.raw(edge.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'me' }, { ttl: 60 }));
  raw.sendCommands({ id: 2, refresh: { token: env.connToken({ sub: 'someone-else' }) } });
  assert.equal((await raw.waitClose(5000)).code, 3500, 'refresh as another user');

  const raw2 = await env.raw(edge.url, { autoPong: true });
  await raw2.connect(env.connToken({ sub: 'me' }, { ttl: 60 }));
  const now = nowSeconds();
  raw2.sendCommands({ id: 2, refresh: { token: signHs256(env.secret, { sub: 'me', exp: now - 10 }) } });
  assert.equal((await raw2.waitClose(5000)).code, 3005, 'refresh with an expired token');

  // A good refresh answers with the new ttl.
  const raw3 = await env.raw(edge.url, { autoPong: true });
  await raw3.connect(env.connToken({ sub: 'me' }, { ttl: 60 }));
  raw3.sendCommands({ id: 2, refresh: { token: env.connToken({ sub: 'me' }, { ttl: 600 }) } });
  const r = await raw3.reply(2);
  assert.equal(r.refresh?.expires, true, JSON.stringify(r));
  assert.ok(r.refresh.ttl > 500 && r.refresh.ttl <= 600, JSON.stringify(r));
  raw3.close();
});

test('nbf in the future is refused (3500)', async () => {
  const now = nowSeconds();
  const raw = await env.raw(edge.url);
  raw.sendCommands({ id: 1, connect: { token: signHs256(env.secret, { sub: 'early', nbf: now + 600, exp: now + 1200 }) } });
  assert.equal((await raw.waitClose(5000)).code, 3500);
});

test('aud and iss are enforced when configured, for connection and subscription tokens', async () => {
  const good = { aud: 'wirehub-test', iss: 'backend' };
  const cases = [
    ['no aud', { iss: 'backend' }],
    ['wrong aud', { aud: 'other', iss: 'backend' }],
    ['no iss', { aud: 'wirehub-test' }],
    ['wrong iss', { aud: 'wirehub-test', iss: 'mallory' }],
  ];
  for (const [what, claims] of cases) {
    const c = env.sdk(strictEdge.url, { token: env.connToken({ sub: 'u', ...claims }) });
    c.connect();
    const ev = await waitFor(() => c.events.find((e) => e.name === 'disconnected'), 5000, `${what}: disconnected`);
    assert.equal(ev.ctx.code, 3500, `${what}: ${JSON.stringify(ev.ctx)}`);
    c.close();
  }
  const ok = env.sdk(strictEdge.url, { token: env.connToken({ sub: 'u', ...good }) });
  await ok.connectAndWait();
  const arr = env.sdk(strictEdge.url, { token: env.connToken({ sub: 'u2', aud: ['x', 'wirehub-test'], iss: 'backend' }) });
  await arr.connectAndWait();
  // The unconfigured edge ignores aud/iss.
  const lax = env.sdk(edge.url, { token: env.connToken({ sub: 'u', aud: 'whatever', iss: 'anyone' }) });
  await lax.connectAndWait();

  // Subscription tokens on the strict edge need them too.
  const noAud = await ok.subscribeRefused('private:strict', { token: env.subToken('u', 'private:strict') });
  assert.equal(noAud.code, 103, JSON.stringify(noAud));
  await ok.subscribeAndWait('private:strict', 5000, { token: env.subToken('u', 'private:strict', good) });
  for (const c of [ok, arr, lax]) c.close();
});

test('subscription token expiry: the SDK refreshes it with sub_refresh and stays subscribed', async () => {
  const c = env.sdk(edge.url, { token: env.connToken({ sub: 'subber' }) });
  await c.connectAndWait();
  let calls = 0;
  const start = nowSeconds();
  const rec = await c.subscribeAndWait('private:expiring', 5000, {
    getToken: async (ctx) => {
      calls++;
      return env.subToken('subber', ctx.channel, {}, { ttl: 2 });
    },
  });
  const subReply = c.receivedMessages().find((m) => m.subscribe && m.id);
  assert.equal(subReply.subscribe.expires, true, JSON.stringify(subReply));
  assert.ok(subReply.subscribe.ttl >= 1 && subReply.subscribe.ttl <= 2, JSON.stringify(subReply));
  await sleep(Math.max(0, (start + 2 + DELAY_S) * 1000 + SWEEP_SLACK_MS + 1500 - Date.now()));
  assert.ok(sentCommands(c, 'sub_refresh').length >= 1, 'sub_refresh sent');
  assert.ok(c.receivedMessages().some((m) => m.sub_refresh?.expires === true), 'sub_refresh answered with expires');
  assert.ok(calls >= 2, `getToken called for subscribe and refresh (${calls})`);
  assert.equal(rec.events.filter((e) => e.name === 'unsubscribed').length, 0, 'never unsubscribed');
  assert.ok(!c.receivedMessages().some((m) => m.push?.unsubscribe), 'no unsubscribe push');
  await env.publish('private:expiring', { still: true });
  await c.waitPublication('private:expiring', (d) => d.still === true, 5000);
  c.close();
});

test('subscription token expiry without sub_refresh: unsubscribe push 2501 at exp + delay, nothing after', async () => {
  const raw = await env.raw(edge.url, { autoPong: true });
  await raw.connect(env.connToken({ sub: 'lazy' }));
  const exp = nowSeconds() + 2;
  raw.sendCommands({
    id: 2,
    subscribe: { channel: 'private:lazy', token: signHs256(env.secret, { typ: 'subscription', sub: 'lazy', channel: 'private:lazy', exp }) },
  });
  const r = await raw.reply(2);
  assert.equal(r.subscribe?.expires, true, JSON.stringify(r));
  const push = await raw.waitMessage(
    (m) => m.push?.unsubscribe && m.push.channel === 'private:lazy',
    exp * 1000 + DELAY_S * 1000 + SWEEP_SLACK_MS + 2000 - Date.now(),
    'unsubscribe push',
  );
  assert.equal(push.push.unsubscribe.code, 2501, JSON.stringify(push));
  assert.ok(Date.now() >= exp * 1000 + DELAY_S * 1000 - 50, 'not before exp + delay');
  assert.ok(raw.isOpen, 'the connection stays');
  // No longer subscribed: a publication does not arrive; a barrier on another channel does.
  raw.sendCommands({ id: 3, subscribe: { channel: 'barrier-lazy' } });
  await raw.reply(3);
  await env.publish('private:lazy', { late: true });
  await env.publish('barrier-lazy', { b: 1 });
  await raw.waitMessage((m) => m.push?.channel === 'barrier-lazy', 5000, 'barrier');
  assert.ok(!raw.messages.some((m) => m.push?.pub?.data?.late), 'no publication after the unsubscribe');
  raw.close();
});

test('tokens minted by wirehubctl token carry tenant, info, channels, aud/iss, and --channel mints a subscription token', async () => {
  const mint = async (args) => {
    const { stdout } = await env.ctl(['token', `--token_hmac_secret_file=${env.secretFile}`, ...args]);
    return stdout.trim();
  };
  const conn = await mint(['--user=cli', '--tenant=acme', '--info={"name":"Cli"}', '--channels=private:cli-feed', '--audience=wirehub-test', '--issuer=backend']);
  const c = env.sdk(strictEdge.url, { token: conn });
  await c.connectAndWait();
  await c.waitEvent('subscribed', (x) => x.channel === 'private:cli-feed', 5000, 'server-side subscription from --channels');
  // The tenant claim: a publish in tenant acme reaches it, one in the default space does not.
  await env.publish('private:cli-feed', { space: 'default' });
  await env.publish('private:cli-feed', { space: 'acme' }, control, { tenant: 'acme' });
  const pub = await c.waitEvent('publication', (x) => x.channel === 'private:cli-feed', 5000, 'publication in acme');
  assert.deepEqual(pub.data, { space: 'acme' });
  // --channel: a subscription token for this user, tenant and channel.
  const subTok = await mint(['--user=cli', '--tenant=acme', '--channel=private:cli-room', '--audience=wirehub-test', '--issuer=backend']);
  await c.subscribeAndWait('private:cli-room', 5000, { token: subTok });
  // A connection token from wirehubctl is refused as a subscription token.
  const refused = await c.subscribeRefused('private:cli-other', { token: conn });
  assert.equal(refused.code, 103);
  c.close();
});
