// Command floods from raw WebSocket clients: subscribe+unsubscribe pairs on
// channels with history, pipelined as fast as the socket takes them. Every
// command is answered exactly once and in the order sent (a subscribe
// overtaken by its unsubscribe still gets its own reply first); a subscribe
// answers a result or 111 (too many control calls in flight), an unsubscribe
// always succeeds; and neither the edge nor control grows by 50 MB or more.
// Each case runs on its own control and edge, started fresh. The first three
// cases replay the reported floods, with another client already subscribed
// to the channel so that every flood subscribe asks control for a position; the last sends 100 subscribes to
// channels the edge has not seen before their unsubscribes, so the bound on
// control calls in flight (111) is reached.
//
// The edge's per-connection command rate (limits.command_rate, 100/s by
// default) would end these floods after a few hundred commands with 111 and
// then 3013; the config lifts it so that the paths behind it are what is
// flooded. edge_limits.test.mjs checks the rate limit itself.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { Env, rssBytes, sleep, withTimeout } from './harness.mjs';

const env = new Env('wirehub-floods');
after(() => env.cleanup());

const MB = 1024 * 1024;
const RSS_GROWTH_LIMIT = 50 * MB;
/** After the last frame is sent, give up on the rest once no reply came for this long. */
const QUIET_MS = 5000;

const configFile = env.writeConfig('config.json', {
  limits: { command_rate: 1e9, command_burst: 1000000000 },
  namespaces: [
    {
      name: 'flood',
      options: {
        allow_subscribe_for_client: true,
        allow_history_for_subscriber: true,
        allow_recovery: true,
        history_size: 1000,
        history_ttl: '600s',
      },
    },
  ],
});

/**
 * A fresh control and edge, with `count` publications of `padBytes` each in
 * the history of each of `channels`.
 */
async function servers(label, channels, count, padBytes) {
  const control = await env.startControl([`--config=${configFile}`]);
  const edge = await env.startEdge(control, { config: configFile, edge_id: `edge-${label}` });
  const pad = 'x'.repeat(padBytes);
  const lines = channels.flatMap((channel) =>
    Array.from({ length: count }, (_, k) => `${channel} ${JSON.stringify({ i: k + 1, pad })}`),
  );
  await env.publishLines(lines, { control, timeoutMs: 60_000 });
  return { control, edge };
}

/** Samples the RSS of each process every 50 ms from now until stop(). */
function rssWatch(procs) {
  const before = procs.map((p) => rssBytes(p.pid));
  const peak = [...before];
  const sample = () => {
    const now = procs.map((p) => rssBytes(p.pid));
    now.forEach((r, i) => {
      if (r !== null && r > peak[i]) peak[i] = r;
    });
    return now;
  };
  const timer = setInterval(sample, 50);
  return {
    stop() {
      clearInterval(timer);
      const last = sample();
      return procs.map((p, i) => ({ name: p.name, before: before[i], after: last[i], peak: peak[i] }));
    },
  };
}

const mb = (bytes) => (bytes === null ? 'gone' : `${(bytes / MB).toFixed(1)} MB`);

/**
 * The flood one connection sends: `pairs` subscribe+unsubscribe pairs with
 * ids from 2, newline-joined into frames. `channel` is a name, or a function
 * of the pair's index. Layout 'pairs': each subscribe is followed at once by
 * its unsubscribe, `pairsPerFrame` pairs a frame. Layout 'batched': a frame
 * of `pairsPerFrame` subscribes, then a frame of their unsubscribes.
 * Returns {frames, commands}: commands[i] = {id, kind, pair}, in send order.
 */
function buildFlood(channel, { pairs, pairsPerFrame, layout = 'pairs' }) {
  const channelOf = typeof channel === 'function' ? channel : () => channel;
  const commands = [];
  const frames = [];
  let id = 2;
  const line = (kind, pair) => {
    commands.push({ id, kind, pair });
    return `{"id":${id++},"${kind}":{"channel":"${channelOf(pair)}"}}`;
  };
  for (let k = 0; k < pairs; k += pairsPerFrame) {
    const batch = [];
    for (let j = k; j < Math.min(pairs, k + pairsPerFrame); j++) batch.push(j);
    if (layout === 'pairs') {
      frames.push(batch.flatMap((j) => [line('subscribe', j), line('unsubscribe', j)]).join('\n'));
    } else {
      frames.push(batch.map((j) => line('subscribe', j)).join('\n'));
      frames.push(batch.map((j) => line('unsubscribe', j)).join('\n'));
    }
  }
  return { frames, commands };
}

/** Sends frames one after another, each once the socket has taken the previous one. */
async function sendAll(raw, frames) {
  for (const frame of frames) {
    await withTimeout(
      new Promise((resolve, reject) => raw.ws.send(frame, (err) => (err ? reject(err) : resolve()))),
      10_000,
      'the socket to take a flood frame',
    );
  }
}

const isReply = (m) => m !== null && typeof m === 'object' && !Array.isArray(m) && m.id !== undefined;

/**
 * Sends the flood to every raw client (already connected), then waits until
 * each has a reply for every command, or until no reply arrived for
 * QUIET_MS, or boundMs. Returns, per client, the commands sent and the
 * replies received in arrival order.
 */
