"""Does the official toy KL loop (notes sections 8-9) run away by itself? An experiment, not product code.

The DQL-KL toy loop re-expressed in PyTorch from the implementation notes, with the Q weight 0 so
only the DMD / fake-score feedback acts: 500 full-batch BC steps on 25 Gaussians, the generator
copied from BC, then per step BC, generator (DMD loss) and fake-score updates at lr 3e-3. Every 3
steps it prints the mean |a| of the generated actions and the mean radial part of the descent
direction -(D_fake - D_real)/w (positive: outward). Usage:

    python kl_toy_dynamics.py SEED BATCH fresh|copy     # fake score: fresh as toy_main.py, or BC copy

Measured (torch 2.13 CPU): BATCH 256, 1000 and 2500 run away (|a| > 90,000 by step 48); full batch
swings out to |a| 100-1,200 and returns on seeds 0 and 2, and runs away on seed 1.
"""
import sys

import torch

from toy_reference import ScoreNet, denoise, diffusion_loss, sample_sigma, twenty_five_gaussians

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
fresh_fake = (sys.argv[3] == 'fresh') if len(sys.argv) > 3 else True
torch.manual_seed(seed)
_, actions = twenty_five_gaussians()
states = torch.zeros(len(actions), 1)


def minibatch():
    if batch_size >= len(actions):
        return actions, states
    idx = torch.randint(0, len(actions), (batch_size,))
    return actions[idx], states[idx]


def adam_step(optimizer, loss):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


bc = ScoreNet()
bc_opt = torch.optim.Adam(bc.parameters(), lr=3e-3)
for _ in range(500):
    a, s = minibatch()
    adam_step(bc_opt, diffusion_loss(bc, a, s))
generator = ScoreNet()
generator.load_state_dict(bc.state_dict())
generator_opt = torch.optim.Adam(generator.parameters(), lr=3e-3)
fake = ScoreNet()
if not fresh_fake:
    fake.load_state_dict(bc.state_dict())
fake_opt = torch.optim.Adam(fake.parameters(), lr=3e-3)

for step in range(60):
    a, s = minibatch()
    adam_step(bc_opt, diffusion_loss(bc, a, s))
    generated = generator(torch.randn(len(s), 2) * 2.5, s, torch.tensor([2.5]))
    with torch.no_grad():
        sigma = sample_sigma(len(generated))
        eps = torch.randn_like(generated)
        d_real, _ = denoise(bc, generated, s, sigma, eps)
        d_fake, _ = denoise(fake, generated, s, sigma, eps)
        dmd_grad = (d_fake - d_real) / (generated - d_real).abs().mean(1, keepdim=True)
    adam_step(generator_opt, 0.5 * ((generated - (generated - dmd_grad).detach()) ** 2).mean())
    fake_loss = diffusion_loss(fake, generated.detach(), s)
    adam_step(fake_opt, fake_loss)
    if step % 3 == 0:
        with torch.no_grad():
            norm = generated.norm(dim=1)
            radial = ((-dmd_grad * generated).sum(1) / norm).mean()
            print(
                f"t={step} |a|={norm.mean():.2f} radial(-g)={radial:.3f} |Dreal|={d_real.norm(dim=1).mean():.2f} "
                f"|Dfake|={d_fake.norm(dim=1).mean():.2f} fake={fake_loss.item():.3g}",
                flush=True,
            )
