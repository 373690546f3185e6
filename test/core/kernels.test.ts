import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/core/tf/backend';
import { mish } from '../../src/core/tf/kernels';
import { ParamSet, addLinear, addNorm, keepMlp, mlp, mlpPairForward, type MlpLayer } from '../../src/core/nets/params';
import { nativeMlpActive } from '../../src/core/tf/native-mlp';
import { chooseKernelSet, nativeKernelsActive, withBothCores } from '../../src/core/tf/native-kernels';
import { Rng } from '../../src/core/rng';
import { sampleSigma, sigmaFromUniform } from '../../src/core/edm';

beforeAll(async () => {
  await initBackend('wasm');
});

const exactMish = (x: number) => x * Math.tanh(Math.log1p(Math.exp(x)));

describe('Mish', () => {
  it('matches x tanh(softplus(x)) and its derivative, and stays finite at |x| = 100', () => {
    const xs = [-100, -20, -5, -1, -0.1, 0, 0.3, 1, 4, 20, 100];
    const [values, grads] = tf.tidy(() => {
      const x = tf.tensor1d(xs);
      return [mish(x), tf.grad((t: tf.Tensor) => tf.sum(mish(t)))(x)];
    });
    const v = values.dataSync();
    const g = grads.dataSync();
    xs.forEach((x, i) => {
      expect(v[i]).toBeCloseTo(Number.isFinite(exactMish(x)) ? exactMish(x) : x, 5);
      const h = 1e-4;
      const numeric = Math.abs(x) >= 50 ? (x > 0 ? 1 : 0) : (exactMish(x + h) - exactMish(x - h)) / (2 * h);
      expect(g[i]).toBeCloseTo(numeric, 4);
    });
    tf.dispose([values, grads]);
  });
});

describe('fast matMul gradient', () => {
  it('equals the analytic gradients of x W', () => {
    const [dx, dw] = tf.tidy(() => {
      const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const w = tf.tensor2d([0.5, -1, 2, 0.25, -0.5, 1], [3, 2]);
      const dy = tf.tensor2d([1, -2, 0.5, 3], [2, 2]);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), dy));
      return tf.grads(f)([x, w]) as [tf.Tensor, tf.Tensor];
    });
    // dx = dy W^T, dW = x^T dy
    expect(Array.from(dx.dataSync())).toEqual([2.5, 1.5, -2.5, -2.75, 1.75, 2.75]);
    expect(Array.from(dw.dataSync())).toEqual([3, 10, 4.5, 11, 6, 12]);
    tf.dispose([dx, dw]);
  });
});

describe('OpenBLAS matMul kernel', () => {
  // CI installs OpenBLAS, so there the addon must be built: a silent fall back to wasm would hide a 3x slowdown.
  it.runIf(process.env.DTQL_REQUIRE_NATIVE_BLAS === '1')('is built and active where OpenBLAS is installed', () => {
    expect(nativeKernelsActive()).toBe(true);
  });

  /** Row-major reference product in float64 for one [m, k] x [k, n] pair. */
  const reference = (a: number[], b: number[], m: number, k: number, n: number) =>
    Array.from({ length: m * n }, (_, i) => a.slice(Math.floor(i / n) * k, Math.floor(i / n) * k + k).reduce((sum, x, j) => sum + x * (b[j * n + (i % n)] as number), 0));

  it.each([
    ['2D', [5, 7], [7, 3], false, false],
    ['transposed a', [7, 5], [7, 3], true, false],
    ['transposed b', [5, 7], [3, 7], false, true],
    ['both transposed', [7, 5], [3, 7], true, true],
    ['batched, one b for all', [2, 5, 7], [7, 3], false, false],
    ['batched both', [2, 5, 7], [2, 7, 3], false, false],
    ['broadcast a of batch 1', [1, 5, 7], [4, 7, 3], false, false],
  ] as [string, number[], number[], boolean, boolean][])('%s equals the float64 product', (_name, aShape, bShape, transposeA, transposeB) => {
    const rng = new Rng(11);
    const a = tf.tensor(Array.from({ length: aShape.reduce((x, y) => x * y, 1) }, () => rng.normal()), aShape);
    const b = tf.tensor(Array.from({ length: bShape.reduce((x, y) => x * y, 1) }, () => rng.normal()), bShape);
    const product = tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, transposeA, transposeB);
    const plain = (t: tf.Tensor, transpose: boolean) => {
      const last2 = t.shape.slice(-2) as [number, number];
      const mats = tf.reshape(t, [-1, ...last2]);
      const out = (transpose ? tf.transpose(mats, [0, 2, 1]) : mats) as tf.Tensor3D;
      return { data: Array.from(out.dataSync()), rows: out.shape[1], cols: out.shape[2], count: out.shape[0] };
    };
    const [pa, pb] = [plain(a, transposeA), plain(b, transposeB)];
    const outer = product.shape.slice(0, -2);
    const batch = outer.reduce((x, y) => x * y, 1);
    const [m, n] = [pa.rows, pb.cols];
    const expected: number[] = [];
    for (let i = 0; i < batch; i++) {
      // A side with one matrix serves every batch entry.
      const [ai, bi] = [pa.count === 1 ? 0 : i, pb.count === 1 ? 0 : i];
      expected.push(...reference(pa.data.slice(ai * m * pa.cols, (ai + 1) * m * pa.cols), pb.data.slice(bi * pb.rows * n, (bi + 1) * pb.rows * n), m, pa.cols, n));
    }
    const got = Array.from(product.dataSync());
    expect(got.length).toBe(expected.length);
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 4));
    tf.dispose([a, b, product]);
  });

  it('leaves an empty product to the wasm kernel', () => {
    const product = tf.matMul(tf.zeros([0, 7]), tf.ones([7, 3]));
    expect(product.shape).toEqual([0, 3]);
    product.dispose();
  });
});

