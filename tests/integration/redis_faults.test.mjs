// Faults under load with the Redis engine: three control replicas on one
// Redis (with its AOF), two edges each given every replica, 20 SDK clients
// on 10 channels with history and recovery, and wirehub-fault-publisher
// publishing 500/s for 10 s with an idempotency key per publication,
// retrying each failure with the same key on the next replica. While it
// runs, one case at a time:
//   a. the replica an edge is attached to is killed (SIGKILL);
//   b. Redis is killed and restarted on its AOF;
//   c. Redis is restarted empty;
//   d. Redis is paused (CLIENT PAUSE 5000).
// Every client's publications are checked against the positions the
// publisher got: each once, in offset order, never `recovered: true` across
// a hole (docs/scaling.md, "What each engine guarantees"). Each case prints
// one summary line.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Env, rssBytes, sleep, waitFor, withTimeout } from './harness.mjs';
import { killRedis, redisCommand, redisConfig, startRedis } from './redis_util.mjs';

const env = new Env('wirehub-redis-faults');
after(() => env.cleanup());

const CHANNELS = Array.from({ length: 10 }, (_, i) => `chat:f${i}`);
const RATE = 500;
const DURATION_S = 10;
const DEADLINE_S = 30;
// When, after the publisher starts, each fault is injected.
const FAULT_AFTER_MS = 3000;
const AOF = ['--appendonly', 'yes', '--appendfsync', 'everysec'];

let redis;
let controls; // [A, B, C]; A dies in case a
let live; // the replicas still running
let edges;
// {client, subs: Map(channel -> rec)}
const clients = [];

before(async () => {
  redis = await startRedis(env, { args: AOF });
  const configFile = redisConfig(env, 'redis-config.json', redis, {
    namespaces: [{
      name: 'chat',
      options: {
        allow_subscribe_for_client: true, allow_history_for_subscriber: true,
        history_size: 10000, history_ttl: '600s', allow_recovery: true,
      },
    }],
  });
  controls = [];
  for (let i = 0; i < 3; i++) controls.push(await env.startControl([`--config=${configFile}`]));
  live = [...controls];
  env.control = controls[1];
  const links = controls.map((c) => c.edgeAddress);
  // The edge takes the first replica of its list that answers: edge-a
  // attaches to A, edge-b to B.
  edges = await Promise.all([
    env.startEdge(controls[0], { config: configFile, edge_id: 'edge-a', control: links.join(',') }),
    env.startEdge(controls[1], {
      config: configFile, edge_id: 'edge-b', control: [links[1], links[2], links[0]].join(','),
    }),
  ]);
  // 20 clients, 10 per edge; client i follows channels i%10 and (i+3)%10,
  // so every channel has two subscribers on each edge.
  for (let i = 0; i < 20; i++) {
    const client = env.sdk(edges[i % 2].url, { token: await env.token(`user-${i}`) });
    await client.connectAndWait();
    const subs = new Map();
    for (const channel of [CHANNELS[i % 10], CHANNELS[(i + 3) % 10]]) {
      subs.set(channel, await client.subscribeAndWait(channel));
    }
    clients.push({ client, subs });
  }
});

/**
 * Runs wirehub-fault-publisher through `targets` while `fault()` runs
 * FAULT_AFTER_MS after it started; resolves with its parsed summary (plus
 * `exitCode`) once it exits.
 */
async function publishUnderFault(name, targets, fault) {
  const keyPrefix = `${name}-${randomBytes(4).toString('hex')}`;
  const proc = env.spawnBinary(`fault-publisher[${name}]`, 'wirehub-fault-publisher', [
    `--controls=${targets.map((c) => c.address).join(',')}`,
    `--channels=${CHANNELS.join(',')}`,
    `--rate=${RATE}`,
    `--duration=${DURATION_S}`,
    `--deadline=${DEADLINE_S}`,
    `--key_prefix=${keyPrefix}`,
  ]);
  const line = proc.waitForLine(/^\{.*\}$/, (DURATION_S + DEADLINE_S + 20) * 1000);
  line.catch(() => {});
  await sleep(FAULT_AFTER_MS);
  await fault();
  const m = await line;
  const { code } = await withTimeout(proc.exited, 10_000, `${name}: the publisher to exit`);
  // A publisher that gave up some publications fails the case below, with
  // its summary, rather than cleanup() with its exit status.
  proc.expectExit({ code });
  const summary = JSON.parse(m[0]);
  summary.exitCode = code;
  // seq -> {channel, offset, epoch, attempts, replayed}
  summary.bySeq = new Map();
  for (const [channel, { epochs, publications }] of Object.entries(summary.channels)) {
    for (const [seq, offset, epochIndex, attempts, replayed] of publications) {
      summary.bySeq.set(seq, { channel, offset, epoch: epochs[epochIndex], attempts, replayed: replayed === 1 });
    }
  }
  return summary;
}

