// The table of the chart's values in docs/kubernetes.md, generated from the
// helm-docs style comments of k8s/charts/wirehub/values.yaml:
//
//   # -- What the value does; may continue
//   # on the following comment lines.
//   # @default -- what to show as the default, when the literal one misleads
//   replicaCount: 1
//
// `# -- (type) description` overrides the type shown. Every value needs a
// description: a scalar, a list or an empty map directly, or through its
// nearest documented ancestor map (a documented map is one row, its default
// the whole map; documented children of it get rows of their own). An
// undocumented map whose children are all covered needs no comment.
//
//   node k8s/tests/values-table.mjs           # check docs/kubernetes.md is up to date
//   node k8s/tests/values-table.mjs --write   # rewrite the table between the markers
//
// Exit status: 0 up to date (or written), 1 out of date or values without a
// description (listed on stderr).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
// WIREHUB_CHART_DIR: another copy of the chart (to try the checks on a changed chart).
export const chartDir = process.env.WIREHUB_CHART_DIR
  ? path.resolve(process.env.WIREHUB_CHART_DIR)
  : path.join(repoRoot, 'k8s', 'charts', 'wirehub');
export const valuesPath = path.join(chartDir, 'values.yaml');
export const docPath = path.join(repoRoot, 'docs', 'kubernetes.md');
export const START_MARKER = '<!-- values-table:start -->';
export const END_MARKER = '<!-- values-table:end -->';
export const WRITE_HINT = 'run `node k8s/tests/values-table.mjs --write`';

// The description block directly above a key: the comment lines after the
// last blank line, from the first one starting with `-- `. A comment that
// ends with a blank line is not directly above the key.
function parseDocComment(comment) {
  if (!comment) return null;
  const lines = comment.split('\n');
  if (lines[lines.length - 1].trim() === '' && lines.length > 1) return null;
  let block = lines;
  const lastBlank = lines.map((l) => l.trim()).lastIndexOf('');
  if (lastBlank >= 0) block = lines.slice(lastBlank + 1);
  block = block.map((l) => (l.startsWith(' ') ? l.slice(1) : l).trimEnd());
  const first = block.findIndex((l) => l === '--' || l.startsWith('-- '));
  if (first < 0) return null;
  let type = null;
  let defaultText = null;
  const text = [];
  block.slice(first).forEach((line, i) => {
    if (i === 0) line = line.slice(2).trim();
    const def = /^@default\s+--\s*(.*)$/.exec(line.trim());
    if (def) {
      defaultText = def[1];
      return;
    }
    if (i === 0) {
      const typed = /^\(([^)]+)\)\s*(.*)$/.exec(line);
      if (typed) {
        type = typed[1];
        line = typed[2];
      }
    }
    text.push(line.trim());
  });
  const description = text.filter((l) => l !== '').join(' ');
  return { description, type, defaultText };
}

function keyPathPart(key) {
  const k = String(key);
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k);
}

function typeOf(value) {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  return 'string';
}

// Walks values.yaml. Returns { rows: [{key, type, default, description}],
// undocumented: [key paths], emptyDescriptions: [key paths] }.
export function collectValues(source) {
  const doc = YAML.parseDocument(source, { keepSourceTokens: false });
  if (doc.errors.length) throw new Error(`values.yaml: ${doc.errors[0].message}`);
  const rows = [];
  const undocumented = [];
  const emptyDescriptions = [];

  function walk(map, prefix, covered) {
    map.items.forEach((pair, index) => {
      const key = YAML.isScalar(pair.key) ? pair.key.value : String(pair.key);
      const keyPath = prefix ? `${prefix}.${keyPathPart(key)}` : keyPathPart(key);
      // The comment above a map's first key belongs to the map node in the
      // yaml package's model (for the document's first key, to the key).
      let comment = pair.key?.commentBefore ?? null;
      if (index === 0 && prefix && map.commentBefore) {
        comment = comment ? `${map.commentBefore}\n${comment}` : map.commentBefore;
      }
      const docComment = parseDocComment(comment);
      const node = pair.value;
      const value = node === null || node === undefined ? null : node.toJSON ? node.toJSON() : node;
      const isNonEmptyMap = YAML.isMap(node) && node.items.length > 0;

      if (docComment) {
        if (docComment.description === '') emptyDescriptions.push(keyPath);
        rows.push({
          key: keyPath,
          type: docComment.type ?? typeOf(value),
          default: docComment.defaultText ?? `\`${JSON.stringify(value)}\``,
          description: docComment.description,
        });
      } else if (!isNonEmptyMap && !covered) {
        undocumented.push(keyPath);
      }
      if (isNonEmptyMap) walk(node, keyPath, covered || docComment !== null);
    });
  }

  if (YAML.isMap(doc.contents)) walk(doc.contents, '', false);
  else if (doc.contents !== null) throw new Error('values.yaml: the document is not a map');
  return { rows, undocumented, emptyDescriptions };
}

