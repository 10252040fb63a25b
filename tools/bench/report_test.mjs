// Tests of tools/bench/report.mjs on testdata/results-sample.jsonl: the
// tables, the "wirehub / peer" ratios, the target verdicts (met, not met, no
// data, not comparable), absent peers and determinism. No gnuplot needed:
// the plot is checked as the gnuplot script, and the command line is run
// without --svg.
//
//   node --test tools/bench/report_test.mjs

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {test} from 'node:test';

import {
  evaluateTargets, fmtBytes, fmtCount, fmtLatencyUs, fmtRate, fmtRatio, generateReport,
  gnuplotScript, parseCommands, parseResults, plotSeries, sig, VERDICT,
} from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const fixturePath = join(here, 'testdata', 'results-sample.jsonl');
const fixtureText = readFileSync(fixturePath, 'utf8');

const MACHINE = {
  cpu_model: 'Test CPU @ 2.0GHz',
  nproc: 2,
  mem_total_bytes: 24 * 1024 ** 3,
  kernel: '6.1.0-test',
  debian: '12.5',
  packages: {'nginx-light': '1.22.1-9', 'libnginx-mod-nchan': '1:1.3.6+dfsg-2',
             'nats-server': '2.9.10-1+b3'},
  git_commit: '0123456789abcdef0123456789abcdef01234567',
  git_dirty: false,
  date: '2025-01-02',
};

const COMMANDS = [
  'build/bin/wirehub-bench idle --clients=15000 --servers=wirehub,nchan,nats --results=R',
  'build/bin/wirehub-bench fanout --clients=10000 --rates=10 --duration=20 --payload_bytes=100 --servers=wirehub,nchan,nats --results=R',
  'build/bin/wirehub-bench fanout --clients=10000 --rates=40,80 --duration=15 --servers=wirehub,nchan,nats --results=R',
  'build/bin/wirehub-bench latency --servers=wirehub,nchan,nats --duration=15 --results=R',
];

function fixture() {
  return parseResults(fixtureText).results;
}

function render(overrides = {}) {
  return generateReport({results: fixture(), machine: MACHINE, commands: COMMANDS,
                         plot: {status: 'drawn', path: 'bench/latency.svg'}, ...overrides});
}

// The lines of the markdown table that follows `### heading` (or `## heading`).
function tableAfter(markdown, heading) {
  const lines = markdown.split('\n');
  let i = lines.indexOf(heading);
  assert.notEqual(i, -1, `no heading ${heading}`);
  while (i < lines.length && !lines[i].startsWith('|')) ++i;
  const table = [];
  while (i < lines.length && lines[i].startsWith('|')) table.push(lines[i++]);
  return table;
}

// The cells of the row whose first cell is `label`.
function row(table, label) {
  const found = table.find((l) => l.startsWith(`| ${label} |`));
  assert.ok(found, `no row "${label}" in\n${table.join('\n')}`);
  return found.split('|').slice(1, -1).map((c) => c.trim());
}

test('numbers are formatted readably', () => {
  assert.equal(sig(12.34), '12.3');
  assert.equal(sig(99.96), '100');
  assert.equal(sig(0.4567), '0.457');
  assert.equal(fmtCount(2000000), '2,000,000');
  assert.equal(fmtLatencyUs(310), '310 µs');
  assert.equal(fmtLatencyUs(2200), '2.2 ms');
  assert.equal(fmtLatencyUs(999.7), '1 ms');
  assert.equal(fmtLatencyUs(1400000), '1.4 s');
  assert.equal(fmtRate(10), '10/s');
  assert.equal(fmtRate(471127), '471k/s');
  assert.equal(fmtRate(100012), '100k/s');
  assert.equal(fmtRate(1250000), '1.25M/s');
  assert.equal(fmtBytes(1650), '1.61 KiB');
  assert.equal(fmtBytes(38400000), '36.6 MiB');
  assert.equal(fmtRatio(471127, 131000), '3.6×');
  assert.equal(fmtRatio(1, 0), '—');
  assert.equal(fmtRatio(undefined, 3), '—');
});