/** The native addon itself, where it is built. */
const addon = ((): Record<string, (...args: unknown[]) => void> | null => {
  try {
    return createRequire(import.meta.url)('dtql-native-blas') as Record<string, (...args: unknown[]) => void>;
  } catch {
    return null;
  }
})();

describe('the OpenBLAS kernel set', () => {
  it("is the user's for this app, else AVX-512 where the CPU has it unless OPENBLAS_CORETYPE names an AVX-512 set, else OPENBLAS_CORETYPE's", () => {
    // DTQL_OPENBLAS_CORETYPE wins, whatever the CPU and OPENBLAS_CORETYPE say.
    expect(chooseKernelSet({ app: 'Prescott', openblas: 'SkylakeX' }, true)).toEqual({ coretype: 'Prescott', note: null });
    // An AVX-512 CPU: OpenBLAS's own pick may be its generic set, so SkylakeX is asked for.
    expect(chooseKernelSet({}, true)).toEqual({ coretype: 'SkylakeX', note: null });
    // A weaker set from the environment is set aside, and the description says so.
    const aside = chooseKernelSet({ openblas: 'Haswell' }, true);
    expect(aside.coretype).toBe('SkylakeX');
    expect(aside.note).toMatch(/OPENBLAS_CORETYPE=Haswell set aside.*DTQL_OPENBLAS_CORETYPE/);
    // An AVX-512 set from the environment stays, in any case.
    expect(chooseKernelSet({ openblas: 'cooperlake' }, true)).toEqual({ coretype: 'cooperlake', note: null });
    // Without AVX-512 the environment's choice, or OpenBLAS's own.
    expect(chooseKernelSet({ openblas: 'Haswell' }, false)).toEqual({ coretype: 'Haswell', note: null });
    expect(chooseKernelSet({}, false)).toEqual({ coretype: undefined, note: null });
  });
});