/** Every subscription's event count now: a case checks the events after it. */
function marks() {
  return clients.map(({ subs }) => new Map([...subs].map(([ch, rec]) => [ch, rec.events.length])));
}

/**
 * Checks one subscription's events against the publisher's positions.
 * Walks every event (the epoch and offset a subscription is at come from
 * before the case too) and counts, from event `from` on:
 *  - missing: publications of the case on its channel it never received;
 *  - duplicated: a seq received twice in one epoch;
 *  - redelivered: a seq received again in a later epoch (after a Redis
 *    restart lost it and the publisher made it again; the client was told);
 *  - outOfOrder: an offset not above the previous one, or a smaller seq
 *    after a larger one when neither was retried;
 *  - holes: an offset beyond the next with nothing said (no `subscribed`
 *    with recovered: false in between);
 *  - falseRecoveries: `recovered: true` in another epoch or from another
 *    offset than the client had;
 *  - mismatched: a publication whose offset is not the one the publisher
 *    got for it in that epoch;
 *  - told: `subscribed` events with recovered: false in a new epoch.
 */
function checkSubscription(rec, from, summary) {
  const counts = {
    received: 0, missing: 0, duplicated: 0, redelivered: 0, outOfOrder: 0, holes: 0,
    falseRecoveries: 0, mismatched: 0, told: 0,
  };
  let epoch = null;
  let last = null;
  let lastSeq = null; // the largest first-attempt seq received in this epoch
  const seenIn = new Map(); // seq -> Set of epochs
  const problems = [];
  for (const [i, e] of rec.events.entries()) {
    const counting = i >= from;
    if (e.name === 'subscribed') {
      const pos = e.ctx.streamPosition;
      if (e.ctx.recovered && (!pos || pos.epoch !== epoch || Number(pos.offset) !== last)) {
        if (counting) {
          counts.falseRecoveries++;
          problems.push(`recovered from ${JSON.stringify(pos)} holding ${epoch}/${last}`);
        }
      }
      if (counting && !e.ctx.recovered && pos && pos.epoch !== epoch) counts.told++;
      if (!pos || pos.epoch !== epoch) lastSeq = null;
      epoch = pos ? pos.epoch : null;
      last = pos ? Number(pos.offset) : null;
      continue;
    }
    if (e.name !== 'publication') continue;
    const offset = Number(e.ctx.offset);
    if (counting && last !== null && offset !== last + 1) {
      if (offset <= last) counts.outOfOrder++;
      else counts.holes++;
      problems.push(`offset ${offset} after ${last} in ${epoch}`);
    }
    last = offset;
    if (!counting) continue;
    counts.received++;
    const { seq } = e.ctx.data;
    const epochs = seenIn.get(seq) ?? new Set();
    if (epochs.has(epoch)) {
      counts.duplicated++;
      problems.push(`seq ${seq} twice in ${epoch}`);
    } else if (epochs.size > 0) {
      counts.redelivered++;
    }
    epochs.add(epoch);
    seenIn.set(seq, epochs);
    const want = summary.bySeq.get(seq);
    if (!want || want.channel !== rec.channel) {
      counts.mismatched++;
      problems.push(`seq ${seq} the publisher did not place on ${rec.channel}`);
    } else if (want.epoch === epoch && want.offset !== offset) {
      counts.mismatched++;
      problems.push(`seq ${seq} at ${offset}, published at ${want.offset}`);
    }
    if (want && want.attempts === 1) {
      if (lastSeq !== null && seq < lastSeq) {
        counts.outOfOrder++;
        problems.push(`seq ${seq} after seq ${lastSeq}, neither retried`);
      }
      lastSeq = Math.max(lastSeq ?? seq, seq);
    }
  }
  for (const [seq, want] of summary.bySeq) {
    if (want.channel === rec.channel && !seenIn.has(seq)) {
      counts.missing++;
      problems.push(`missing seq ${seq} (offset ${want.offset} in ${want.epoch}, attempts ${want.attempts})`);
    }
  }
  return { counts, problems };
}

/** checkSubscription over every client; sums and the first problems. */
function checkAll(since, summary) {
  const total = {};
  const problems = [];
  for (const [i, { subs }] of clients.entries()) {
    for (const [channel, rec] of subs) {
      const { counts, problems: p } = checkSubscription(rec, since[i].get(channel), summary);
      for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
      for (const text of p.slice(0, 3)) problems.push(`client ${i} ${channel}: ${text}`);
    }
  }
  return { total, problems: problems.slice(0, 20) };
}

