import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { toCsv } from '../../src/api/csv';

describe('CSV', () => {
  it('round-trips hostile strings through a CSV parser and neutralises formulas', () => {
    const hostile = ['a, "quoted", name', 'line one\nline two', 'ünïcødé ✓ 漢字', '=cmd|/C calc', '+1', '-2', '@SUM(A1)', 'plain'];
    const csv = toCsv(['id', 'text', 'value'], hostile.map((t, i) => [i, t, -0.5 * i]));
    const rows = parse(csv) as string[][];
    expect(rows[0]).toEqual(['id', 'text', 'value']);
    expect(rows.slice(1).map((r) => r[1])).toEqual(['a, "quoted", name', 'line one\nline two', 'ünïcødé ✓ 漢字', "'=cmd|/C calc", "'+1", "'-2", "'@SUM(A1)", 'plain']);
    expect(rows.slice(1).map((r) => Number(r[2]))).toEqual(hostile.map((_, i) => -0.5 * i + 0));
    expect(csv.split('\r\n').length).toBeGreaterThan(hostile.length);
  });
});