describe('native networks', () => {
  /** A network with every kind of layer (widths 7, 21, 13, 9, 5), its LayerNorm's affine parameters away from 1 and 0. */
  function network(rng: Rng): { params: ParamSet; layers: MlpLayer[] } {
    const params = new ParamSet();
    const norm = addNorm(params, 'n', 21);
    tf.tidy(() => {
      norm.weight.assign(tf.tensor1d(Array.from({ length: 21 }, () => 1 + 0.5 * rng.normal())));
      norm.bias.assign(tf.tensor1d(Array.from({ length: 21 }, () => 0.3 * rng.normal())));
    });
    const layers: MlpLayer[] = [
      { ...addLinear(params, 'a', rng, 7, 21), kind: 'layerNormMish', norm },
      { ...addLinear(params, 'b', rng, 21, 13), kind: 'mish' },
      { ...addLinear(params, 'c', rng, 13, 9), kind: 'relu' },
      { ...addLinear(params, 'd', rng, 9, 5), kind: 'none' },
    ];
    return { params, layers };
  }

  /**
   * The network's output and the gradients of a weighted sum of it with respect to the input and
   * every parameter, on the active backend. Inputs span Mish's saturated ends (|x W + b| up to about 60).
   */
  function outputAndGrads(rows: number): number[][] {
    const rng = new Rng(5);
    const { params, layers } = network(rng);
    const x = tf.tensor2d(Array.from({ length: rows * 7 }, (_, i) => rng.normal() * (i % 5 === 0 ? 40 : 1)), [rows, 7]);
    const weights = tf.tensor2d(Array.from({ length: rows * 5 }, () => rng.normal()), [rows, 5]);
    const loss = (input: tf.Tensor) => tf.sum(tf.mul(mlp(input, layers), weights)) as tf.Scalar;
    const result = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => loss(x), params.variables);
      const dx = tf.grad(loss)(x);
      return [mlp(x, layers), dx, ...params.variables.map((v) => grads[v.name] as tf.Tensor)].map((t) => Array.from(t.dataSync()));
    });
    tf.dispose([x, weights]);
    params.dispose();
    return result;
  }

  it('give the output and gradients of the composed tfjs ops, layer by layer', async () => {
    await initBackend('wasm');
    const native = outputAndGrads(33);
    // The composed ops on the cpu backend, which has no native kernels, are the reference.
    await initBackend('cpu');
    expect(nativeMlpActive()).toBe(false);
    const composed = outputAndGrads(33);
    await initBackend('wasm');
    expect(native.length).toBe(12);
    native.forEach((values, i) => {
      const reference = composed[i] as number[];
      const scale = Math.max(1, ...reference.map(Math.abs));
      const worst = Math.max(...values.map((v, j) => Math.abs(v - (reference[j] as number))));
      expect(values.every(Number.isFinite)).toBe(true);
      expect(worst / scale).toBeLessThan(2e-6);
    });
  });

  it.runIf(addon !== null)('compute no weight gradient that nobody asked for, and leave no tensor behind', async () => {
    const { params, layers } = network(new Rng(4));
    const x = tf.randomNormal([16, 7]);
    const before = tf.memory().numTensors;
    const countWeightProducts = async (f: () => void) => (await tf.profile(() => tf.tidy(f))).kernels.filter((k) => k.name === 'DtqlMlpWeightGrad').length;
    // Differentiated in its input only (a frozen critic's Q term), then trained.
    expect(await countWeightProducts(() => void tf.grad((input: tf.Tensor) => tf.sum(mlp(input, layers)))(x))).toBe(0);
    expect(await countWeightProducts(() => void tf.variableGrads(() => tf.sum(mlp(x, layers)) as tf.Scalar, params.variables))).toBe(4);
    expect(await countWeightProducts(() => void tf.variableGrads(() => tf.sum(mlp(x, layers)) as tf.Scalar, [params.get('c.weight')]))).toBe(1);
    tf.tidy(() => void mlp(x, layers));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    params.dispose();
  });

  it.runIf(addon !== null)('skip the rows whose gradient is zero and give the same gradients (the Q term through min(Q1, Q2))', async () => {
    const rows = 40;
    const idle = (r: number) => r % 2 === 1;
    /** dx and every parameter's gradient of sum(f(x) upstream), with the idle rows' upstream zero or not. */
    const gradients = (zeroIdle: boolean) => {
      const rng = new Rng(6);
      const { params, layers } = network(rng);
      const x = tf.tensor2d(Array.from({ length: rows * 7 }, () => rng.normal()), [rows, 7]);
      const drawn = Array.from({ length: rows * 5 }, () => rng.normal());
      const upstream = tf.tensor2d(
        drawn.map((w, i) => (zeroIdle && idle(Math.floor(i / 5)) ? 0 : w)),
        [rows, 5],
      );
      const result = tf.tidy(() => {
        const loss = (input: tf.Tensor) => tf.sum(tf.mul(mlp(input, layers), upstream)) as tf.Scalar;
        const { grads } = tf.variableGrads(() => loss(x), params.variables);
        return [tf.grad(loss)(x), ...params.variables.map((v) => grads[v.name] as tf.Tensor)].map((t) => Array.from(t.dataSync()));
      });
      tf.dispose([x, upstream]);
      params.dispose();
      return result;
    };
    const close = (values: number[], reference: number[], tolerance: number) => {
      const scale = Math.max(1, ...reference.map(Math.abs));
      expect(Math.max(...values.map((v, j) => Math.abs(v - (reference[j] as number)))) / scale).toBeLessThan(tolerance);
    };
    await initBackend('wasm');
    const [skipped, whole] = [gradients(true), gradients(false)];
    await initBackend('cpu');
    const composed = gradients(true);
    await initBackend('wasm');
    // Against the composed ops, every gradient; against the chain over all rows, each live row's dx
    // (equal to the last bit here; a BLAS may pick other kernels for fewer rows, hence a tolerance).
    skipped.forEach((values, i) => close(values, composed[i] as number[], 2e-6));
    const dx = (g: number[][], r: number) => (g[0] as number[]).slice(r * 7, (r + 1) * 7);
    for (let r = 0; r < rows; r++) {
      if (idle(r)) expect(dx(skipped, r)).toEqual([0, 0, 0, 0, 0, 0, 0]);
      else close(dx(skipped, r), dx(whole, r), 1e-6);
    }
    // No row live at all: every gradient is zero.
    const { params, layers } = network(new Rng(7));
    const grads = tf.tidy(() => {
      const x = tf.randomNormal([6, 7]);
      const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(mlp(x, layers), 0)) as tf.Scalar, params.variables);
      return Object.values(g).flatMap((t) => Array.from(t.dataSync()));
    });
    expect(grads.every((v) => v === 0)).toBe(true);
    params.dispose();
  });

  it.runIf(addon !== null)('give a kept pass back on the same input without running it, with the gradients of a pass run again', async () => {
    const rng = new Rng(8);
    const { params, layers } = network(rng);
    const x = tf.tensor2d(Array.from({ length: 12 * 7 }, () => rng.normal()), [12, 7]);
    const upstream = tf.tensor2d(Array.from({ length: 12 * 5 }, () => rng.normal()), [12, 5]);
    const before = tf.memory().numTensors;
    const kept = keepMlp(x, layers);
    expect(kept).not.toBeNull();
    const outputAndGrads = (replay: boolean) =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(mlp(x, layers, replay ? kept : null), upstream)) as tf.Scalar, params.variables);
        return [value, ...params.variables.map((v) => grads[v.name] as tf.Tensor)].map((t) => Array.from(t.dataSync()));
      });
    const kernels = (
      await tf.profile(() =>
        tf.tidy(() => {
          mlp(x, layers, kept);
        }),
      )
    ).kernels.map((k) => k.name);
    expect(kernels).toEqual(['DtqlMlpReplay']);
    const replayed = outputAndGrads(true);
    expect(replayed).toEqual(outputAndGrads(false));
    // Another input does not take the kept pass.
    const other = tf.tidy(() => Array.from(mlp(tf.mul(x, 2), layers, kept).dataSync()));
    expect(other).toEqual(tf.tidy(() => Array.from(mlp(tf.mul(x, 2), layers).dataSync())));
    tf.dispose([kept?.output, kept?.workspace].filter((t): t is tf.Tensor => t !== undefined));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, upstream]);
    params.dispose();
  });

  it('take an empty batch', () => {
    const { params, layers } = network(new Rng(2));
    const shape = tf.tidy(() => mlp(tf.zeros([0, 7]), layers).shape);
    expect(shape).toEqual([0, 5]);
    params.dispose();
  });

  it.runIf(process.env.DTQL_REQUIRE_NATIVE_BLAS === '1')('run natively where the addon is built', () => {
    expect(nativeMlpActive()).toBe(true);
  });

  it.runIf(addon !== null)('refuse buffers that do not match the sizes before writing anything', () => {
    if (!addon) throw new Error('no addon');
    const out = new Float32Array(6).fill(7);
    const f32 = (n: number) => new Float32Array(n);
    expect(() => addon.biasActGrad?.(out, f32(3), f32(6), f32(6), f32(2), 2, 3, 2)).toThrow('array sizes do not match the layer');
    expect(() => addon.biasActGrad?.(out, f32(3), f32(6), f32(6), f32(3), 2, 3, 5)).toThrow('unknown activation');
    expect(() => addon.biasActGrad?.(out, f32(3), f32(6), f32(6), f32(3), 0, 3, 2)).toThrow('sizes must be positive integers');
    expect(() => addon.adamStep?.(out, out, out, out, out, out, f32(5), 0.9, 0.1, 0.999, 0.001, 1, 1e-8, 1e-3)).toThrow('array sizes do not match');
    const identity = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const x = new Float32Array([1, -2, 3, -4, 5, -6]);
    expect(() => addon.mlpForward?.(out, f32(6), [identity, f32(2)], x, [1], [3], 2, 3, 1e-5)).toThrow("a parameter's size does not match its layer");
    expect(Array.from(out)).toEqual([7, 7, 7, 7, 7, 7]);
    // A ReLU layer with the identity weight: relu(x + 1).
    addon.mlpForward?.(out, f32(6), [identity, new Float32Array([1, 1, 1])], x, [1], [3], 2, 3, 1e-5);
    expect(Array.from(out)).toEqual([2, 0, 4, 0, 6, 0]);
  });
});

