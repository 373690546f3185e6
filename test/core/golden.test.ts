import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkNetworksFile, checkTrainStepFile, networksFileSchema, trainStepFileSchema, type NetworksFile } from '../../src/core/golden';
import { initBackend } from '../../src/core/tf/backend';
import { SHARED, runCli, tempHome } from '../helpers';

const GOLDEN = path.join(SHARED, 'golden');
const readNetworks = (): NetworksFile => networksFileSchema.parse(JSON.parse(fs.readFileSync(path.join(GOLDEN, 'networks.json'), 'utf8')));

beforeAll(async () => {
  await initBackend('wasm');
});

describe('golden numbers of the official implementation', () => {
  it('networks.json: every forward pass, sigma, EDM coefficient, loss and gradient matches', () => {
    const report = checkNetworksFile(readNetworks());
    const failures = Object.entries(report.quantities).filter(([, q]) => !q.pass);
    expect(failures).toEqual([]);
    expect(Object.keys(report.quantities).length).toBeGreaterThan(150);
    expect(report.quantities['bc_loss.loss']?.maxAbsError).toBeLessThan(2e-6);
    expect(report.quantities['critic_loss.grads_critic.q1_model.0.weight']?.maxAbsError).toBeLessThan(1e-5);
    expect(report.quantities['dmd.kl_generator.grads_kl_generator.layers.layers.7.bias']?.pass).toBe(true);
  });

  it('train_step.json: two official training iterations give the same losses and parameters', async () => {
    const file = trainStepFileSchema.parse(JSON.parse(fs.readFileSync(path.join(GOLDEN, 'train_step.json'), 'utf8')));
    const report = await checkTrainStepFile(file, readNetworks());
    expect(Object.entries(report.quantities).filter(([, q]) => !q.pass)).toEqual([]);
    expect(report.quantities['runs.alpha1_gamma1.step2.metric.actor_loss']?.pass).toBe(true);
    expect(report.quantities['runs.alpha5_gamma0.step2.params_after.policy.net.6.bias']?.maxAbsError).toBeLessThan(1e-6);
  });

  it('a changed weight is caught and named', () => {
    const file = readNetworks();
    const bias = file.weights.critic?.['q1_model.9.bias'];
    if (!bias) throw new Error('golden file lacks q1_model.9.bias');
    bias.data = (bias.data as number[]).map((v) => v + 0.01);
    const report = checkNetworksFile(file);
    expect(report.pass).toBe(false);
    expect(report.quantities['forward.critic.q1']?.pass).toBe(false);
    expect(report.quantities['forward.critic.q2']?.pass).toBe(true);
  });
});

describe('dtql golden', () => {
  // The kernel sets a user can have: OpenBLAS matrix products where the addon is built (its vector or its generic kernels), plain wasm otherwise.
  it.each([
    ['networks.json', 'with OpenBLAS where built', {}],
    ['train_step.json', 'with OpenBLAS where built', {}],
    ['networks.json', 'on plain wasm', { DTQL_NATIVE_BLAS: '0' }],
    ['train_step.json', 'on plain wasm', { DTQL_NATIVE_BLAS: '0' }],
    // OpenBLAS's generic kernels, what it falls back to on a CPU model it does not know (README, Speed), asked for as a user would ask this app.
    ['networks.json', "with OpenBLAS's generic (Prescott) kernels", { DTQL_OPENBLAS_CORETYPE: 'Prescott' }],
    ['train_step.json', "with OpenBLAS's generic (Prescott) kernels", { DTQL_OPENBLAS_CORETYPE: 'Prescott' }],
  ] as [string, string, Record<string, string>][])('%s %s: prints the contract JSON and exits 0 when every quantity passes', (name, _kernels, env) => {
    const result = runCli(['golden', path.join(GOLDEN, name), '--json'], env);
    expect(result.status, result.stdout.slice(-2000)).toBe(0);
    const out = JSON.parse(result.stdout) as { precision: string; pass: boolean; maxAbsError: number; worst: string; kernels: string; kernelsDetail: string; quantities: Record<string, number> };
    expect(out).toMatchObject({ precision: 'float32', pass: true });
    if (env.DTQL_NATIVE_BLAS === '0') expect(out.kernels).toBe('wasm (SIMD)');
    if (env.DTQL_OPENBLAS_CORETYPE && out.kernels.includes('native')) expect(out.kernelsDetail).toContain(`kernels for ${env.DTQL_OPENBLAS_CORETYPE}`);
    expect(out.maxAbsError).toBeLessThan(1e-5);
    expect(out.quantities[out.worst]).toBe(out.maxAbsError);
  });

  it('exits 1 when a quantity is off and 2 for a file that is not golden', () => {
    const dir = tempHome('dtql-golden-');
    try {
      const file = readNetworks();
      const ln = file.weights.critic?.['v_model.6.bias'];
      if (!ln) throw new Error('golden file lacks v_model.6.bias');
      ln.data = (ln.data as number[]).map((v) => v + 1);
      fs.writeFileSync(path.join(dir, 'networks.json'), JSON.stringify(file));
      const bad = runCli(['golden', path.join(dir, 'networks.json'), '--json']);
      expect(bad.status).toBe(1);
      expect(JSON.parse(bad.stdout).pass).toBe(false);
      fs.writeFileSync(path.join(dir, 'other.json'), '{"hello": 1}');
      const wrong = runCli(['golden', path.join(dir, 'other.json')]);
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toMatch(/not a golden networks file/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
