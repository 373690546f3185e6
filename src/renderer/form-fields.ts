/** What the forms' free-text fields mean: parsed here, in the page, into what the API takes. */
import { trainConfigSchema } from '../common/config';
import { seedSchema, type TaskDto } from '../api/contract';

/** Seeds typed as "0, 1, 2": the list, or the reason it is not one. */
export function parseSeedList(text: string): { seeds: number[] } | { error: string } {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) return { error: 'give at least one seed' };
  const parsed = items.map((s) => seedSchema.safeParse(/^\d+$/.test(s) ? Number(s) : Number.NaN));
  if (parsed.some((r) => !r.success)) return { error: 'seeds are whole numbers from 0 to 2147483647, separated by commas' };
  return { seeds: parsed.map((r) => r.data as number) };
}

/** A seeds field that may stay blank for the task's official seed (its preset's default, the one the README measures). */
export function seedsOrOfficial(text: string, task: TaskDto | undefined, presetId: string): { seeds: number[] } | { error: string } {
  if (text.trim() !== '') return parseSeedList(text);
  const seed = task?.presets.find((p) => p.id === presetId)?.defaultSeed;
  return seed === undefined ? { error: `no official seed for ${task?.id ?? 'this task'} with preset ${presetId}` } : { seeds: [seed] };
}

/** A training-steps field that may stay blank for the preset's count: the override, or the reason it is not one. */
export function parseStepsOverride(text: string): { overrides: { trainSteps?: number } } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { overrides: {} };
  const steps = trainConfigSchema.shape.trainSteps.safeParse(/^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN);
  if (!steps.success) return { error: 'training steps must be a whole number from 1 to 100000000 (or empty for the preset)' };
  return { overrides: { trainSteps: steps.data } };
}