describe('sigma sampler', () => {
  it('has the truncated log-logistic quantiles of the notes', () => {
    expect(sigmaFromUniform(0.5)).toBeCloseTo(0.5, 3);
    const sigmas = Array.from(sampleSigma(new Rng(3), 40_000)).sort((a, b) => a - b);
    const q = (p: number) => sigmas[Math.floor(p * sigmas.length)] as number;
    expect(q(0.05)).toBeCloseTo(0.115, 2);
    expect(q(0.25)).toBeCloseTo(0.289, 2);
    expect(q(0.5)).toBeCloseTo(0.5, 2);
    expect(q(0.75)).toBeCloseTo(0.866, 1);
    expect(q(0.95)).toBeCloseTo(2.18, 0);
    expect(sigmas[0]).toBeGreaterThanOrEqual(0.002);
    expect(sigmas.at(-1)).toBeLessThanOrEqual(80);
  });
});

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect([a.uniform(), a.normal(), a.int(10)]).toEqual([b.uniform(), b.normal(), b.int(10)]);
    const saved = a.state;
    const next = [a.uniform(), a.normal()];
    const c = new Rng(saved);
    expect([c.uniform(), c.normal()]).toEqual(next);
    expect(new Rng(1).uniform()).not.toBe(new Rng(2).uniform());
  });
});

