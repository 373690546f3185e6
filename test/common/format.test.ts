import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/common/format';

describe('formatDuration', () => {
  it('writes seconds, minutes and hours the one way the CLI and the UI share', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(59.6)).toBe('1 min 00 s');
    expect(formatDuration(187)).toBe('3 min 07 s');
    expect(formatDuration(3599)).toBe('59 min 59 s');
    expect(formatDuration(7500)).toBe('2 h 05 min');
  });

  it('stands in a placeholder for an unknown or infinite duration', () => {
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(undefined, '?')).toBe('?');
    expect(formatDuration(Number.POSITIVE_INFINITY, '?')).toBe('?');
  });
});