test('unreadable lines are skipped with their line number', () => {
  const {results, skipped} = parseResults('{"scenario":"idle","server":"wirehub"}\n\n{"trunc\n[]\n');
  assert.equal(results.length, 1);
  assert.deepEqual(skipped.map((s) => s.line), [3, 4]);
});

test('idle table puts the servers side by side with ratios', () => {
  const table = tableAfter(render(), '### 15k idle');
  assert.deepEqual(row(table, ''), ['', 'wirehub', 'nchan', 'NATS', 'wirehub / nchan',
                                    'wirehub / NATS']);
  assert.deepEqual(row(table, 'RSS per client'),
                   ['RSS per client', '1.61 KiB', '10.2 KiB', '23.6 KiB', '0.16×', '0.068×']);
  assert.deepEqual(row(table, 'connects/s (with auth)'),
                   ['connects/s (with auth)', '12.5k/s', '9.1k/s', '7k/s', '1.4×', '1.8×']);
  // Counts have no ratio.
  assert.deepEqual(row(table, 'clients'), ['clients', '15,000', '15,000', '15,000', '', '']);
});

test('fan-out tables: light and saturating cases, deliveries/s, µs/delivery, loss', () => {
  const markdown = render();
  const light = tableAfter(markdown, '### 1->10k @ 10/s');
  assert.deepEqual(row(light, 'server CPU per delivery'),
                   ['server CPU per delivery', '4.2 µs', '6.7 µs', '5.5 µs', '0.63×', '0.76×']);
  assert.deepEqual(row(light, 'p99'), ['p99', '58 ms', '73 ms', '876 ms', '0.79×', '0.066×']);
  const fast = tableAfter(markdown, '### 1->10k @ 80/s');
  assert.deepEqual(row(fast, 'deliveries/s'),
                   ['deliveries/s', '471k/s', '131k/s', '745k/s', '3.6×', '0.63×']);
  assert.deepEqual(row(fast, 'missing'),
                   ['missing', '3,100 (0.044 %)', '10,035,000 (84 %)', '0', '', '']);
  // The light case sits under b, the saturating ones under c.
  const b = markdown.indexOf('## b. Fan-out, light');
  const c = markdown.indexOf('## c. Fan-out, saturating');
  assert.ok(b < markdown.indexOf('### 1->10k @ 10/s') && markdown.indexOf('### 1->10k @ 10/s') < c);
  assert.ok(c < markdown.indexOf('### 1->10k @ 40/s'));
  // Each fan-out command is shown in its own section.
  assert.ok(markdown.indexOf('--rates=10 ', b) < c);
  assert.ok(markdown.indexOf('--rates=40,80', c) > c);
});

test('absent fields are shown as a dash, and so are their ratios', () => {
  const table = tableAfter(render(), '### 1->1 @ 1000/s');
  assert.deepEqual(row(table, 'max'), ['max', '7.1 ms', '—', '2.5 ms', '—', '2.8×']);
  assert.deepEqual(row(table, 'p90'), ['p90', '400 µs', '—', '300 µs', '—', '1.3×']);
});

test('many channels: publishes/s accepted, delivered/s and loss per API and rate', () => {
  const table = tableAfter(render(), '## e. Many channels (wirehub only)');
  assert.equal(table.length, 2 + 5);
  assert.deepEqual(row(table, 'broadcast').slice(0, 5), ['broadcast', '20k/s', '20k/s', '20k/s', '0']);
  const lossy = table.find((l) => l.includes('| 50k/s | 48k/s |'));
  assert.match(lossy, /\| 47\.9k\/s \| 1,000 \(0\.21 %\) \|/);
});

test('slow consumers: baseline beside the slow case', () => {
  const table = tableAfter(render(), '## f. Slow consumers (wirehub only)');
  assert.deepEqual(row(table, ''), ['', 'baseline', '1% slow', '1% slow / baseline']);
  assert.deepEqual(row(table, 'slow clients disconnected'),
                   ['slow clients disconnected', '0 of 0', '100 of 100', '']);
  assert.deepEqual(row(table, 'healthy clients: p99'),
                   ['healthy clients: p99', '57 ms', '60 ms', '1.1×']);
});

