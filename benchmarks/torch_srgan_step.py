"""PyTorch baseline: the SRGAN training step as BasicSR's `SRGANModel` writes it, same networks.

The peer toolbox people train SRGAN-style models with is BasicSR; its
`SRGANModel.optimize_parameters` is restated here in plain PyTorch (BasicSR itself is not
installed) with networks of exactly the sizes keras-srfm trains (Sec. III-A):

- generator: mean shift, head conv, 16 residual blocks (conv3x3 - LeakyReLU(0.2) - conv3x3,
  no BatchNorm), body conv + global skip, two x2 sub-pixel stages (conv to 256, pixel shuffle,
  LeakyReLU), output conv, mean added back (keras_srfm.models.generator);
- discriminator: 8 convs 3x3/1 and 4x4/2 alternating, 64 -> 512 channels, BatchNorm +
  LeakyReLU(0.2) after each but the first, Dense(1024) - LeakyReLU - Dense(1)
  (keras_srfm.models.discriminator);
- VGG19 up to conv5_4 + ReLU (keras' block5_conv4), frozen, random weights (ImageNet ones cost
  the same), on caffe-style input.

One `gan` step (BasicSR order): G update with D frozen (pixel loss + perceptual loss on VGG
features of SR and HR + adversarial loss on D(SR)), then D update on D(HR) and D(SR.detach()),
each backward separately, Adam for both. One `g` step: the generator alone with the Huber
pixel loss (keras-srfm's variant `p`). float32 or bfloat16 autocast (the CPU AMP of PyTorch).

Run by benchmarks/speed_table.py, each configuration in its own process, in lockstep with the
others (`keras_srfm.training.step_bench.serve`):
    python benchmarks/torch_srgan_step.py --child '{"kind": "gan", "dtype": "float32", "warmup": 2}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH, LR_SIZE, SCALE = 16, 24, 4
RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's, as keras-srfm's default

# === Networks ===


class ResidualBlock(nn.Module):
    def __init__(self, filters: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(filters, filters, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(filters, filters, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    def __init__(self, blocks: int = 16, filters: int = 64) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1))
        self.head = nn.Conv2d(3, filters, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(filters) for _ in range(blocks)],
                                  nn.Conv2d(filters, filters, 3, padding=1))
        up = []
        for _ in range(2):
            up += [nn.Conv2d(filters, 4 * filters, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.2)]
        self.up = nn.Sequential(*up, nn.Conv2d(filters, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x - self.mean)
        return self.up(head + self.body(head)) + self.mean


class Discriminator(nn.Module):
    SPECS = ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1), (8, 4, 2))

    def __init__(self, size: int = LR_SIZE * SCALE, base: int = 64) -> None:
        super().__init__()
        layers, channels = [], 3
        for i, (mult, kernel, stride) in enumerate(self.SPECS):
            out = base * mult
            # "same" padding of keras: 1 for 3x3/1; 4x4/2 pads (1, 2) asymmetrically, here 1 (same size).
            layers.append(nn.Conv2d(channels, out, kernel, stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
            channels = out
        self.features = nn.Sequential(*layers)
        side = size // 16
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, 1024), nn.LeakyReLU(0.2),
                                  nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(2.0 * x - 1.0))


def vgg19_to_conv5_4() -> nn.Sequential:
    """VGG19 features up to conv5_4 + ReLU (torchvision's `features[:36]`), frozen."""
    cfg = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
    layers, channels = [], 3
    for value in cfg:
        if value == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, value, 3, padding=1), nn.ReLU()]
            channels = value
    vgg = nn.Sequential(*layers)
    for p in vgg.parameters():
        p.requires_grad = False
    return vgg.eval()


class Perceptual(nn.Module):
    """BasicSR's PerceptualLoss: MSE of VGG features of SR and of HR (HR detached)."""

    def __init__(self) -> None:
        super().__init__()
        self.vgg = vgg19_to_conv5_4()
        self.register_buffer("mean", torch.tensor((103.939, 116.779, 123.68)).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.vgg(x.flip(1) * 255.0 - self.mean)  # RGB [0,1] -> caffe BGR

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(self.features(sr), self.features(hr.detach()))


# === Steps ===


def make_update(kind: str, dtype: str):
    """`update()` running one training step of `kind` ("gan" or "g") in `dtype`."""
    torch.manual_seed(0)
    lr = torch.rand(BATCH, 3, LR_SIZE, LR_SIZE)
    hr = torch.rand(BATCH, 3, LR_SIZE * SCALE, LR_SIZE * SCALE)
    net_g = Generator().train()
    opt_g = torch.optim.Adam(net_g.parameters(), 1e-4)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    if kind == "g":
        def update() -> None:
            opt_g.zero_grad(set_to_none=True)
            with autocast:
                loss = nn.functional.huber_loss(net_g(lr).float(), hr, delta=1.0)
            loss.backward()
            opt_g.step()

        return update
    net_d = Discriminator().train()
    opt_d = torch.optim.Adam(net_d.parameters(), 1e-4)
    perceptual = Perceptual()
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    def update() -> None:
        # optimize net_g (BasicSR: D's parameters do not require grad here)
        for p in net_d.parameters():
            p.requires_grad = False
        opt_g.zero_grad(set_to_none=True)
        with autocast:
            output = net_g(lr)
            l_pix = 0.01 * nn.functional.huber_loss(output.float(), hr, delta=1.0)
            l_percep = perceptual(output, hr).float()
            l_gan = 5e-3 * bce(net_d(output).float(), ones)
        (l_pix + l_percep + l_gan).backward()
        opt_g.step()
        # optimize net_d: real and fake (detached), each backward on its own
        for p in net_d.parameters():
            p.requires_grad = True
        opt_d.zero_grad(set_to_none=True)
        with autocast:
            l_d_real = bce(net_d(hr).float(), ones)
        l_d_real.backward()
        with autocast:
            l_d_fake = bce(net_d(output.detach()).float(), zeros)
        l_d_fake.backward()
        opt_d.step()

    return update


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--child":
        raise SystemExit("run by benchmarks/speed_table.py: --child JSON")
    from keras_srfm.training.step_bench import serve

    request = json.loads(argv[1])
    serve(make_update(request["kind"], request["dtype"]), request["warmup"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
