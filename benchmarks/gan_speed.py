"""GAN training speed: artgen's default 64x64 GAN vs the pytorch/examples DCGAN recipe, side by side.

Baseline (pytorch/examples dcgan/main.py): nz 100, ngf = ndf = 64, ConvTranspose
generator with BatchNorm + ReLU + Tanh, conv discriminator with BatchNorm +
LeakyReLU + Sigmoid, BCELoss, Adam 2e-4 betas (0.5, 0.999), one fake batch reused
for the D and G updates, data already in memory.

artgen: the real training step (``GANTask.train_step`` through the shared
``Trainer``): DiffAugment (colour, translation, cutout), lazy R1 every 16 steps,
EMA, channels_last, and bf16 autocast on CUDA.  Both at the same batch size on
the same device, in one process; the script prints images/s, the ratio and the
parameter counts.

    OMP_NUM_THREADS=1 python -m benchmarks.gan_speed                  # CPU, batch 128
    python -m benchmarks.gan_speed --device cuda --steps 48 --record  # on a CUDA GPU, rows to benchmarks/results/
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from artgen.device import Precision, auto_precision, synchronize
from artgen.gan import GANTask, GANTrainConfig, SampledBatches
from artgen.gan.networks import GANConfig, count_parameters
from artgen.train import Callback, Trainer
from benchmarks._results import add_record_flag, machine_info, record


def dcgan(nz=100, ngf=64, ndf=64, nc=3):
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )

    def weights_init(m):
        name = m.__class__.__name__
        if name.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif name.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    G.apply(weights_init)
    D.apply(weights_init)
    return G, D


def bench_dcgan(
    data: torch.Tensor, batch: int, steps: int, warmup: int, device: torch.device
) -> tuple[float, int, int]:
    G, D = dcgan()
    G.to(device)
    D.to(device)
    crit = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0
    n = len(data)

    def step(i):
        real = data[(i * batch) % n : (i * batch) % n + batch]
        b = real.size(0)
        D.zero_grad()
        label = torch.full((b,), real_label, dtype=real.dtype, device=device)
        err_real = crit(D(real).view(-1), label)
        err_real.backward()
        noise = torch.randn(b, 100, 1, 1, device=device)
        fake = G(noise)
        label.fill_(fake_label)
        err_fake = crit(D(fake.detach()).view(-1), label)
        err_fake.backward()
        opt_d.step()
        G.zero_grad()
        label.fill_(real_label)
        err_g = crit(D(fake).view(-1), label)
        err_g.backward()
        opt_g.step()

    for i in range(warmup):
        step(i)
    synchronize(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    synchronize(device)
    return steps * batch / (time.perf_counter() - t0), count_parameters(G), count_parameters(D)


def bench_artgen(
    data: torch.Tensor, batch: int, steps: int, warmup: int, device: torch.device, augment: bool
) -> tuple[float, int, int]:
    cfg = GANConfig(size=64, channels=3)
    tc = GANTrainConfig(
        steps=warmup + steps, batch_size=batch, augment=["color", "translation", "cutout"] if augment else []
    )
    task = GANTask(cfg, tc, device)
    source = SampledBatches(data, batch_size=batch, device=device, channels_last=tc.channels_last)
    precision = auto_precision(device)  # what `artgen gan train` uses
    times = {}

    class Clock(Callback):
        def on_train_end(self, trainer):
            synchronize(device)
            times["end"] = time.perf_counter()

        def on_step_end(self, trainer, step):
            if step == warmup:
                synchronize(device)
                times["start"] = time.perf_counter()

    trainer = Trainer(
        task,
        source,
        max_steps=warmup + steps,
        device=device,
        precision=Precision.create(precision, device),
        progress=False,
        callbacks=[Clock()],
        log_every=10**9,
    )
    trainer.fit()
    return steps * batch / (times["end"] - times["start"]), count_parameters(task.G), count_parameters(task.D)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda or auto (default: auto: CUDA when present, and always CPU)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="timed steps (default: 16 on CPU, 48 on CUDA: whole R1 periods, so its cost is amortised as in training)",
    )
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 1 on CPU, 16 on CUDA)")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    devices = []
    if args.device in ("auto", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("auto", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device not in ("auto", "cpu", "cuda"):
        devices = [torch.device(args.device)]
    info = machine_info(device=str(devices[-1]))
    torch.manual_seed(0)
    data_u8 = (torch.rand(1024, 3, 64, 64) * 255).to(torch.uint8)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch_size}, 64x64 RGB")
    rows = []
    for device in devices:
        steps = args.steps or (16 if device.type == "cpu" else 48)
        warmup = args.warmup if args.warmup is not None else (1 if device.type == "cpu" else 16)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        data = (data_u8.float() / 127.5 - 1).to(device)
        base, bg, bd = bench_dcgan(data, args.batch_size, steps, warmup, device)
        ours, ag, ad = bench_artgen(data_u8, args.batch_size, steps, warmup, device, augment=True)
        ours_plain, _, _ = bench_artgen(data_u8, args.batch_size, steps, warmup, device, augment=False)
        print(f"[{name}] DCGAN baseline      : {base:8.1f} img/s  (G {bg / 1e6:.2f}M + D {bd / 1e6:.2f}M params)")
        print(
            f"[{name}] artgen default      : {ours:8.1f} img/s  (G {ag / 1e6:.2f}M + D {ad / 1e6:.2f}M params; DiffAugment, lazy R1, EMA)  ratio {ours / base:.2f}x"
        )
        print(f"[{name}] artgen, no augment  : {ours_plain:8.1f} img/s  ratio {ours_plain / base:.2f}x")
        common = {"device": name, "batch": args.batch_size, "timed_steps": steps}
        rows += [
            {
                "contender": "pytorch/examples DCGAN",
                **common,
                "img_per_s": round(base, 1),
                "G_params_M": round(bg / 1e6, 2),
                "D_params_M": round(bd / 1e6, 2),
            },
            {
                "contender": "artgen default (DiffAugment, lazy R1, EMA)",
                **common,
                "img_per_s": round(ours, 1),
                "G_params_M": round(ag / 1e6, 2),
                "D_params_M": round(ad / 1e6, 2),
                "ratio_to_dcgan": round(ours / base, 2),
            },
            {
                "contender": "artgen, no augmentation",
                **common,
                "img_per_s": round(ours_plain, 1),
                "G_params_M": round(ag / 1e6, 2),
                "D_params_M": round(ad / 1e6, 2),
                "ratio_to_dcgan": round(ours_plain / base, 2),
            },
        ]
    record(args, "gan_speed", rows, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
