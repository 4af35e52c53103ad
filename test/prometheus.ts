/**
 * A strict reader of Prometheus's text exposition format (0.0.4), for the tests: it parses what
 * /metrics serves back into families, and throws on anything a scraper would reject or misread
 * (a sample before its TYPE, a family split in two, a bad name or label, an escape the format
 * does not have, a duplicate series, a histogram whose buckets are not cumulative).
 */

import assert from 'node:assert/strict';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheus(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the text ends with a line feed');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const helps = new Map<string, string>();
  for (const [n, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${n + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const [, name, help] = /^# HELP (\S+) (.*)$/.exec(line) ?? assert.fail(where);
      assert.match(name as string, METRIC, where);
      assert.ok(!/\\[^\\n]/.test((help as string).replace(/\\\\/g, '')), `HELP escapes: ${where}`);
      assert.ok(!helps.has(name as string), `one HELP per family: ${where}`);
      helps.set(name as string, help as string);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? assert.fail(where);
      assert.match(name as string, METRIC, where);
      assert.ok(TYPES.has(type as string), where);
      assert.ok(!families.has(name as string), `one TYPE per family: ${where}`);
      current = {
        name: name as string,
        type: type as string,
        help: helps.get(name as string) ?? '',
        samples: [],
      };
      families.set(current.name, current);
      continue;
    }
    assert.ok(!line.startsWith('#') || line.startsWith('# '), where);
    if (line.startsWith('#')) continue;
    assert.ok(line.length > 0, `no blank line: ${where}`);
    const sample = parseSample(line, where);
    assert.ok(current, `a sample before any TYPE: ${where}`);
    const base = current.type === 'histogram' ? sample.name.replace(/_(bucket|sum|count)$/, '') : sample.name;
    assert.equal(
      base,
      current.name,
      `a sample of family ${current.name} (families are contiguous): ${where}`,
    );
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    assert.ok(!seen.has(key), `no duplicate series: ${where}`);
    seen.add(key);
    current.samples.push(sample);
  }
  for (const family of families.values()) {
    assert.ok(helps.has(family.name), `${family.name} has a HELP line`);
    assert.ok(family.name.startsWith('fanout_'), `${family.name} is prefixed fanout_`);
    if (family.type === 'counter')
      assert.match(family.name, /_total$/, `counter ${family.name} ends in _total`);
    if (family.type !== 'counter')
      assert.doesNotMatch(family.name, /_total$/, `${family.name} is not a counter`);
    if (family.type === 'counter') for (const s of family.samples) assert.ok(s.value >= 0, `${s.name} ≥ 0`);
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

function parseSample(line: string, where: string): Sample {
  const match = /^([^{\s]+)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
  assert.ok(match, `sample syntax: ${where}`);
  const name = match[1] as string;
  assert.match(name, METRIC, where);
  const labels: Record<string, string> = {};
  let rest = match[3] ?? '';
  while (rest.length > 0) {
    const label = /^([^=]+)="((?:[^"\\]|\\[\\"n])*)"(,|$)/.exec(rest);
    assert.ok(label, `label syntax: ${where}`);
    const key = label[1] as string;
    assert.match(key, LABEL, where);
    assert.ok(!(key in labels), `no repeated label: ${where}`);
    labels[key] = (label[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(label[0].length);
  }
  const raw = match[4] as string;
  const value =
    raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? Number.NaN : Number(raw);
  assert.ok(raw === 'NaN' || !Number.isNaN(value), `value: ${where}`);
  assert.match(raw, /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/, `value syntax: ${where}`);
  return { name, labels, value };
}

function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const s of family.samples) {
    const { le: _le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const samples of series.values()) {
    const buckets = samples.filter((s) => s.name.endsWith('_bucket'));
    const count = samples.find((s) => s.name.endsWith('_count'));
    assert.ok(count && samples.some((s) => s.name.endsWith('_sum')), `${family.name}: _sum and _count`);
    assert.equal(buckets.at(-1)?.labels.le, '+Inf', `${family.name}: the last bucket is +Inf`);
    let previous = -Infinity;
    let previousCount = 0;
    for (const b of buckets) {
      const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
      assert.ok(le > previous, `${family.name}: bucket bounds increase`);
      assert.ok(b.value >= previousCount, `${family.name}: buckets are cumulative`);
      previous = le;
      previousCount = b.value;
    }
    assert.equal(buckets.at(-1)?.value, count.value, `${family.name}: +Inf bucket = _count`);
  }
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = [...families.values()].find((f) => f.samples.some((s) => s.name === name));
  assert.ok(family, `a family with samples named ${name}`);
  const matches = family.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.equal(matches.length, 1, `one sample ${name} ${JSON.stringify(labels)}`);
  return (matches[0] as Sample).value;
}