/** Waits until every subscription received every publication of the case (or timeoutMs passed). */
async function waitDelivered(since, summary, timeoutMs) {
  try {
    await waitFor(() => checkAll(since, summary).total.missing === 0, timeoutMs, 'every publication delivered', {
      intervalMs: 200,
    });
  } catch {
    // The checks below say what is missing.
  }
}

function failureText(summary) {
  return Object.entries(summary.failures).map(([code, f]) => `${code}=${f.count}(max ${f.max_ms}ms)`).join(',') || 'none';
}

function report(name, summary, total, extra = '') {
  console.log(
    `redis_faults ${name}: published ${summary.published}/${summary.total} ` +
      `retried=${summary.retried} attempts=${summary.attempts} failures=${failureText(summary)} | clients: ` +
      `received=${total.received} missing=${total.missing} duplicated=${total.duplicated} ` +
      `redelivered=${total.redelivered} out_of_order=${total.outOfOrder} holes=${total.holes} ` +
      `false_recoveries=${total.falseRecoveries} mismatched=${total.mismatched} told=${total.told}` +
      (extra ? ` | ${extra}` : ''),
  );
}

function assertPublished(summary) {
  assert.equal(
    summary.exitCode, 0,
    `the publisher gave up ${summary.given_up.length} publications (first: ${summary.given_up.slice(0, 10)}); ` +
      `failures ${failureText(summary)}`,
  );
  assert.equal(summary.published, RATE * DURATION_S);
}

/** The history of every channel, read through `control`: offset -> data, for offsets above `after[ch]`. */
async function historySeqs(control, after) {
  const out = new Map();
  for (const channel of CHANNELS) {
    const { stdout } = await env.ctl([`--control=${control.address}`, 'history', channel, '--limit=-1']);
    const lines = stdout.trim().split('\n');
    const head = /^epoch=(\S*) offset=(\d+)$/.exec(lines[0]);
    assert.ok(head, `history header: ${lines[0]}`);
    const seqs = [];
    for (const line of lines.slice(1)) {
      const sp = line.indexOf(' ');
      const offset = Number(line.slice(0, sp));
      if (offset > (after?.get(channel)?.offset ?? 0) || head[1] !== after?.get(channel)?.epoch) {
        seqs.push(JSON.parse(line.slice(sp + 1)).seq);
      }
    }
    out.set(channel, { epoch: head[1], offset: Number(head[2]), seqs });
  }
  return out;
}

test('a. a control replica killed under load: retried elsewhere, every publication once, in order', async () => {
  const since = marks();
  const [victim] = live;
  live = live.slice(1);
  const summary = await publishUnderFault('replica-kill', controls, async () => {
    victim.expectExit({ signal: 'SIGKILL' });
    victim.child.kill('SIGKILL');
    await withTimeout(victim.exited, 5000, 'the killed replica to exit');
  });
  await waitDelivered(since, summary, 20_000);
  const { total, problems } = checkAll(since, summary);
  report('a (replica kill -9)', summary, total);
  assertPublished(summary);
  // The kill fails the publications in flight to the victim, if any (at
  // 500/s there are often none): the summary line says how many.
  assert.equal(total.missing, 0, problems.join('\n'));
  assert.equal(total.duplicated, 0, problems.join('\n'));
  assert.equal(total.outOfOrder, 0, problems.join('\n'));
  assert.equal(total.holes, 0, problems.join('\n'));
  assert.equal(total.falseRecoveries, 0, problems.join('\n'));
  assert.equal(total.mismatched, 0, problems.join('\n'));
  assert.equal(total.received, summary.published * 4, 'four subscribers per channel');
});