async function flood(raws, channel, { pairs, pairsPerFrame, layout, boundMs }) {
  const plan = buildFlood(channel, { pairs, pairsPerFrame, layout });
  const startIndex = raws.map((r) => r.messages.length);
  const started = Date.now();
  await Promise.all(raws.map((raw) => sendAll(raw, plan.frames)));
  const sentAt = Date.now();
  const replyCount = () =>
    raws.reduce((sum, raw, i) => sum + raw.messages.slice(startIndex[i]).filter(isReply).length, 0);
  let lastCount = -1;
  let lastProgress = Date.now();
  for (;;) {
    const count = replyCount();
    if (count !== lastCount) {
      lastCount = count;
      lastProgress = Date.now();
    }
    if (count >= raws.length * plan.commands.length) break;
    if (raws.every((r) => r.closeInfo)) break;
    if (Date.now() - lastProgress >= QUIET_MS || Date.now() - started >= boundMs) break;
    await sleep(50);
  }
  const doneAt = Date.now();
  return {
    sendMs: sentAt - started,
    totalMs: doneAt - started,
    perClient: raws.map((raw, i) => ({
      raw,
      commands: plan.commands,
      replies: raw.messages.slice(startIndex[i]).filter(isReply),
    })),
  };
}

/** Every way a client's replies break the rules, as readable strings (empty: all good). */
function replyProblems({ raw, commands, replies }, label) {
  const problems = [];
  const sent = new Map(commands.map((c) => [c.id, c]));
  const count = new Map();
  for (const r of replies) count.set(r.id, (count.get(r.id) ?? 0) + 1);
  const missing = commands.filter((c) => !count.has(c.id));
  const duplicated = commands.filter((c) => count.get(c.id) > 1);
  if (missing.length) {
    const missingSubs = missing.filter((c) => c.kind === 'subscribe').length;
    problems.push(
      `${label}: ${missing.length} of ${commands.length} commands never answered ` +
        `(${missingSubs} subscribes, ${missing.length - missingSubs} unsubscribes; ` +
        `first ids ${missing.slice(0, 8).map((c) => c.id).join(',')})`,
    );
  }
  if (duplicated.length) {
    problems.push(`${label}: ${duplicated.length} commands answered more than once (first ids ${duplicated.slice(0, 8).map((c) => c.id).join(',')})`);
  }
  const foreign = replies.filter((r) => !sent.has(r.id));
  if (foreign.length) problems.push(`${label}: ${foreign.length} replies with ids never sent: ${JSON.stringify(foreign.slice(0, 3))}`);

  // Commands were sent in increasing id order, so replies must come so too.
  let outOfOrder = 0;
  let firstOutOfOrder;
  for (let i = 1; i < replies.length; i++) {
    if (replies[i].id <= replies[i - 1].id) {
      outOfOrder += 1;
      firstOutOfOrder ??= `${replies[i - 1].id} then ${replies[i].id}`;
    }
  }
  if (outOfOrder) problems.push(`${label}: ${outOfOrder} replies out of send order (first: ${firstOutOfOrder})`);

  const position = new Map();
  replies.forEach((r, i) => {
    if (!position.has(r.id)) position.set(r.id, i);
  });
  const subscribeOf = new Map(commands.filter((c) => c.kind === 'subscribe').map((c) => [c.pair, c.id]));
  let unsubFirst = 0;
  for (const c of commands) {
    if (c.kind !== 'unsubscribe') continue;
    const u = position.get(c.id);
    const s = position.get(subscribeOf.get(c.pair));
    if (u !== undefined && (s === undefined || u < s)) unsubFirst += 1;
  }
  if (unsubFirst) problems.push(`${label}: ${unsubFirst} unsubscribes answered before (or without) their subscribe`);

  let subOk = 0;
  let sub111 = 0;
  const subBad = [];
  const unsubBad = [];
  for (const r of replies) {
    const c = sent.get(r.id);
    if (!c) continue;
    if (c.kind === 'subscribe') {
      if (r.subscribe && !r.error) subOk += 1;
      else if (r.error?.code === 111) sub111 += 1;
      else subBad.push(r);
    } else if (!(r.unsubscribe && !r.error)) {
      unsubBad.push(r);
    }
  }
  if (subBad.length) {
    const codes = {};
    for (const r of subBad) codes[r.error?.code ?? 'none'] = (codes[r.error?.code ?? 'none'] ?? 0) + 1;
    problems.push(`${label}: ${subBad.length} subscribe replies neither a result nor 111 (by code ${JSON.stringify(codes)}; first ${JSON.stringify(subBad[0])})`);
  }
  if (unsubBad.length) problems.push(`${label}: ${unsubBad.length} unsubscribe replies not a success (first ${JSON.stringify(unsubBad[0])})`);
  const first = replies.find((r) => r.id === commands[0].id);
  if (first && !(first.subscribe && !first.error)) {
    problems.push(`${label}: the first subscribe (nothing in flight yet) did not succeed: ${JSON.stringify(first)}`);
  }
  if (raw.closeInfo) problems.push(`${label}: the edge closed the socket (${raw.closeInfo.code} ${JSON.stringify(raw.closeInfo.reason)})`);
  return { problems, summary: `${label}: ${replies.length} replies to ${commands.length} commands; subscribes ${subOk} ok, ${sub111} × 111, ${subBad.length} other` };
}

