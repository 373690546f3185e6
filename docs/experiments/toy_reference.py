"""The pieces both toy experiments share, re-expressed in PyTorch from the implementation notes
(sections 2, 3.1 and 9): the score network, the truncated log-logistic sigma law, the EDM
denoiser with its loss, and the 25-Gaussians data. Not product code."""
import math

import torch
import torch.nn as nn

SIGMA_DATA = 0.5


class TimeEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
        angles = t[:, None] * freqs[None, :]
        return torch.cat((angles.sin(), angles.cos()), -1)


class ScoreNet(nn.Module):
    """Hidden 128, time embedding 4, an un-activated first layer; one time value serves every row."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Sequential(TimeEmbedding(4), nn.Linear(4, 8), nn.Mish(), nn.Linear(8, 4))
        layers = [nn.Linear(7, 128)]
        for _ in range(3):
            layers += [nn.Linear(128, 128), nn.Mish()]
        layers.append(nn.Linear(128, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, x, cond, t):
        embedding = self.embed(t.reshape(-1)).expand(x.shape[0], -1)
        return self.net(torch.cat([x, cond, embedding], -1))


def sample_sigma(n):
    """n sigmas from the log-logistic law (loc ln sigma_data, scale 0.5) truncated to [0.002, 80]."""
    lo = torch.tensor(0.002, dtype=torch.float64).log().sub(math.log(SIGMA_DATA)).div(0.5).sigmoid()
    hi = torch.tensor(80.0, dtype=torch.float64).log().sub(math.log(SIGMA_DATA)).div(0.5).sigmoid()
    u = torch.rand(n, dtype=torch.float64) * (hi - lo) + lo
    return u.logit().mul(0.5).add(math.log(SIGMA_DATA)).exp().float()


def denoise(net, x, cond, sigma, eps):
    """The unclamped EDM denoiser at x + sigma * eps, and the diffusion loss of x there."""
    s = sigma[:, None]
    noisy = x + eps * s
    c_skip = SIGMA_DATA**2 / (s**2 + SIGMA_DATA**2)
    c_out = s * SIGMA_DATA / (s**2 + SIGMA_DATA**2) ** 0.5
    c_in = 1 / (s**2 + SIGMA_DATA**2) ** 0.5
    out = net(noisy * c_in, cond, torch.log(s) / 4)
    return c_out * out + c_skip * noisy, ((out - (x - c_skip * noisy) / c_out) ** 2).mean()


def diffusion_loss(net, x, cond):
    """The BC / trust-region loss with fresh sigma and noise, drawn in that order."""
    sigma = sample_sigma(len(x))
    return denoise(net, x, cond, sigma, torch.randn_like(x))[1]


def twenty_five_gaussians():
    """The Gaussian centres (linspace(-10, 10, 5) squared) and 400 actions around each, std 0.3."""
    grid = torch.linspace(-10, 10, 5)
    centres = torch.stack(torch.meshgrid(grid, grid, indexing='ij'), -1).reshape(-1, 2)
    return centres, (centres[:, None, :] + 0.3 * torch.randn(25, 400, 2)).reshape(-1, 2)
