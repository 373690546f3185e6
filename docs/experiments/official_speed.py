"""
Times the official DTQL code (TianyuCodings/Diffusion_Trusted_Q_Learning, a checkout given by
--official) the way `dtql bench` times this project: batch 256, random data of hopper (11 obs,
3 act) and halfcheetah (17, 6) size, 50 untimed steps, then the median of 5 timed blocks of 10.

  pretraining  the official DTQL.pretrain (behaviour cloning, then the critic, one minibatch)
  joint        the official DTQL.train (critic, behaviour cloning, policy, target update)
  action       the official DTQL.sample_action (1,024 policy samples, softmax over target min-Q)
  bandit       one step of the official toy loop (toy_tasks/toy_main.py: critic, behaviour
               cloning, the trust-region policy loss, target update) at the `quick` preset's
               sizes: a minibatch of 256 of 10,000 samples, score network hidden 128, time
               embedding 4; the toy loop itself trains on the whole dataset

Each at 1 and 2 torch threads (--threads), for the problems asked (--problems); the goal compares
against the faster thread setting. Prints one JSON line.
Needs torch, numpy and einops.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


class RandomBuffer:
    """Uniform minibatches of random transitions, drawn as the official Data_Sampler draws them."""

    def __init__(self, state_dim, action_dim, size=10_000):
        g = torch.Generator().manual_seed(1)
        uniform = lambda *shape: torch.rand(*shape, generator=g) * 2 - 1
        self.state, self.action = uniform(size, state_dim), uniform(size, action_dim)
        self.next_state, self.reward = uniform(size, state_dim), uniform(size, 1)
        self.not_done = torch.ones(size, 1)
        self.size = size

    def sample(self, batch_size):
        ind = torch.randint(0, self.size, size=(batch_size,))
        return self.state[ind], self.action[ind], self.next_state[ind], self.reward[ind], self.not_done[ind]


def median_ms(run, warmup, steps, repeats):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            run()
        times.append((time.perf_counter() - start) * 1000 / steps)
    return statistics.median(times)


class Space:
    def __init__(self, action_dim):
        self.high, self.low = np.ones(action_dim, dtype=np.float32), -np.ones(action_dim, dtype=np.float32)


def time_d4rl(state_dim, action_dim, opts):
    from agents.dtql import DTQL

    agent = DTQL('cpu', state_dim, action_dim, action_space=Space(action_dim), gamma=0.0)
    buffer = RandomBuffer(state_dim, action_dim)
    timed = lambda run: median_ms(run, opts.warmup, opts.steps, opts.repeats)
    pretrain = timed(lambda: agent.pretrain(buffer, 256, 1))
    joint = timed(lambda: agent.train(buffer, 256))
    state = buffer.state[0].numpy()
    action = timed(lambda: agent.sample_action(state))
    return {'pretrainStepsPerSec': 1000 / pretrain, 'trainStepsPerSec': 1000 / joint, 'actLatencyMs': action}


def time_bandit(opts):
    from agents.model import Critic, DiagGaussianActorTanhAction
    from diffusion.karras import DiffusionModel
    from diffusion.mlps import ScoreNetwork

    score = lambda: ScoreNetwork(action_dim=2, hidden_dim=128, time_embed_dim=4, cond_dim=1, cond_mask_prob=0.0,
                                 num_hidden_layers=4, output_dim=2, device='cpu', cond_conditional=True)
    bc_actor, critic = score(), Critic(state_dim=1, action_dim=2)
    critic_target = Critic(state_dim=1, action_dim=2)
    critic_target.load_state_dict(critic.state_dict())
    actor = DiagGaussianActorTanhAction(state_dim=1, action_dim=2, max_action=10.0)
    diffusion = DiffusionModel(sigma_data=0.5, sigma_min=0.002, sigma_max=80, device='cpu')
    optimizers = [torch.optim.Adam(m.parameters(), lr=3e-3) for m in (critic, bc_actor, actor)]
    buffer = RandomBuffer(1, 2)
    expectile, discount, eta, tau = 0.95, 0.99, 0.4, 0.005

    def minimize(optimizer, loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def step():
        state, action, next_state, reward, not_done = buffer.sample(256)
        with torch.no_grad():
            q = critic.q_min(state, action)
        v = critic.v(state)
        diff = q - v
        value_loss = (torch.where(diff > 0, expectile, 1 - expectile) * diff ** 2).mean()
        q1, q2 = critic(state, action)
        with torch.no_grad():
            target_q = reward + not_done * discount * critic.v(next_state)
        minimize(optimizers[0], value_loss + F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q))
        minimize(optimizers[1], diffusion.diffusion_train_step(bc_actor, action, state))
        new_action = actor.sample(state)
        q_loss = -critic.q_min(state, new_action).mean()
        minimize(optimizers[2], diffusion.diffusion_train_step(bc_actor, new_action, state) + eta * q_loss)
        for param, target in zip(critic.parameters(), critic_target.parameters()):
            target.data.copy_(tau * param.data + (1 - tau) * target.data)

    return {'trainStepsPerSec': 1000 / median_ms(step, opts.warmup, opts.steps, opts.repeats)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--official', required=True, help='a checkout of the official DTQL repository')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--problems', nargs='+', choices=['hopper', 'halfcheetah', 'bandit'], default=['hopper', 'halfcheetah', 'bandit'])
    parser.add_argument('--warmup', type=int, default=1000)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=5)
    opts = parser.parse_args()
    sys.path.insert(0, opts.official)
    results = []
    for threads in opts.threads:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        for problem, dims in (('hopper', (11, 3)), ('halfcheetah', (17, 6))):
            if problem in opts.problems:
                results.append({'problem': problem, 'threads': threads, **time_d4rl(*dims, opts)})
        if 'bandit' in opts.problems:
            results.append({'problem': 'bandit (quick)', 'threads': threads, **time_bandit(opts)})
    print(json.dumps({'torch': torch.__version__, 'results': results}))


if __name__ == '__main__':
    main()