describe('large forward kernels on two cores (evaluation actions)', () => {
  const random = (rng: Rng, n: number, scale = 1) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  /** Each kernel's output with and without this thread's rows split over the helper thread. */
  function bothWays(run: (split: boolean) => Float32Array): [Float32Array, Float32Array] {
    if (!addon) throw new Error('no addon');
    try {
      return [run(false), run(true)];
    } finally {
      addon.splitRows?.(false);
    }
  }

  it.runIf(addon !== null)('give the same bits as on one core: products (either operand transposed, odd rows), bias + Mish, bias + LayerNorm + Mish', () => {
    if (!addon) throw new Error('no addon');
    const rng = new Rng(9);
    const [m, k, n] = [1031, 64, 256];
    const [a, b, bias, gamma, beta] = [random(rng, m * k), random(rng, k * n), random(rng, n), random(rng, n, 0.5), random(rng, n, 0.3)];
    for (const [transposeA, transposeB] of [
      [false, false],
      [true, false],
      [false, true],
    ] as const) {
      const [one, two] = bothWays((split) => {
        addon.splitRows?.(split);
        const out = new Float32Array(m * n);
        addon.sgemm?.(a, b, out, 1, m, k, n, transposeA, transposeB, 1, 1);
        return out;
      });
      expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
    }
    // One-layer networks: the product, then bias + Mish or bias + LayerNorm + Mish, both split.
    const x = random(rng, m * k, 8);
    for (const [kind, params] of [
      [2, [b, bias]],
      [3, [b, bias, gamma, beta]],
    ] as const) {
      const [one, two] = bothWays((split) => {
        addon.splitRows?.(split);
        const out = new Float32Array(m * n);
        addon.mlpForward?.(out, new Float32Array(m * n), params, x, [kind], [n], m, k, 1e-5);
        return out;
      });
      expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
    }
  });

  // OpenBLAS picks its kernels by CPU or OPENBLAS_CORETYPE, and their row blocks differ: a product
  // split at half of 1031 rows gave other bits on the Haswell and Prescott kernels. Each kernel set
  // this CPU can run, in a process of its own.
  it.runIf(addon !== null && process.platform === 'linux')('give the same bits as on one core with each OpenBLAS kernel set this CPU runs', () => {
    const flags = new Set(/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/) ?? []);
    const kernelSets = [
      { name: 'Prescott', needs: ['pni'] },
      { name: 'Sandybridge', needs: ['avx'] },
      { name: 'Haswell', needs: ['avx2', 'fma'] },
      { name: 'SkylakeX', needs: ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl'] },
    ].filter(({ needs }) => needs.every((flag) => flags.has(flag)));
    expect(kernelSets.map((k) => k.name)).toContain('Prescott');
    const script = `
      const addon = require(${JSON.stringify(createRequire(import.meta.url).resolve('dtql-native-blas'))});
      let seed = 9;
      const random = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5));
      const differing = [];
      for (const [m, k, n] of [[1031, 64, 256], [1024, 256, 256], [256, 256, 256]]) {
        const [a, b] = [random(m * k), random(k * n)];
        for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
          const [one, two] = [new Float32Array(m * n), new Float32Array(m * n)];
          addon.splitRows(false);
          addon.sgemm(a, b, one, 1, m, k, n, ta, tb, 1, 1);
          addon.splitRows(true);
          addon.sgemm(a, b, two, 1, m, k, n, ta, tb, 1, 1);
          addon.splitRows(false);
          if (!Buffer.from(one.buffer).equals(Buffer.from(two.buffer))) differing.push([m, k, n, ta, tb].join(' '));
        }
      }
      console.log(JSON.stringify({ kernels: addon.describe(), differing }));`;
    for (const { name } of kernelSets) {
      const child = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, OPENBLAS_CORETYPE: name }, encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      const { kernels, differing } = JSON.parse(child.stdout) as { kernels: string; differing: string[] };
      expect(kernels).toContain(`kernels for ${name}`);
      expect(differing, name).toEqual([]);
    }
  });

  it.runIf(addon !== null)('are asked for per thread, and the setting comes back as it was', () => {
    if (!addon) throw new Error('no addon');
    const splitRows = addon.splitRows as unknown as (enabled: unknown) => boolean;
    expect(splitRows(true)).toBe(false);
    expect(splitRows(false)).toBe(true);
    expect(() => splitRows('yes')).toThrow('splitRows takes one boolean');
  });
});

