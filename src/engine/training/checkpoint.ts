import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AgentState } from '../../core/algos/common';
import type { AdamState } from '../../core/tf/adam';
import type { NamedArray } from '../../core/nets/params';

const MAGIC = 'DTQLCKPT';
const FORMAT_VERSION = 1;

const headerSchema = z.object({
  format: z.literal(MAGIC),
  version: z.literal(FORMAT_VERSION),
  meta: z.record(z.string(), z.unknown()),
  optimizers: z.record(z.string(), z.object({ step: z.number().int(), lr: z.number(), moments: z.number().int() })),
  tensors: z.array(z.object({ key: z.string(), shape: z.array(z.number().int().nonnegative()), offset: z.number().int().nonnegative(), length: z.number().int().nonnegative() })),
});

/**
 * A checkpoint file: "DTQLCKPT", a uint32 header length, a JSON header (run meta, optimizer
 * steps and learning rates, and where each tensor lies), then the float32 data, 4-byte aligned.
 */
export function encodeCheckpoint(state: AgentState): Buffer {
  const tensors: { key: string; value: NamedArray }[] = [];
  for (const [module, params] of Object.entries(state.params)) for (const [name, value] of Object.entries(params)) tensors.push({ key: `params/${module}/${name}`, value });
  const optimizers: Record<string, { step: number; lr: number; moments: number }> = {};
  for (const [name, opt] of Object.entries(state.optimizers)) {
    optimizers[name] = { step: opt.step, lr: opt.lr, moments: opt.m.length };
    opt.m.forEach((value, i) => tensors.push({ key: `optimizers/${name}/m/${i}`, value }));
    opt.v.forEach((value, i) => tensors.push({ key: `optimizers/${name}/v/${i}`, value }));
  }
  let offset = 0;
  const layout = tensors.map(({ key, value }) => {
    const entry = { key, shape: value.shape, offset, length: value.data.length };
    offset += value.data.length;
    return entry;
  });
  const header = Buffer.from(JSON.stringify({ format: MAGIC, version: FORMAT_VERSION, meta: state.meta, optimizers, tensors: layout }), 'utf8');
  const headerEnd = 12 + header.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const buffer = Buffer.alloc(dataStart + offset * 4);
  buffer.write(MAGIC, 0, 'latin1');
  buffer.writeUInt32LE(header.length, 8);
  header.copy(buffer, 12);
  const data = new Float32Array(buffer.buffer, buffer.byteOffset + dataStart, offset);
  for (const [i, { value }] of tensors.entries()) data.set(value.data, (layout[i] as { offset: number }).offset);
  return buffer;
}

export function decodeCheckpoint(buffer: Buffer): AgentState {
  if (buffer.length < 12 || buffer.toString('latin1', 0, 8) !== MAGIC) throw new Error('not a DTQL checkpoint file');
  const headerLength = buffer.readUInt32LE(8);
  if (12 + headerLength > buffer.length) throw new Error('checkpoint header is truncated');
  const header = headerSchema.parse(JSON.parse(buffer.toString('utf8', 12, 12 + headerLength)));
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  const total = header.tensors.reduce((n, t) => Math.max(n, t.offset + t.length), 0);
  if (dataStart + total * 4 > buffer.length) throw new Error('checkpoint data is truncated');
  const aligned = new Uint8Array(buffer.subarray(dataStart, dataStart + total * 4)); // copy: the Buffer may not be 4-byte aligned
  const data = new Float32Array(aligned.buffer);
  const byKey = new Map(header.tensors.map((t) => [t.key, { shape: t.shape, data: data.slice(t.offset, t.offset + t.length) }]));
  const params: Record<string, Record<string, NamedArray>> = {};
  for (const [key, value] of byKey) {
    const [kind, module, ...rest] = key.split('/');
    if (kind !== 'params' || !module) continue;
    (params[module] ??= {})[rest.join('/')] = value;
  }
  const optimizers: Record<string, AdamState> = {};
  for (const [name, o] of Object.entries(header.optimizers)) {
    const moment = (kind: 'm' | 'v') =>
      Array.from({ length: o.moments }, (_, i) => {
        const value = byKey.get(`optimizers/${name}/${kind}/${i}`);
        if (!value) throw new Error(`checkpoint lacks optimizer ${name} ${kind}[${i}]`);
        return value;
      });
    optimizers[name] = { step: o.step, lr: o.lr, m: moment('m'), v: moment('v') };
  }
  return { meta: header.meta as AgentState['meta'], params, optimizers };
}

