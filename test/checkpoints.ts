/** Checkpoints for tests: a small agent state, and a safetensors reader written from the format's specification. */
import { expect } from 'vitest';
import type { AgentState } from '../src/core/algos/common';

/** A small agent state with the shapes of a real one: two networks, an optimizer with its moments. */
export function smallAgentState(): AgentState {
  const arr = (shape: number[], start: number) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => start + i / 8) });
  return {
    meta: { algo: 'dtql', pretrainStepsDone: 4, trainStepsDone: 16, rng: { s: [1, 2, 3, 4] }, dataRng: { s: [5, 6, 7, 8] } } as unknown as AgentState['meta'],
    params: { actor: { 'layer0/weight': arr([3, 5], 0), 'layer0/bias': arr([5], 100) }, critic: { 'q1/weight': arr([5, 1], -3) } },
    optimizers: { actor: { step: 16, lr: 3e-4, m: [arr([3, 5], 7), arr([5], 9)], v: [arr([3, 5], 11), arr([5], 13)] } },
  };
}

/** The tensors of a safetensors file, by the format's specification. */
export function readSafetensors(file: Buffer): { metadata: Record<string, string>; tensors: Map<string, { shape: number[]; data: Float32Array }> } {
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.toString('utf8', 8, 8 + length)) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> };
  const { __metadata__: metadata, ...entries } = header;
  const base = 8 + length;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let expected = 0;
  for (const [name, t] of Object.entries(entries).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])) {
    expect(t.dtype).toBe('F32');
    // Byte ranges are contiguous and cover the data exactly, as the format requires.
    expect(t.data_offsets[0]).toBe(expected);
    expected = t.data_offsets[1];
    const bytes = Uint8Array.from(file.subarray(base + t.data_offsets[0], base + t.data_offsets[1]));
    tensors.set(name, { shape: t.shape, data: new Float32Array(bytes.buffer) });
  }
  expect(base + expected).toBe(file.length);
  return { metadata, tensors };
}

