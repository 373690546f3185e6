import { beforeAll, describe, expect, it } from 'vitest';
import { BENCH_PROBLEMS, concurrentMatMulPeakGflops, jointStepFlops, matMulPeakGflops } from '../../src/cli/bench/speed';
import { nativeKernelsActive } from '../../src/core/tf/native-kernels';
import { initBackend } from '../../src/core/tf/backend';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('the distance to the machine limit (dtql bench)', () => {
  it('counts a joint step at hopper size as about 1.8 GFLOP of matrix products, in proportion to the batch', () => {
    const [hopper, halfcheetah] = BENCH_PROBLEMS as [(typeof BENCH_PROBLEMS)[number], (typeof BENCH_PROBLEMS)[number]];
    // By hand: critic 3 x (2 Q + V) + V(s') = 689 M, Q term 276 M, BC 316 M, policy 488 M (batch 256, hidden 256).
    expect(jointStepFlops(hopper, 256) / 1e9).toBeCloseTo(1.77, 2);
    expect(jointStepFlops(hopper, 512)).toBeCloseTo(2 * jointStepFlops(hopper, 256), -3);
    expect(jointStepFlops(halfcheetah, 256)).toBeGreaterThan(jointStepFlops(hopper, 256));
  });

  it('measures a finite matMul peak on the active backend', () => {
    const peak = matMulPeakGflops(2);
    expect(Number.isFinite(peak) && peak > 0.1).toBe(true);
  });

  it('measures two threads multiplying at once where the native addon is built', async () => {
    const together = await concurrentMatMulPeakGflops(2, 1, 1);
    if (!nativeKernelsActive()) return expect(together).toBeNull();
    expect(together !== null && Number.isFinite(together) && together > 0.1).toBe(true);
  });
});
