import fs from 'node:fs';
import path from 'node:path';
import loadMujoco, { type MainModule, type MjData, type MjModel } from 'mujoco-js';
import type { Rng } from '../rng';
import type { Env, StepResult } from './env';
import { REPO_ROOT } from '../repo-root';

/**
 * Gym's Hopper-v3, Walker2d-v3 and HalfCheetah-v3, the environments of the D4RL v2 datasets, on
 * MuJoCo compiled to wasm: the same models (resources/mjcf), frame skip, observation layout,
 * reward, termination and 1000-step limit.
 */

export type LocomotionFamily = 'hopper' | 'walker2d' | 'halfcheetah';

interface EnvSpec {
  model: string;
  /** MuJoCo steps per environment step. */
  frameSkip: number;
  /** Reward per step while healthy (hopper, walker); the cheetah has none. */
  healthyReward: number;
  ctrlCostWeight: number;
  /** Velocities in the observation are clipped to +-10 (hopper, walker). */
  clipVelocity: boolean;
  /** Whether the state is healthy (the episode goes on); undefined: it never ends early. */
  healthy?: (qpos: Float64Array, qvel: Float64Array) => boolean;
  /** Initial-state noise: uniform +-scale on qpos and qvel, or the cheetah's uniform qpos / Gaussian qvel. */
  resetNoise: { kind: 'uniform'; scale: number } | { kind: 'cheetah'; scale: number };
}

export const LOCOMOTION: Record<LocomotionFamily, EnvSpec> = {
  hopper: {
    model: 'hopper.xml',
    frameSkip: 4,
    healthyReward: 1,
    ctrlCostWeight: 1e-3,
    clipVelocity: true,
    // healthy_state_range (-100, 100) on qpos[2:] and qvel, z > 0.7, |angle| < 0.2.
    healthy: (qpos, qvel) => {
      const z = qpos[1] as number;
      const angle = qpos[2] as number;
      // Checked in place: this runs every environment step of evaluation and data generation.
      const inRange = (v: number) => Math.abs(v) < 100;
      return z > 0.7 && Math.abs(angle) < 0.2 && qpos.subarray(2).every(inRange) && qvel.every(inRange);
    },
    resetNoise: { kind: 'uniform', scale: 5e-3 },
  },
  walker2d: {
    model: 'walker2d.xml',
    frameSkip: 4,
    healthyReward: 1,
    ctrlCostWeight: 1e-3,
    clipVelocity: true,
    // 0.8 < z < 2.0 and |angle| < 1.
    healthy: (qpos) => {
      const z = qpos[1] as number;
      return z > 0.8 && z < 2.0 && Math.abs(qpos[2] as number) < 1;
    },
    resetNoise: { kind: 'uniform', scale: 5e-3 },
  },
  halfcheetah: {
    model: 'halfcheetah.xml',
    frameSkip: 5,
    healthyReward: 0,
    ctrlCostWeight: 0.1,
    clipVelocity: false,
    resetNoise: { kind: 'cheetah', scale: 0.1 },
  },
};

export const MAX_EPISODE_STEPS = 1000;

const MODEL_DIR = path.join(REPO_ROOT, 'resources', 'mjcf');

let mujoco: Promise<MainModule> | null = null;

/** MuJoCo's wasm module, loaded once per process, with the models written to its file system. */
function mujocoModule(): Promise<MainModule> {
  mujoco ??= loadMujoco().then((m) => {
    const fsys = (m as unknown as { FS: { mkdir(p: string): void; writeFile(p: string, text: string): void } }).FS;
    fsys.mkdir('/mjcf');
    for (const spec of Object.values(LOCOMOTION)) fsys.writeFile(`/mjcf/${spec.model}`, fs.readFileSync(path.join(MODEL_DIR, spec.model), 'utf8'));
    return m;
  });
  return mujoco;
}

/** A step with the reward's terms; `terminated` means the state left the healthy range. */
export interface LocomotionStep extends StepResult {
  parts: { forward: number; healthy: number; ctrlCost: number };
}