test('targets: every target with its measured value and verdict', () => {
  const targets = evaluateTargets(fixture());
  const verdict = (prefix) => {
    const t = targets.find((x) => x.name.startsWith(prefix));
    assert.ok(t, `no target ${prefix}`);
    return [t.measured, t.verdict];
  };
  assert.deepEqual(verdict('Idle'), ['1.61 KiB', VERDICT.met]);
  assert.deepEqual(verdict('Fan-out light (1 → 10k at 10/s): edge CPU'), ['4.2 µs', VERDICT.met]);
  assert.deepEqual(verdict('Fan-out light (1 → 10k at 10/s): p99'), ['58 ms', VERDICT.met]);
  // The fastest case lost messages; the best lossless one is below 500k/s.
  assert.deepEqual(verdict('Fan-out saturating (1 → 10k)'), [
    '400k/s without loss at 1->10k @ 40/s; 471k/s at 1->10k @ 80/s with 3,100 missing, 0 duplicated',
    VERDICT.notMet,
  ]);
  assert.deepEqual(verdict('Fan-out saturating: deliveries/s against nchan'),
                   ['3.6× (471k/s against 131k/s)', VERDICT.met]);
  assert.deepEqual(verdict('Small fan-out (1->100 @ 200/s): p50'), ['310 µs', VERDICT.met]);
  assert.deepEqual(verdict('Small fan-out (1->1 @ 1000/s): p99'), ['3.4 ms', VERDICT.notMet]);
  assert.deepEqual(verdict('Many channels'), [
    '100k/s accepted, 100k/s delivered at 100k/s offered, 0 missing', VERDICT.met,
  ]);
  assert.deepEqual(verdict('Connect'), ['12.5k/s', VERDICT.met]);
  assert.equal(targets.length, 11);

  const markdown = render();
  const table = tableAfter(markdown, '## Targets');
  assert.equal(table.length, 2 + targets.length);
  assert.match(row(table, 'Small fan-out (1->1 @ 1000/s): p99 publish → receive')[3], /\*\*not met\*\*/);
  assert.match(markdown, /\*\*Targets:\*\* 9 met, 2 not met/);
});

test('a just-missed threshold is not met, a run that is too small is not comparable', () => {
  const results = fixture().map((r) => {
    if (r.scenario === 'idle' && r.server === 'wirehub') return {...r, rss_per_client_bytes: 2049};
    if (r.scenario === 'fanout' && r.server === 'wirehub') return {...r, clients: 500};
    return r;
  });
  const targets = evaluateTargets(results);
  const find = (prefix) => targets.find((x) => x.name.startsWith(prefix));
  assert.equal(find('Idle').verdict, VERDICT.notMet);
  assert.equal(find('Fan-out light (1 → 10k at 10/s): edge CPU').verdict, VERDICT.notComparable);
  assert.equal(find('Fan-out saturating (1 → 10k)').verdict, VERDICT.notComparable);
});

test('an absent peer is named at the top, its columns and nchan targets are missing', () => {
  const results = fixture().filter((r) => r.server !== 'nchan');
  const machine = {...MACHINE, packages: {...MACHINE.packages, 'libnginx-mod-nchan': null}};
  const markdown = generateReport({results, machine});
  assert.match(markdown, /\*\*Absent peers: nchan \(not installed: libnginx-mod-nchan\)\.\*\*/);
  assert.deepEqual(row(tableAfter(markdown, '### 15k idle'), ''),
                   ['', 'wirehub', 'NATS', 'wirehub / NATS']);
  const t = evaluateTargets(results).find((x) => x.name.includes('against nchan'));
  assert.deepEqual([t.measured, t.verdict], ['nchan absent from this run', VERDICT.noData]);
  assert.match(markdown, /libnginx-mod-nchan \| not installed/);
});