test('d. Redis paused: UNAVAILABLE within command_timeout, bounded memory, nothing published twice', async () => {
  const since = marks();
  const historyBefore = await historySeqs(live[0], null);
  const baseline = live.map((c) => rssBytes(c.pid));
  const peak = [...baseline];
  const sampler = setInterval(() => {
    for (const [i, c] of live.entries()) peak[i] = Math.max(peak[i], rssBytes(c.pid) ?? 0);
  }, 100);
  let summary;
  try {
    summary = await publishUnderFault('pause', live, async () => {
      const reply = await redisCommand(redis.redisPort, ['CLIENT', 'PAUSE', '5000']);
      assert.match(reply, /^\+OK/);
    });
  } finally {
    clearInterval(sampler);
  }
  await waitDelivered(since, summary, 20_000);
  const { total, problems } = checkAll(since, summary);
  const growth = peak.map((p, i) => p - baseline[i]);
  // Every seq of the case once in every channel's history.
  const history = await historySeqs(live[1], historyBefore);
  let historyDuplicates = 0;
  let historyMissing = 0;
  for (const [channel, { seqs }] of history) {
    const counted = new Map();
    for (const s of seqs) counted.set(s, (counted.get(s) ?? 0) + 1);
    for (const n of counted.values()) if (n > 1) historyDuplicates += n - 1;
    for (const [seq, want] of summary.bySeq) if (want.channel === channel && !counted.has(seq)) historyMissing++;
  }
  report('d (CLIENT PAUSE 5000)', summary, total,
    `rss_growth_mb=${growth.map((g) => (g / 2 ** 20).toFixed(1)).join(',')} ` +
      `history_duplicates=${historyDuplicates} history_missing=${historyMissing}`);
  assertPublished(summary);
  const unavailable = summary.failures.UNAVAILABLE;
  assert.ok(unavailable && unavailable.count > 0, `no publish failed with UNAVAILABLE: ${failureText(summary)}`);
  // command_timeout is 1s. Measured from the publisher's write, so the
  // time a request waited in control's stream (which stops reading while
  // answers are unsent) counts too.
  assert.ok(unavailable.max_ms < 3000, `UNAVAILABLE took up to ${unavailable.max_ms} ms`);
  for (const g of growth) assert.ok(g < 50 * 2 ** 20, `control RSS grew by ${g} bytes`);
  assert.equal(historyDuplicates, 0);
  assert.equal(historyMissing, 0);
  assert.equal(total.missing, 0, problems.join('\n'));
  assert.equal(total.duplicated, 0, problems.join('\n'));
  assert.equal(total.outOfOrder, 0, problems.join('\n'));
  assert.equal(total.holes, 0, problems.join('\n'));
  assert.equal(total.falseRecoveries, 0, problems.join('\n'));
  assert.equal(total.mismatched, 0, problems.join('\n'));
});

/** Kills Redis and starts it again on its port, with its AOF (`keep`) or empty. */
async function restartRedis({ keep }) {
  const { redisPort, redisDir } = redis;
  await killRedis(redis);
  let dir;
  if (keep) {
    dir = redisDir;
  } else {
    dir = fs.mkdtempSync(path.join(env.dir, 'redis-empty-'));
  }
  redis = await startRedis(env, { port: redisPort, dir, args: AOF });
}

async function redisRestartCase(name, keep) {
  const since = marks();
  const epochsBefore = new Set(clients.flatMap(({ subs }) => [...subs.values()].map((rec) => {
    const last = rec.events.filter((e) => e.name === 'subscribed').at(-1);
    return last.ctx.streamPosition.epoch;
  })));
  const summary = await publishUnderFault(name, live, () => restartRedis({ keep }));
  await waitDelivered(since, summary, 10_000);
  const { total, problems } = checkAll(since, summary);
  // Each subscription is now in a new epoch, and was told so.
  let stale = 0;
  for (const { subs } of clients) {
    for (const rec of subs.values()) {
      const last = rec.events.filter((e) => e.name === 'subscribed').at(-1);
      if (epochsBefore.has(last.ctx.streamPosition.epoch)) stale++;
    }
  }
  return { summary, total, problems, stale };
}

test('b. Redis killed and restarted on its AOF: the epoch changes, clients are told, never recovered across a hole', async () => {
  const { summary, total, problems, stale } = await redisRestartCase('redis-aof', true);
  report('b (Redis kill -9, AOF restart)', summary, total, `subscriptions_in_old_epoch=${stale}`);
  assertPublished(summary);
  assert.equal(total.falseRecoveries, 0, problems.join('\n'));
  assert.equal(total.holes, 0, problems.join('\n'));
  assert.equal(total.duplicated, 0, problems.join('\n'));
  assert.equal(total.outOfOrder, 0, problems.join('\n'));
  assert.equal(total.mismatched, 0, problems.join('\n'));
  // docs/scaling.md: every Redis restart changes every epoch.
  assert.equal(stale, 0, 'subscriptions still in an epoch from before the restart');
  assert.ok(total.told >= clients.length * 2, `only ${total.told} subscriptions were told of the new epoch`);
});

test('c. Redis restarted empty: the epoch changes everywhere, clients are told', async () => {
  const { summary, total, problems, stale } = await redisRestartCase('redis-empty', false);
  report('c (Redis restarted empty)', summary, total, `subscriptions_in_old_epoch=${stale}`);
  assertPublished(summary);
  assert.equal(total.falseRecoveries, 0, problems.join('\n'));
  assert.equal(total.holes, 0, problems.join('\n'));
  assert.equal(total.duplicated, 0, problems.join('\n'));
  assert.equal(total.outOfOrder, 0, problems.join('\n'));
  assert.equal(total.mismatched, 0, problems.join('\n'));
  assert.equal(stale, 0, 'subscriptions still in an epoch from before the restart');
  assert.ok(total.told >= clients.length * 2, `only ${total.told} subscriptions were told of the new epoch`);
});
