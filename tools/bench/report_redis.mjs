// The Redis engine's section of docs/benchmarks.md (issue 16), rendered by
// report.mjs: the results of `wirehub-bench channels|latency --engines=...`
// (every line with an "engine") and of `wirehub-bench redis_script`, with
// the memory engine and the Redis engine side by side, redis-benchmark's
// ceiling for the same script, and the targets.

import {fmtCount, fmtLatencyUs, fmtMicros, fmtRate, markdownTable, num, sig} from './report.mjs';

const DASH = '—';

// The targets for the Redis engine on this machine.
export const REDIS_TARGETS = {
  // Publishes/s through PublishStream against the memory engine's.
  ofMemory: 0.5,
  // ... against what redis-benchmark does with the same script, one
  // publication per call.
  ofRedisBenchmark: 0.7,
  // Added to the memory engine's p50 publish -> receive latency, µs.
  addedP50Us: 300,
};

// Whether a result belongs to this section (and to no other).
export function isRedisEngineResult(r) {
  return (typeof r.engine === 'string' && r.engine !== '') || r.scenario === 'redis_script';
}

// Whether a scenario command belongs to this section.
export function isRedisEngineCommand(command) {
  return /\s--engines=/.test(command) || /wirehub-bench\s+redis_script\b/.test(command);
}

function replicasOf(r) {
  return num(r.control_replicas) ?? 1;
}

// "memory", "redis", "redis ×2", "redis (aof appendfsync=everysec)".
export function engineLabel(r) {
  let label = r.engine ?? DASH;
  if (replicasOf(r) > 1) label += ` ×${replicasOf(r)}`;
  if (r.engine === 'redis' && r.redis_persistence && r.redis_persistence !== 'off') {
    label += ` (${r.redis_persistence})`;
  }
  return label;
}

function configKey(r) {
  return `${r.engine}|${replicasOf(r)}|${r.redis_persistence ?? ''}`;
}

const lossless = (r) => r.missing === 0 && (num(r.duplicated) ?? 0) === 0;
// What a configuration sustained: accepted and delivered, the smaller.
const sustained = (r) => Math.min(num(r.publishes_per_s) ?? 0, num(r.deliveries_per_s) ?? 0);

function fmtLoss(missing, expected) {
  if (num(missing) === undefined) return DASH;
  if (missing === 0 || !(num(expected) > 0)) return fmtCount(missing);
  return `${fmtCount(missing)} (${sig((100 * missing) / expected, 2)} %)`;
}

function fmtShare(a, b) {
  if (num(a) === undefined || !(num(b) > 0)) return DASH;
  return `${Math.round((100 * a) / b)} %`;
}

// The best sustained case of each configuration in `results` (lossless
// cases first), in order of first appearance.
function bestByConfig(results) {
  const best = new Map();
  for (const r of results) {
    const key = configKey(r);
    const current = best.get(key);
    const better = current === undefined ||
        (lossless(r) && !lossless(current)) ||
        (lossless(r) === lossless(current) && sustained(r) > sustained(current));
    if (better) best.set(key, r);
  }
  return best;
}

function memoryOf(results) {
  return results.find((r) => r.engine === 'memory' && replicasOf(r) === 1);
}

function throughputTable(channels) {
  const memoryAt = (rate, api) => channels.find((r) => r.engine === 'memory' &&
                                                      r.publish_rate === rate &&
                                                      r.publish_api === api);
  const rows = channels.map((r) => {
    const m = memoryAt(r.publish_rate, r.publish_api);
    return [
      engineLabel(r), r.publish_api ?? DASH, fmtRate(r.publish_rate), fmtRate(r.publishes_per_s),
      fmtRate(r.deliveries_per_s), m && r !== m ? fmtShare(sustained(r), sustained(m)) : '',
      fmtLoss(r.missing, r.expected), fmtLatencyUs(r.latency_us?.p50),
      fmtLatencyUs(r.latency_us?.p99), fmtMicros(r.control_cpu_us_per_publication),
      fmtMicros(r.redis_cpu_us_per_publication), fmtMicros(r.server_cpu_us_per_delivery),
    ];
  });
  return markdownTable(
      ['engine', 'API', 'offered', 'accepted/s', 'delivered/s', 'of memory', 'missing', 'p50', 'p99',
       'control CPU per publication', 'redis-server CPU per publication',
       'edge CPU per delivery'],
      rows);
}

