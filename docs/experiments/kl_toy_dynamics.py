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
import math
import sys

import torch
import torch.nn as nn
torch.manual_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
B = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
FRESH = (sys.argv[3] == 'fresh') if len(sys.argv) > 3 else True

class Emb(nn.Module):
    def __init__(s, d): super().__init__(); s.d = d
    def forward(s, t):
        h = s.d // 2; f = torch.exp(torch.arange(h) * -(math.log(10000) / (h - 1)))
        e = t[:, None] * f[None, :]; return torch.cat((e.sin(), e.cos()), -1)
class Score(nn.Module):
    def __init__(s):
        super().__init__()
        s.embed = nn.Sequential(Emb(4), nn.Linear(4, 8), nn.Mish(), nn.Linear(8, 4))
        layers = [nn.Linear(7, 128)]
        for _ in range(3): layers += [nn.Linear(128, 128), nn.Mish()]
        layers.append(nn.Linear(128, 2)); s.net = nn.Sequential(*layers)
    def forward(s, x, c, t):
        if t.dim() == 1: t = t.unsqueeze(1)
        e = s.embed(t); e = e.squeeze(1)
        if e.shape[0] != x.shape[0]: e = e.expand(x.shape[0], -1)
        return s.net(torch.cat([x, c, e], -1))
SD = 0.5
def sig(n):
    lo = torch.tensor(0.002, dtype=torch.float64).log().sub(math.log(SD)).div(0.5).sigmoid()
    hi = torch.tensor(80., dtype=torch.float64).log().sub(math.log(SD)).div(0.5).sigmoid()
    u = torch.rand(n, dtype=torch.float64) * (hi - lo) + lo
    return u.logit().mul(0.5).add(math.log(SD)).exp().float()
def denoise(m, x, c, s, eps):
    s2 = s[:, None]; x1 = x + eps * s2
    cs = SD**2 / (s2**2 + SD**2); co = s2 * SD / (s2**2 + SD**2)**0.5; ci = 1 / (s2**2 + SD**2)**0.5
    out = m(x1 * ci, c, torch.log(s) / 4)
    return co * out + cs * x1, ((out - (x - cs * x1) / co)**2).mean()
g = torch.linspace(-10, 10, 5)
means = torch.stack(torch.meshgrid(g, g, indexing='ij'), -1).reshape(-1, 2)
data = (means[:, None, :] + 0.3 * torch.randn(25, 400, 2)).reshape(-1, 2)
state = torch.zeros(len(data), 1)
bc = Score(); obc = torch.optim.Adam(bc.parameters(), lr=3e-3)
def batch():
    if B >= len(data): return data, state
    i = torch.randint(0, len(data), (B,)); return data[i], state[i]
for _ in range(500):
    a, s = batch(); _, l = denoise(bc, a, s, sig(len(a)), torch.randn_like(a)); obc.zero_grad(); l.backward(); obc.step()
gen = Score(); gen.load_state_dict(bc.state_dict()); og = torch.optim.Adam(gen.parameters(), lr=3e-3)
fake = Score()
if not FRESH: fake.load_state_dict(bc.state_dict())
of = torch.optim.Adam(fake.parameters(), lr=3e-3)
for i in range(60):
    a, s = batch()
    _, l = denoise(bc, a, s, sig(len(a)), torch.randn_like(a)); obc.zero_grad(); l.backward(); obc.step()
    na = gen(torch.randn(len(s), 2) * 2.5, s, torch.tensor([2.5]))
    with torch.no_grad():
        sg = sig(len(na)); eps = torch.randn_like(na)
        dr, _ = denoise(bc, na, s, sg, eps); df, _ = denoise(fake, na, s, sg, eps)
        w = (na - dr).abs().mean(1, keepdim=True); gr = (df - dr) / w
    loss = 0.5 * ((na - (na - gr).detach())**2).mean(); og.zero_grad(); loss.backward(); og.step()
    _, fl = denoise(fake, na.detach(), s, sig(len(na)), torch.randn_like(na)); of.zero_grad(); fl.backward(); of.step()
    if i % 3 == 0:
        with torch.no_grad():
            n = na.norm(dim=1); rad = ((-gr * na).sum(1) / n).mean()
            print(f"t={i} |a|={n.mean():.2f} radial(-g)={rad:.3f} |Dreal|={dr.norm(dim=1).mean():.2f} |Dfake|={df.norm(dim=1).mean():.2f} fake={fl.item():.3g}", flush=True)