describe('two networks side by side (Q1 and Q2 scoring actions)', () => {
  /** Two networks of the critic's Q shape (LayerNorm + Mish hidden layers), different weights. */
  function qPair(rng: Rng, width: number): { params: ParamSet; first: MlpLayer[]; second: MlpLayer[] } {
    const params = new ParamSet();
    const q = (prefix: string): MlpLayer[] => [
      { ...addLinear(params, `${prefix}.0`, rng, 14, width), kind: 'layerNormMish', norm: addNorm(params, `${prefix}.1`, width) },
      { ...addLinear(params, `${prefix}.3`, rng, width, width), kind: 'layerNormMish', norm: addNorm(params, `${prefix}.4`, width) },
      { ...addLinear(params, `${prefix}.6`, rng, width, 1), kind: 'none' },
    ];
    return { params, first: q('q1'), second: q('q2') };
  }

  it('equal each network run alone, bit for bit, on one core and on two', async () => {
    await initBackend('wasm');
    const rng = new Rng(11);
    const { params, first, second } = qPair(rng, 256);
    const x = tf.tensor2d(Array.from({ length: 1030 * 14 }, () => rng.normal() * 3), [1030, 14]);
    const alone = tf.tidy(() => [mlp(x, first), mlp(x, second)].map((t) => Buffer.from((t.dataSync() as Float32Array).buffer)));
    const before = tf.memory().numTensors;
    for (const both of [false, true]) {
      const pair = tf.tidy(() => (both ? withBothCores(() => mlpPairForward(x, first, second)) : mlpPairForward(x, first, second)).map((t) => Buffer.from((t.dataSync() as Float32Array).buffer)));
      pair.forEach((values, i) => expect(values.equals(alone[i] as Buffer)).toBe(true));
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    params.dispose();
  });

  it.runIf(addon !== null)('run as one kernel, and refuse networks of different shapes or arrays of the wrong size', async () => {
    if (!addon) throw new Error('no addon');
    await initBackend('wasm');
    const rng = new Rng(12);
    const { params, first, second } = qPair(rng, 32);
    const other = qPair(rng, 16);
    const x = tf.randomNormal([8, 14]);
    const kernels = (await tf.profile(() => tf.tidy(() => void mlpPairForward(x, first, second)))).kernels.map((k) => k.name);
    expect(kernels).toEqual(['DtqlMlpPair']);
    expect(() => mlpPairForward(x, first, other.second)).toThrow('nativeMlpPair: the two networks differ in shape');
    // The addon checks every size itself before it writes anything.
    const f32 = (n: number) => new Float32Array(n);
    const weights = (widths: number[]) => widths.flatMap((n, i) => [f32((i === 0 ? 3 : (widths[i - 1] as number)) * n), f32(n)]);
    const out = f32(2);
    addon.mlpForward?.(out, f32(2 * 4 * 2 + 2), weights([4, 1]), f32(6), [2, 0], [4, 1], 2, 3, 1e-5);
    expect(() => addon.mlpForward?.(out, f32(2 * 4 * 2 + 2), weights([4, 2]), f32(6), [2, 0], [4, 1], 2, 3, 1e-5)).toThrow("a parameter's size does not match its layer");
    expect(() => addon.mlpForward?.(out, f32(17), weights([4, 1]), f32(6), [2, 0], [4, 1], 2, 3, 1e-5)).toThrow("the network's output or workspace has the wrong size");
    expect(() => addon.mlpForward?.(out, f32(18), weights([4, 1]), f32(6), [2, 7], [4, 1], 2, 3, 1e-5)).toThrow('unknown layer kind');
    expect(() => addon.mlpForward?.(out, f32(18), weights([4, 1]), f32(5), [2, 0], [4, 1], 2, 3, 1e-5)).toThrow("the network's input does not match");
    expect(() => addon.mlpForward?.(out, f32(18), [...weights([4, 1]), f32(1)], f32(6), [2, 0], [4, 1], 2, 3, 1e-5)).toThrow('more parameters');
    x.dispose();
    params.dispose();
    other.params.dispose();
  });
});

describe('wasm Concat', () => {
  it('joins float32 tensors on any axis exactly as the cpu backend does, and leaves other dtypes to the stock kernel', async () => {
    await initBackend('wasm');
    const cases: [number[][], number][] = [
      [[[5, 11], [5, 3]], 1],
      [[[4, 3], [4, 2], [4, 16]], 1],
      [[[2, 3], [5, 3]], 0],
      [[[2, 3, 4], [2, 1, 4]], 1],
      [[[3, 0], [3, 2]], 1],
    ];
    const run = () =>
      cases.map(([shapes, axis]) => {
        const r = new Rng(4);
        return tf.tidy(() => Array.from(tf.concat(shapes.map((shape) => tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()), shape)), axis).dataSync()));
      });
    const onWasm = run();
    const ints = tf.tidy(() => Array.from(tf.concat([tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor2d([[3]], [1, 1], 'int32')], 1).dataSync()));
    expect(() => tf.tidy(() => tf.concat([tf.zeros([2, 3]), tf.zeros([3, 3])], 1))).toThrow();
    await initBackend('cpu');
    const onCpu = run();
    await initBackend('wasm');
    expect(onWasm).toEqual(onCpu);
    expect(ints).toEqual([1, 2, 3]);
  });
});