export class LocomotionEnv implements Env {
  readonly observationSize: number;
  readonly actionSize: number;
  private steps = 0;

  private constructor(
    readonly family: LocomotionFamily,
    private readonly mj: MainModule,
    private readonly model: MjModel,
    private readonly data: MjData,
  ) {
    this.observationSize = model.nq - 1 + model.nv;
    this.actionSize = model.nu;
  }

  static async create(family: LocomotionFamily): Promise<LocomotionEnv> {
    const mj = await mujocoModule();
    const model = mj.MjModel.loadFromXML(`/mjcf/${LOCOMOTION[family].model}`);
    return new LocomotionEnv(family, mj, model, new mj.MjData(model));
  }

  private get spec(): EnvSpec {
    return LOCOMOTION[this.family];
  }

  private get qpos(): Float64Array {
    return this.data.qpos as unknown as Float64Array;
  }

  private get qvel(): Float64Array {
    return this.data.qvel as unknown as Float64Array;
  }

  /** The model's total mass (kg), a fact of each gym model. */
  get totalMass(): number {
    const masses = this.model.body_mass as unknown as Float64Array;
    return masses.reduce((a, b) => a + b, 0);
  }

  /** The time between two environment steps (frame skip x MuJoCo timestep). */
  get dt(): number {
    return this.model.opt.timestep * this.spec.frameSkip;
  }

  /** qpos without the x position, then qvel (clipped to +-10 for hopper and walker). */
  observation(): Float32Array {
    const out = new Float32Array(this.observationSize);
    const qpos = this.qpos;
    const qvel = this.qvel;
    out.set(qpos.subarray(1));
    for (let i = 0; i < qvel.length; i++) {
      const v = qvel[i] as number;
      out[qpos.length - 1 + i] = this.spec.clipVelocity ? Math.max(-10, Math.min(10, v)) : v;
    }
    return out;
  }

  /** The initial pose plus the environment's reset noise. */
  reset(rng: Rng): Float32Array {
    this.mj.mj_resetData(this.model, this.data);
    const noise = this.spec.resetNoise;
    const qpos = this.qpos;
    const qvel = this.qvel;
    for (let i = 0; i < qpos.length; i++) qpos[i] = (qpos[i] as number) + noise.scale * (2 * rng.uniform() - 1);
    for (let i = 0; i < qvel.length; i++) qvel[i] = noise.kind === 'uniform' ? noise.scale * (2 * rng.uniform() - 1) : noise.scale * rng.normal();
    this.mj.mj_forward(this.model, this.data);
    this.steps = 0;
    return this.observation();
  }

  /** One environment step: the action (clipped to [-1, 1]) held for frameSkip MuJoCo steps. */
  step(action: ArrayLike<number>): LocomotionStep {
    const ctrl = this.data.ctrl as unknown as Float64Array;
    let squared = 0;
    for (let i = 0; i < this.actionSize; i++) {
      const a = Math.max(-1, Math.min(1, action[i] as number));
      ctrl[i] = a;
      squared += a * a;
    }
    const xBefore = this.qpos[0] as number;
    for (let k = 0; k < this.spec.frameSkip; k++) this.mj.mj_step(this.model, this.data);
    this.steps += 1;
    const forward = ((this.qpos[0] as number) - xBefore) / this.dt;
    const ctrlCost = this.spec.ctrlCostWeight * squared;
    const healthy = this.spec.healthy ? this.spec.healthy(this.qpos, this.qvel) : true;
    // Gym pays the healthy reward on every step of an episode that terminates when unhealthy.
    const healthyReward = this.spec.healthyReward;
    return {
      observation: this.observation(),
      reward: forward + healthyReward - ctrlCost,
      terminated: !healthy,
      truncated: healthy && this.steps >= MAX_EPISODE_STEPS,
      parts: { forward, healthy: healthyReward, ctrlCost },
    };
  }

  dispose(): void {
    this.data.delete();
    this.model.delete();
  }
}

export function isLocomotion(family: string): family is LocomotionFamily {
  return Object.hasOwn(LOCOMOTION, family);
}