function latencyTables(latency) {
  const out = [];
  const cases = [...new Set(latency.map((r) => r.case))];
  for (const name of cases) {
    const rows = latency.filter((r) => r.case === name);
    const memory = memoryOf(rows);
    out.push(`#### ${name}`, '', markdownTable(
        ['engine', 'p50', 'p90', 'p99', 'p999', 'max', 'p50 added', 'missing',
         'control CPU per publication', 'redis-server CPU per publication'],
        rows.map((r) => [
          engineLabel(r), fmtLatencyUs(r.latency_us?.p50), fmtLatencyUs(r.latency_us?.p90),
          fmtLatencyUs(r.latency_us?.p99), fmtLatencyUs(r.latency_us?.p999),
          fmtLatencyUs(r.latency_us?.max),
          memory && r !== memory && num(r.latency_us?.p50) !== undefined &&
                  num(memory.latency_us?.p50) !== undefined ?
              `${Math.round(r.latency_us.p50 - memory.latency_us.p50)} µs` :
              '',
          fmtLoss(r.missing, r.expected), fmtMicros(r.control_cpu_us_per_publication),
          fmtMicros(r.redis_cpu_us_per_publication),
        ])), '');
  }
  return out;
}

function redisBenchmarkTable(script) {
  return markdownTable(
      ['redis-benchmark', 'history', 'persistence', 'calls/s', 'call p50', 'call p99',
       'redis-server CPU per call', 'redis-benchmark CPU per call'],
      script.map((r) => {
        const own = Array.isArray(r.processes) ?
            r.processes.find((p) => p?.name === 'redis-benchmark') :
            undefined;
        return [
          r.case ?? DASH, fmtCount(r.history_size), r.redis_persistence ?? DASH,
          fmtRate(r.publishes_per_s), fmtLatencyUs(r.call_latency_us?.p50),
          fmtLatencyUs(r.call_latency_us?.p99), fmtMicros(r.redis_cpu_us_per_publication),
          num(own?.cpu_s) !== undefined && num(r.published) > 0 ?
              fmtMicros((own.cpu_s * 1e6) / r.published) :
              DASH,
        ];
      }));
}

