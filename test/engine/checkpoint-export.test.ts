/**
 * A checkpoint downloaded in the safetensors layout: read back here by the format's own rules
 * (little-endian u64 header length, JSON header, tensors as byte ranges of the data that follows).
 */
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, toSafetensors } from '../../src/engine/training/checkpoint';
import { readSafetensors, smallAgentState } from '../checkpoints';

describe('checkpoint download as safetensors', () => {
  it('holds every parameter and optimizer moment with its shape and values, and the run meta as metadata', () => {
    const state = smallAgentState();
    const file = toSafetensors(encodeCheckpoint(state));
    expect(Number(file.readBigUInt64LE(0)) % 8).toBe(0);
    const { metadata, tensors } = readSafetensors(file);
    expect(JSON.parse(metadata.meta as string)).toEqual(state.meta);
    expect(JSON.parse(metadata.optimizers as string)).toEqual({ actor: { step: 16, lr: 3e-4, moments: 2 } });
    const decoded = decodeCheckpoint(encodeCheckpoint(state));
    for (const [module, params] of Object.entries(decoded.params)) {
      for (const [name, value] of Object.entries(params)) expect(tensors.get(`params/${module}/${name}`)).toEqual(value);
    }
    expect(tensors.get('optimizers/actor/v/1')).toEqual(state.optimizers.actor?.v[1]);
    expect(tensors.size).toBe(3 + 4);
  });
});