/**
 * A checkpoint in the safetensors layout (a little-endian uint64 header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw data), loadable with
 * `safetensors.torch.load_file`. Tensors keep the checkpoint's names (`params/<network>/<name>`,
 * `optimizers/<name>/m|v/<i>`); `__metadata__` holds the run's meta and the optimizers' steps and
 * learning rates as JSON strings. The header is padded with spaces to 8 bytes, as the format allows.
 */
export function toSafetensors(buffer: Buffer): Buffer {
  const headerLength = buffer.readUInt32LE(8);
  const header = headerSchema.parse(JSON.parse(buffer.toString('utf8', 12, 12 + headerLength)));
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  const entries: Record<string, unknown> = {
    __metadata__: { format: 'dtql-checkpoint', version: String(header.version), meta: JSON.stringify(header.meta), optimizers: JSON.stringify(header.optimizers) },
  };
  let offset = 0;
  for (const t of header.tensors) {
    entries[t.key] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.length * 4] };
    offset += t.length * 4;
  }
  let json = JSON.stringify(entries);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + jsonBytes.length + offset);
  out.writeBigUInt64LE(BigInt(jsonBytes.length), 0);
  jsonBytes.copy(out, 8);
  let at = 8 + jsonBytes.length;
  // The tensors in header order, each copied from where the checkpoint keeps it.
  for (const t of header.tensors) {
    buffer.copy(out, at, dataStart + t.offset * 4, dataStart + (t.offset + t.length) * 4);
    at += t.length * 4;
  }
  return out;
}

export const sha256 = (buffer: Buffer): string => crypto.createHash('sha256').update(buffer).digest('hex');

/** Writes atomically: a temporary file, fsync, then rename over the final name. */
export function writeFileAtomic(file: string, buffer: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, buffer);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    // A full or read-only disk leaves no half-written file behind (if it lets us remove it).
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The write error below is the one worth reporting.
    }
    throw err;
  }
}

/** Reads a checkpoint and proves it is the file that was written (SHA-256 recorded in the store). */
export function readCheckpoint(file: string, expectedSha256: string): AgentState {
  return decodeCheckpoint(readCheckpointBytes(file, expectedSha256));
}

/** A checkpoint file's bytes, checked against the SHA-256 recorded for it (throws when missing or corrupt). */
export function readCheckpointBytes(file: string, expectedSha256: string): Buffer {
  const buffer = fs.readFileSync(file);
  const actual = sha256(buffer);
  if (actual !== expectedSha256) throw new Error(`checkpoint ${file} is corrupt (SHA-256 ${actual.slice(0, 12)}… differs from the recorded ${expectedSha256.slice(0, 12)}…)`);
  return buffer;
}

/**
 * The newest of a run's checkpoints (given newest first) whose file is there and matches its
 * recorded SHA-256, or why none of them is.
 */
export function readNewestCheckpoint(checkpoints: { step: number; path: string; sha256: string }[]): { step: number; buffer: Buffer } | { problems: string[] } {
  const problems: string[] = [];
  for (const ckpt of checkpoints) {
    try {
      return { step: ckpt.step, buffer: readCheckpointBytes(ckpt.path, ckpt.sha256) };
    } catch (err) {
      problems.push((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${ckpt.path} is missing` : (err as Error).message);
    }
  }
  return { problems };
}

/** Where a run's checkpoint files live in the data folder. */
export function checkpointDir(home: string, runId: number): string {
  return path.join(home, 'checkpoints', `run-${runId}`);
}

/** How many checkpoints a run keeps: the newest and the one before it, to fall back on. */
export const KEEP_CHECKPOINTS = 2;

/** Where a run's checkpoint of one step lives in a data folder. */
export function checkpointFile(home: string, runId: number, step: number): string {
  return path.join(checkpointDir(home, runId), `step-${step}.ckpt`);
}

/** Writes a run's checkpoint file into the data folder (atomically) and returns its path. */
export function writeRunCheckpoint(home: string, runId: number, step: number, buffer: Buffer): string {
  const file = checkpointFile(home, runId, step);
  writeFileAtomic(file, buffer);
  return file;
}