test('scenarios without results say so; targets without data are "no data"', () => {
  const results = fixture().filter((r) => r.scenario === 'idle');
  const markdown = generateReport({results, machine: MACHINE});
  assert.match(markdown, /## e\. Many channels \(wirehub only\)\n\n[^\n]+\n\n_No results in this run\._/);
  const targets = evaluateTargets(results);
  assert.equal(targets.filter((t) => t.verdict === VERDICT.noData).length, targets.length - 2);
});

test('machine facts, commands, placeholder and quick banners', () => {
  const markdown = render({placeholder: 'tools/bench/testdata/results-sample.jsonl'});
  assert.match(markdown, /^# Benchmarks\n/);
  assert.match(markdown, /Placeholder figures from a fixture — not measured/);
  assert.match(markdown, /\*\*Targets \(fixture, not measured\):\*\*/);
  assert.doesNotMatch(render(), /Placeholder|fixture, not measured/);
  assert.match(markdown, /\| CPU \| 2 × Test CPU @ 2\.0GHz/);
  assert.match(markdown, /\| memory \| 24 GiB \|/);
  assert.match(markdown, /\| nats-server \| 2\.9\.10-1\+b3 \|/);
  assert.match(markdown, /\| wirehub commit \| `0123456789ab` \|/);
  assert.match(markdown, /```sh\ntools\/bench\/run-all\n```/);
  for (const c of COMMANDS) assert.ok(markdown.includes(c), c);
  assert.doesNotMatch(markdown, /Quick run/);
  assert.match(render({command: 'tools/bench/run-all --quick'}), /\*\*Quick run\*\*/);
  assert.deepEqual(parseCommands('# a comment\n\n  build/bin/wirehub-bench idle  \n'),
                   ['build/bin/wirehub-bench idle']);
});

test('the plot is embedded when drawn, explained when gnuplot is missing', () => {
  assert.match(render(), /!\[[^\]]+\]\(bench\/latency\.svg\)/);
  const without = render({plot: {status: 'no-gnuplot'}});
  assert.doesNotMatch(without, /!\[/);
  assert.match(without, /gnuplot is not installed/);
});

test('the gnuplot script plots p50/p99/p999 in ms against deliveries/s per server', () => {
  const series = plotSeries(fixture());
  assert.deepEqual(Object.keys(series).sort(), ['nats', 'nchan', 'wirehub']);
  assert.deepEqual(series.wirehub.map((p) => p.x), [1000, 20000, 100000, 400000, 471127]);
  assert.deepEqual(series.wirehub[1], {x: 20000, p50: 0.31, p99: 2.2, p999: 4.1,
                                       label: '1->100 @ 200/s'});
  const script = gnuplotScript(fixture());
  assert.match(script, /set terminal svg/);
  assert.match(script, /set logscale xy/);
  assert.match(script, /^20000 0\.31 2\.2 4\.1$/m);
  assert.equal((script.match(/with linespoints/g) ?? []).length, 9);
  assert.match(script, /title 'NATS p999'/);
  assert.equal(gnuplotScript(fixture().filter((r) => r.scenario === 'idle')), null);
});

test('the same input renders the same bytes', () => {
  assert.equal(render(), render());
  const shuffledMachine = Object.fromEntries(Object.entries(MACHINE).reverse());
  assert.equal(render(), render({machine: shuffledMachine}));
});

test('the command line writes the report from a results file', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-report-'));
  try {
    const machinePath = join(dir, 'machine.json');
    const commandsPath = join(dir, 'commands.txt');
    const outPath = join(dir, 'docs', 'benchmarks.md');
    writeFileSync(machinePath, JSON.stringify(MACHINE));
    writeFileSync(commandsPath, `# run-all\n${COMMANDS.join('\n')}\n`);
    const run = spawnSync(process.execPath, [
      join(here, 'report.mjs'), '--results', fixturePath, '--out', outPath, '--commands',
      commandsPath, '--machine', machinePath,
    ], {encoding: 'utf8'});
    assert.equal(run.status, 0, run.stderr);
    const written = readFileSync(outPath, 'utf8');
    assert.equal(written, generateReport({results: fixture(), machine: MACHINE, commands: COMMANDS}));
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('the scale section shows clients beyond one process, edges summed', () => {
  const scale = [
    {scenario: 'scale', case: '30k idle over 2 edges', server: 'wirehub', clients: 30000,
     rss_per_client_bytes: 3079, connects_per_s: 23684, failed_clients: 0},
    {scenario: 'scale', case: '1->30k @ 10/s over 2 edges', server: 'wirehub', clients: 30000,
     deliveries_per_s: 291727, server_cpu_us_per_delivery: 4.05, expected: 3000000,
     delivered: 3000000, missing: 0, latency_us: {p50: 177209, p90: 285213, p99: 379585}},
  ];
  const markdown = render({results: [...fixture(), ...scale]});
  assert.match(markdown, /## g\. Beyond one process \(wirehub only\)/);
  assert.doesNotMatch(markdown, /scenarios this report does not know/);
  const idle = tableAfter(markdown, '### 30k idle over 2 edges');
  assert.notEqual(row(idle, 'RSS per client')[1], '—');
  const fan = tableAfter(markdown, '### 1->30k @ 10/s over 2 edges');
  assert.notEqual(row(fan, 'deliveries/s')[1], '—');
  assert.notEqual(row(fan, 'p50')[1], '—');
});

test('the token streams section: delivery and cost per api, then the timings', () => {
  const tokens = [
    {scenario: 'tokens', case: '1000 conversations @ 30 tokens/s via stream', server: 'wirehub',
     clients: 2000, channels: 1000, publish_rate: 30000, publish_api: 'stream',
     published: 300000, accepted: 300000, publish_failed: 0, expected: 600000,
     delivered: 600000, missing: 0, duplicated: 0, late: 0, publishes_per_s: 29950,
     control_cpu_us_per_publication: 21.4, control_context_switches_per_publication: 1.52,
     edge_cpu_us_per_publication: 9.8, edge_context_switches_per_publication: 0.31,
     latency_us: {p50: 640, p90: 900, p99: 2100, p999: 5200, max: 9100, count: 600000},
     first_token_us: {p50: 700, p99: 2300, max: 4100, count: 6000},
     gap_jitter_us: {p50: 40, p99: 1900, max: 8000, count: 594000},
     receive_gap_us: {p50: 33300, p99: 35100, max: 41000, count: 594000},
     answer_us: {p50: 300, p99: 1500, max: 3000, count: 300000},
     max_publisher_lag_ms: 1.2},
    {scenario: 'tokens', case: '1000 conversations @ 30 tokens/s via multiplexed',
     server: 'wirehub', clients: 2000, channels: 1000, publish_rate: 30000,
     publish_api: 'multiplexed', published: 300000, accepted: 299000, publish_failed: 1000,
     expected: 598000, delivered: 598000, missing: 0, duplicated: 0, late: 0,
     control_cpu_us_per_publication: 3.1},
  ];
  const markdown = render({results: [...fixture(), ...tokens]});
  assert.match(markdown, /## Token streams \(issue 15\)/);
  assert.doesNotMatch(markdown, /scenarios this report does not know/);
  const lines = markdown.split('\n');
  const at = lines.indexOf('## Token streams (issue 15)');
  const costs = tableAfter(markdown, '## Token streams (issue 15)');
  assert.deepEqual(row(costs, 'stream'), [
    'stream', '1,000', '30k/s', '29.9k/s', '0', '0', '0', '0', '21.4 µs', '1.52', '9.8 µs', '0.31',
  ]);
  assert.deepEqual(row(costs, 'multiplexed').slice(0, 5),
                   ['multiplexed', '1,000', '30k/s', '—', '1,000 (0.33 %)']);
  // The timings table follows the costs table.
  const timingsStart = lines.findIndex((l, i) => i > at + costs.length + 2 && l.startsWith('| API'));
  const timings = lines.slice(timingsStart, timingsStart + 4).filter((l) => l.startsWith('|'));
  assert.deepEqual(row(timings, 'stream'), [
    'stream', '1,000', '700 µs', '2.3 ms', '4.1 ms', '640 µs', '2.1 ms', '5.2 ms', '9.1 ms',
    '40 µs', '1.9 ms', '8 ms', '33.3 ms', '35.1 ms', '1.5 ms', '1.2 ms',
  ]);
  assert.equal(row(timings, 'multiplexed')[2], '—');
});

// The Redis engine (issue 16): results with an engine and redis_script's
// have a section of their own and stay out of the others.
const REDIS_RESULTS = [
  {scenario: 'channels', case: '10000 channels @ 50000/s via stream', server: 'wirehub',
   engine: 'memory', control_replicas: 1, history_size: 100, publish_api: 'stream',
   publish_rate: 50000, publishes_per_s: 50000, deliveries_per_s: 49900, missing: 0,
   duplicated: 0, expected: 500000, control_cpu_us_per_publication: 9.5},
  {scenario: 'channels', case: '10000 channels @ 50000/s via stream', server: 'wirehub',
   engine: 'redis', control_replicas: 1, redis_persistence: 'off', history_size: 100,
   publish_api: 'stream', publish_rate: 50000, publishes_per_s: 30000, deliveries_per_s: 30000,
   missing: 0, duplicated: 0, expected: 300000, control_cpu_us_per_publication: 20,
   redis_cpu_us_per_publication: 15},
  {scenario: 'channels', case: '10000 channels @ 50000/s via stream', server: 'wirehub',
   engine: 'redis', control_replicas: 2, redis_persistence: 'off', history_size: 100,
   publish_api: 'stream', publish_rate: 50000, publishes_per_s: 20000, deliveries_per_s: 20000,
   missing: 0, duplicated: 0, expected: 200000},
  {scenario: 'latency', case: '1->1 @ 1000/s via stream', server: 'wirehub', engine: 'memory',
   control_replicas: 1, latency_us: {p50: 250, p90: 300, p99: 500, p999: 900, max: 2000}},
  {scenario: 'latency', case: '1->1 @ 1000/s via stream', server: 'wirehub', engine: 'redis',
   control_replicas: 1, redis_persistence: 'off',
   latency_us: {p50: 450, p90: 500, p99: 800, p999: 1500, max: 3000}},
  {scenario: 'latency', case: '1->1 @ 1000/s via stream', server: 'wirehub', engine: 'redis',
   control_replicas: 2, redis_persistence: 'off',
   latency_us: {p50: 600, p90: 700, p99: 900, p999: 1600, max: 3100}},
  {scenario: 'redis_script', case: 'EVALSHA publish, 50 connections, pipeline 1', server: 'redis',
   pipeline: 1, subscribers: 0, history_size: 100, redis_persistence: 'off',
   publishes_per_s: 40000, published: 100000, call_latency_us: {p50: 900, p99: 2000},
   redis_cpu_us_per_publication: 20, processes: [{name: 'redis-benchmark', cpu_s: 3}]},
];

test('the Redis engine has a section of its own with its targets', async () => {
  const {redisTargets} = await import('./report_redis.mjs');
  const markdown = render({results: [...fixture(), ...REDIS_RESULTS],
                           commands: [...COMMANDS,
                                      'build/bin/wirehub-bench latency --engines=memory,redis --results=R']});
  const section = markdown.slice(markdown.indexOf('## Redis engine (issue 16)'),
                                 markdown.indexOf('## Targets'));
  assert.ok(section.includes('--engines=memory,redis'));
  // The engine runs' latency stays out of section d, and its command too.
  const d = markdown.slice(markdown.indexOf('## d. Small'), markdown.indexOf('## e. Many'));
  assert.ok(!d.includes('--engines'));
  assert.ok(!d.includes('450 µs'));
  const throughput = tableAfter(section, '### Publishes/s through PublishStream (and Broadcast)');
  assert.deepEqual(row(throughput, 'redis').slice(0, 7),
                   ['redis', 'stream', '50k/s', '30k/s', '30k/s', '60 %', '0']);
  assert.deepEqual(row(throughput, 'redis ×2').slice(0, 6),
                   ['redis ×2', 'stream', '50k/s', '20k/s', '20k/s', '40 %']);
  const latency = tableAfter(section, '#### 1->1 @ 1000/s via stream');
  assert.equal(row(latency, 'redis')[6], '200 µs');
  const verdicts = redisTargets(REDIS_RESULTS).map((t) => t.verdict);
  // 60 % and 40 % of memory; 75 % and 50 % of 40k; +200 and +350 µs.
  assert.deepEqual(verdicts, ['met', 'not met', 'met', 'not met', 'met', 'not met']);
  // The issue-5 targets ignore the engine runs.
  assert.deepEqual(evaluateTargets([...fixture(), ...REDIS_RESULTS]), evaluateTargets(fixture()));
  assert.deepEqual(plotSeries([...fixture(), ...REDIS_RESULTS]), plotSeries(fixture()));
});