describe('wasm SplitV', () => {
  it('splits float32 tensors on any axis exactly as the cpu backend does, and leaves other dtypes to the stock kernel', async () => {
    await initBackend('wasm');
    const cases: [number[], number[] | number, number][] = [
      [[5, 30], [3, 11, 16], 1],
      [[4, 6], 2, 1],
      [[7, 3], [2, 5], 0],
      [[2, 5, 4], [1, -1], 1],
      [[3, 4], [4, 0], 1],
    ];
    const run = () =>
      cases.map(([shape, splits, axis]) => {
        const r = new Rng(6);
        return tf.tidy(() => {
          const x = tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()), shape);
          return tf.split(x, splits, axis).map((piece) => ({ shape: piece.shape, values: Array.from(piece.dataSync()) }));
        });
      });
    const before = tf.memory().numTensors;
    const onWasm = run();
    expect(tf.memory().numTensors).toBe(before);
    const ints = tf.tidy(() => tf.split(tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'), [2, 1], 1).map((t) => Array.from(t.dataSync())));
    await initBackend('cpu');
    const onCpu = run();
    await initBackend('wasm');
    expect(onWasm).toEqual(onCpu);
    expect(onWasm[0]?.map((piece) => piece.shape)).toEqual([[5, 3], [5, 11], [5, 16]]);
    expect(ints).toEqual([[1, 2], [3]]);
  });
});
