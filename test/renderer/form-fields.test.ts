import { describe, expect, it } from 'vitest';
import type { TaskDto } from '../../src/api/contract';
import { parseSeedList, parseStepsOverride, seedsOrOfficial } from '../../src/renderer/form-fields';
import { TASKS } from '../../src/core/tasks';

describe('form fields of the run pages', () => {
  it('parses a seed list, or names what is wrong with it', () => {
    expect(parseSeedList(' 0, 1,2 ')).toEqual({ seeds: [0, 1, 2] });
    expect(parseSeedList('')).toEqual({ error: 'give at least one seed' });
    expect(parseSeedList('1, -2')).toHaveProperty('error', expect.stringMatching(/whole numbers/));
    expect(parseSeedList('1.5')).toHaveProperty('error', expect.stringMatching(/whole numbers/));
  });

  it('takes a blank seeds field as the task preset\'s official seed', () => {
    const hard = TASKS.find((t) => t.id === 'bandit-25g-hard') as TaskDto;
    expect(seedsOrOfficial('', hard, 'quick')).toEqual({ seeds: [2] });
    expect(seedsOrOfficial('  ', TASKS.find((t) => t.id === 'bandit-25g-near') as TaskDto, 'paper')).toEqual({ seeds: [0] });
    expect(seedsOrOfficial('5, 6', hard, 'quick')).toEqual({ seeds: [5, 6] });
    expect(seedsOrOfficial('', hard, 'nope')).toEqual({ error: 'no official seed for bandit-25g-hard with preset nope' });
    expect(seedsOrOfficial('', undefined, 'quick')).toHaveProperty('error');
  });

  it('takes a blank training-steps field as the preset\'s count and rejects anything but a positive whole number', () => {
    expect(parseStepsOverride('')).toEqual({ overrides: {} });
    expect(parseStepsOverride(' 250 ')).toEqual({ overrides: { trainSteps: 250 } });
    for (const bad of ['0', '-5', '2.5', '1e3', 'ten', '100000001']) expect(parseStepsOverride(bad), bad).toHaveProperty('error', expect.stringMatching(/training steps must be/));
  });
});