function memoryProblems(rss) {
  const problems = [];
  for (const r of rss) {
    if (r.after === null) {
      problems.push(`${r.name} exited during the flood`);
      continue;
    }
    const grew = Math.max(r.after, r.peak) - r.before;
    if (grew >= RSS_GROWTH_LIMIT) {
      problems.push(`${r.name} RSS grew by ${mb(grew)} (before ${mb(r.before)}, peak ${mb(r.peak)}, after the last reply ${mb(r.after)}), limit ${mb(RSS_GROWTH_LIMIT)}`);
    }
  }
  return problems;
}

/** Connects `n` raw clients (answering pings) to `edge`. */
async function rawClients(edge, n, user) {
  const out = [];
  for (let k = 0; k < n; k++) {
    const raw = await env.raw(edge.url, { autoPong: true });
    await raw.connect(env.connToken({ sub: `${user}-${k}` }), 1);
    out.push(raw);
  }
  return out;
}

async function runCase(t, label, { channel, history, connections, pairs, pairsPerFrame, layout, boundMs, standing = false }) {
  let standingClient = null;
  const channels = typeof channel === 'function' ? Array.from({ length: pairs }, (_, k) => channel(k)) : [channel];
  const { control, edge } = await servers(label, [...new Set(channels)], history.count, history.padBytes);
  const raws = await rawClients(edge, connections, label);
  if (standing) {
    // A subscriber already on the channel: control has acknowledged it, so
    // every flood subscribe goes straight to positioning (a History call),
    // as in the reported floods. It stays subscribed throughout.
    const [holder] = await rawClients(edge, 1, `${label}-holder`);
    holder.sendCommands({ id: 2, subscribe: { channel } });
    const reply = await holder.reply(2, 10_000);
    assert.ok(reply.subscribe, `standing subscribe to ${channel}: ${JSON.stringify(reply)}`);
    standingClient = holder;
  }
  await sleep(300); // let the processes settle after connecting before the baseline
  const watch = rssWatch([edge, control]);
  const result = await flood(raws, channel, { pairs, pairsPerFrame, layout, boundMs });
  const rss = watch.stop();
  const problems = [];
  const summaries = [];
  result.perClient.forEach((c, i) => {
    const { problems: p, summary } = replyProblems(c, `connection ${i + 1}`);
    problems.push(...p);
    summaries.push(summary);
  });
  problems.push(...memoryProblems(rss));
  for (const p of [edge, control]) if (!p.running) problems.push(`${p.name} exited: ${JSON.stringify(p.exitInfo)}`);
  const report =
    `${label}: sent in ${result.sendMs} ms, replies waited for until ${result.totalMs} ms; ` +
    `${summaries.join('; ')}; ` +
    rss.map((r) => `${r.name} RSS ${mb(r.before)} -> peak ${mb(r.peak)}, after ${mb(r.after)}`).join('; ');
  t.diagnostic(report);
  for (const raw of raws) raw.close();
  if (standingClient) standingClient.close();
  await edge.stop({ graceMs: 3000 });
  await control.stop({ graceMs: 3000 });
  assert.deepEqual(problems, [], report);
}

test('one connection, 10,000 subscribe+unsubscribe pairs on a channel with history', async (t) => {
  await runCase(t, 'one-connection', {
    channel: 'flood:one',
    history: { count: 20, padBytes: 1000 },
    connections: 1,
    pairs: 10_000,
    pairsPerFrame: 200,
    boundMs: 20_000,
    standing: true,
  });
});

test('four connections at once, 10,000 pairs each on the same channel with history', async (t) => {
  await runCase(t, 'four-connections', {
    channel: 'flood:four',
    history: { count: 20, padBytes: 1000 },
    connections: 4,
    pairs: 10_000,
    pairsPerFrame: 200,
    boundMs: 25_000,
    standing: true,
  });
});

test('one ~20 KB frame of 200 pairs on a channel with ~2.1 MB of history', async (t) => {
  await runCase(t, 'big-history-frame', {
    channel: 'flood:big',
    history: { count: 42, padBytes: 50_000 },
    connections: 1,
    pairs: 200,
    pairsPerFrame: 200,
    boundMs: 15_000,
    standing: true,
  });
});

test('one connection, 2,000 channels with history: frames of 100 subscribes, each followed by a frame of their unsubscribes', async (t) => {
  // Every subscribe needs control (a channel the edge has not seen yet), so
  // the connection's calls in flight reach their bound (the rest answer
  // 111), and the unsubscribes arrive while subscribes still wait.
  await runCase(t, 'distinct-channels', {
    channel: (k) => `flood:d${k}`,
    history: { count: 1, padBytes: 1000 },
    connections: 1,
    pairs: 2000,
    pairsPerFrame: 100,
    layout: 'batched',
    boundMs: 15_000,
  });
});