function cell(text) {
  return String(text).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderTable(rows) {
  const lines = [
    '<!-- Generated from k8s/charts/wirehub/values.yaml by `node k8s/tests/values-table.mjs --write`; do not edit by hand. -->',
    '',
    '| Key | Type | Default | Description |',
    '|-----|------|---------|-------------|',
  ];
  for (const row of rows) {
    // The default is a code span already (or @default text): escape only pipes.
    lines.push(
      `| \`${cell(row.key).replace(/`/g, '')}\` | ${cell(row.type)} | ${String(row.default).replace(/\|/g, '\\|').replace(/\n/g, ' ')} | ${cell(row.description)} |`,
    );
  }
  return lines.join('\n');
}

// Returns { ok, problems: [strings], expected: the whole new document text or
// null when the markers are missing }.
export function checkDoc({ values = valuesPath, docs = docPath } = {}) {
  const problems = [];
  const { rows, undocumented, emptyDescriptions } = collectValues(fs.readFileSync(values, 'utf8'));
  const rel = (p) => path.relative(repoRoot, p);
  for (const key of undocumented) {
    problems.push(`${rel(values)}: ${key} has no description (a \`# -- description\` comment directly above it)`);
  }
  for (const key of emptyDescriptions) {
    problems.push(`${rel(values)}: ${key} has an empty \`# --\` description`);
  }
  let current;
  try {
    current = fs.readFileSync(docs, 'utf8');
  } catch {
    problems.push(`${rel(docs)} does not exist: it must hold the values table between ${START_MARKER} and ${END_MARKER}`);
    return { ok: false, problems, expected: null, rows };
  }
  const start = current.indexOf(START_MARKER);
  const end = current.indexOf(END_MARKER);
  if (start < 0 || end < 0 || end < start) {
    problems.push(`${rel(docs)} has no ${START_MARKER} ... ${END_MARKER} markers (in this order) for the values table`);
    return { ok: false, problems, expected: null, rows };
  }
  const expected =
    current.slice(0, start + START_MARKER.length) + '\n' + renderTable(rows) + '\n' + current.slice(end);
  if (expected !== current) {
    problems.push(`${rel(docs)}: the values table is out of date with ${rel(values)}: ${WRITE_HINT}`);
  }
  return { ok: problems.length === 0, problems, expected, rows, upToDate: expected === current };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const write = args.includes('--write');
  if (args.some((a) => a !== '--write')) {
    console.error('usage: node k8s/tests/values-table.mjs [--write]');
    process.exit(2);
  }
  const result = checkDoc();
  if (write && result.expected !== null) {
    if (!result.upToDate) {
      fs.writeFileSync(docPath, result.expected);
      console.log(`values-table: wrote ${result.rows.length} values into ${path.relative(repoRoot, docPath)}`);
    } else {
      console.log(`values-table: ${path.relative(repoRoot, docPath)} is up to date (${result.rows.length} values)`);
    }
    const remaining = result.problems.filter((p) => !p.includes(WRITE_HINT));
    for (const p of remaining) console.error(`values-table: ${p}`);
    process.exit(remaining.length ? 1 : 0);
  }
  for (const p of result.problems) console.error(`values-table: ${p}`);
  if (result.ok) console.log(`values-table: up to date (${result.rows.length} values)`);
  process.exit(result.ok ? 0 : 1);
}
