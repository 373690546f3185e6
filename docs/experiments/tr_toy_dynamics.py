"""Does the official toy trust-region loop (notes sections 3-4, 9) leave the data on minibatches? An experiment.

The toy script's trust-region loop (sac actor, distill=diffusion) re-expressed in PyTorch from the
notes, on 25 Gaussians: per step the IQL critic, the BC diffusion step and the policy step
(trust-region loss - min Q), all at lr 3e-3. Usage:

    THREADS=1 python tr_toy_dynamics.py SEED BATCH STEPS far|near|hard

Prints, every 250 steps, the mean reward, the in-support fraction (within 0.9 of a Gaussian centre),
the best-mode fraction and the policy's mean log-std. Measured (torch 2.13 CPU, seed 0, far, batch
256, 3,500 steps): log-std rises to the clamp 2 from step ~750 and in-support ends at 0.010 (reward
14.79), as the workbench's own `quick` run does (0.009, 14.88). Full batch is slow here (over 0.6 s
per step); the workbench's `paper` run showed the full-batch outcome instead.
"""
import os
import sys

import torch
import torch.nn as nn

from toy_reference import ScoreNet, diffusion_loss, twenty_five_gaussians

torch.set_num_threads(int(os.environ.get("THREADS", "1")))
seed, batch_size, steps, reward_type = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(seed)


def critic_head(inp, norm):
    mods = []
    for i in range(3):
        mods += [nn.Linear(inp if i == 0 else 256, 256)] + ([nn.LayerNorm(256)] if norm else []) + [nn.Mish()]
    return nn.Sequential(*mods, nn.Linear(256, 1))


class TanhGaussianPolicy(nn.Module):
    def __init__(self, max_action):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 4))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight)
                nn.init.zeros_(m.bias)
        self.max_action = max_action

    def sample(self, s):
        mu, log_std = self.net(s).chunk(2, -1)
        log_std = log_std.clamp(-5, 2)
        z = mu + log_std.exp() * torch.randn_like(mu)
        return (torch.tanh(z) * self.max_action).clamp(-self.max_action, self.max_action), log_std


centres, actions = twenty_five_gaussians()
max_radius = actions.norm(dim=1).max()


def reward_of(a):
    """The toy rewards of actions [n, 2] as [n, 1]: near uses the dataset's largest |a|."""
    radius = a.norm(dim=1, keepdim=True)
    if reward_type == 'far':
        return radius
    if reward_type == 'near':
        return max_radius - radius
    return torch.where((a[:, :1] < -7.5) & (a[:, 1:] > 7.5), 2 * radius, radius)


rewards = reward_of(actions)
best = {'far': centres.abs().min(1).values > 9, 'near': centres.norm(dim=1) < 1, 'hard': (centres[:, 0] < -9) & (centres[:, 1] > 9)}[reward_type]
states = torch.zeros(len(actions), 1)

q1, q2, value = critic_head(3, True), critic_head(3, True), critic_head(1, False)
critic_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters(), *value.parameters()], lr=3e-3)
bc = ScoreNet()
bc_opt = torch.optim.Adam(bc.parameters(), lr=3e-3)
policy = TanhGaussianPolicy(actions.abs().max())
policy_opt = torch.optim.Adam(policy.parameters(), lr=3e-3)


def q_min(s, a):
    x = torch.cat([s, a], -1)
    return torch.min(q1(x), q2(x))


for step in range(1, steps + 1):
    if batch_size >= len(actions):
        s, a, r = states, actions, rewards
    else:
        idx = torch.randint(0, len(actions), (batch_size,))
        s, a, r = states[idx], actions[idx], rewards[idx]
    with torch.no_grad():
        q = q_min(s, a)
    diff = q - value(s)
    value_loss = (torch.where(diff > 0, 0.95, 0.05) * diff**2).mean()
    with torch.no_grad():
        target = r + 0.99 * value(s)
    x = torch.cat([s, a], -1)
    critic_loss = value_loss + ((q1(x) - target) ** 2).mean() + ((q2(x) - target) ** 2).mean()
    critic_opt.zero_grad()
    critic_loss.backward()
    critic_opt.step()
    bc_opt.zero_grad()
    diffusion_loss(bc, a, s).backward()
    bc_opt.step()
    new_action, log_std = policy.sample(s)
    policy_loss = diffusion_loss(bc, new_action, s) - q_min(s, new_action).mean()
    policy_opt.zero_grad()
    policy_loss.backward()
    policy_opt.step()
    if step % 250 == 0:
        with torch.no_grad():
            sample, log_std = policy.sample(torch.zeros(1000, 1))
            dist = torch.cdist(sample, centres)
            nearest = dist.min(1)
            in_support = nearest.values < 0.9
            in_best = in_support & best[nearest.indices]
            mean_reward = reward_of(sample).mean()
        print(f"step {step} reward {mean_reward:.2f} in-support {in_support.float().mean():.3f} best {in_best.float().mean():.3f} logstd {log_std.mean():.2f}", flush=True)