// The Redis engine's targets: [{name, target, measured, verdict}], verdicts
// 'met', 'not met' or 'no data'.
export function redisTargets(results) {
  const channels = results.filter((r) => r.engine && r.scenario === 'channels' &&
                                         /stream/.test(String(r.publish_api ?? '')));
  const latency = results.filter((r) => r.engine && r.scenario === 'latency');
  const script = results.filter((r) => r.scenario === 'redis_script');
  // Best sustained case of each configuration; the Broadcast runs are
  // shown, not judged.
  const best = bestByConfig(channels);
  const memory = [...best.values()].find((r) => r.engine === 'memory' && replicasOf(r) === 1);
  const redis = [...best.values()].filter((r) => r.engine === 'redis');
  // redis-benchmark, one publication per call (-P 1), as the issue
  // measured it (no subscriber on the channel).
  const ceiling = script.find((r) => r.pipeline === 1 && !(r.subscribers > 0)) ??
                  script.find((r) => r.pipeline === 1);
  const targets = [];
  const noData = (name, target) => ({name, target, measured: DASH, verdict: 'no data'});
  const share = (name, target, value, of, ofLabel, goal) => {
    const measured = `${fmtRate(value)} = ${fmtShare(value, of)} of ${fmtRate(of)} (${ofLabel})`;
    return {name, target, measured, verdict: value >= goal * of ? 'met' : 'not met'};
  };
  if (redis.length === 0) {
    targets.push(noData('PublishStream publishes/s, Redis engine against memory',
                        `≥ ${REDIS_TARGETS.ofMemory * 100} % of memory`));
  }
  for (const r of redis) {
    const name = `PublishStream publishes/s, ${engineLabel(r)} against memory`;
    const target = `≥ ${REDIS_TARGETS.ofMemory * 100} % of memory`;
    targets.push(memory === undefined ? noData(name, target) :
                                        share(name, target, sustained(r), sustained(memory),
                                              'memory', REDIS_TARGETS.ofMemory));
  }
  for (const r of redis) {
    const name = `PublishStream publishes/s, ${engineLabel(r)} against redis-benchmark ` +
                 'with the same script';
    const target = `≥ ${REDIS_TARGETS.ofRedisBenchmark * 100} % of redis-benchmark -P 1`;
    targets.push(ceiling === undefined ? noData(name, target) :
                                         share(name, target, sustained(r),
                                               ceiling.publishes_per_s, ceiling.case,
                                               REDIS_TARGETS.ofRedisBenchmark));
  }
  const cases = [...new Set(latency.map((r) => r.case))];
  if (cases.length === 0) {
    targets.push(noData('p50 publish → receive added by the Redis engine',
                        `≤ ${REDIS_TARGETS.addedP50Us} µs`));
  }
  for (const name of cases) {
    const rows = latency.filter((r) => r.case === name);
    const m = memoryOf(rows);
    for (const r of rows.filter((x) => x.engine === 'redis')) {
      const label = `p50 added by ${engineLabel(r)} (${name})`;
      const target = `≤ ${REDIS_TARGETS.addedP50Us} µs`;
      if (m === undefined || num(m.latency_us?.p50) === undefined ||
          num(r.latency_us?.p50) === undefined) {
        targets.push(noData(label, target));
        continue;
      }
      const added = r.latency_us.p50 - m.latency_us.p50;
      targets.push({
        name: label, target,
        measured: `${Math.round(added)} µs (${fmtLatencyUs(r.latency_us.p50)} against ` +
                  `${fmtLatencyUs(m.latency_us.p50)})`,
        verdict: added <= REDIS_TARGETS.addedP50Us ? 'met' : 'not met',
      });
    }
  }
  return targets;
}

// The section's body (after its title and description): markdown lines.
export function redisSection(results) {
  const channels = results.filter((r) => r.engine && r.scenario === 'channels');
  const latency = results.filter((r) => r.engine && r.scenario === 'latency');
  const script = results.filter((r) => r.scenario === 'redis_script');
  const out = [];
  const history = [...new Set(results.map((r) => r.history_size).filter((h) => num(h) > 0))];
  if (history.length) out.push(`Channels keep ${history.join(', ')} publications of history.`, '');
  out.push('### Publishes/s through PublishStream (and Broadcast)', '');
  out.push(channels.length ? throughputTable(channels) : '_No results in this run._', '');
  out.push('"of memory" is the sustained rate (accepted and delivered, the smaller) against ' +
           'the memory engine\'s at the same offered rate. CPU per publication is over the ' +
           'publishing and the drain, every control replica summed.', '');
  out.push('### Publish → receive latency', '');
  if (latency.length) out.push(...latencyTables(latency));
  else out.push('_No results in this run._', '');
  out.push('### What Redis itself does with the same script', '');
  out.push(script.length ? redisBenchmarkTable(script) : '_No results in this run._', '');
  out.push('### Targets of the Redis engine', '');
  out.push(markdownTable(['target', 'goal', 'measured', 'verdict'],
                         redisTargets(results).map((t) => [
                           t.name, t.target, t.measured,
                           t.verdict === 'not met' ? '**not met**' : t.verdict,
                         ]),
                         ['l', 'l', 'l', 'l']),
           '');
  return out;
}
