"""Style transfer speed: artgen vs the PyTorch tutorial's recipe, side by side, same device, same weights.

Baseline (written here following the PyTorch "Neural Transfer" tutorial's structure): an
``nn.Sequential`` copy of VGG19's features with a Normalization module first and
ContentLoss / StyleLoss modules inserted after the convolutions (style after conv_1..conv_5,
content after conv_4), trimmed after the last loss; style weight 1e6, content weight 1,
L-BFGS on the input image with a clamp inside the closure, fp32. One "step" is one closure
evaluation (forward + backward), as in the tutorial's ``num_steps=300``.

artgen runs the *same objective* (same layers, weights, Gram normalisation) through
``artgen.style_transfer`` on the shared Trainer, one L-BFGS evaluation per step.

Reported:
  1. per-step time at --size (default 512) for both, and the ratio (CPU; CUDA when present); also
     artgen at its default precision when that is not fp32 (bf16 on GPUs and on CPUs with AMX);
  2. end to end: the default ``artgen stylize`` at 512 px, measured for real, vs the baseline's
     300 steps (extrapolated from its measured per-step time plus its measured setup);
  3. on CUDA only: artgen's peak memory (default settings) at 512, 1024 and 2048 px.

Weights: the real ImageNet VGG19 when cached (or given with --weights); otherwise both sides use
the same random-valued VGG19 state dict, which times identically. The end-to-end run uses
``--backbone`` (default auto: the pretrained VGG19 when available, else the offline encoder).

``--record`` writes each of these as a row to ``benchmarks/results/stylize_speed_<date>.json``.

    OMP_NUM_THREADS=1 python -m benchmarks.stylize_speed [--size 512] [--steps 5] [--device auto] [--record]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from artgen import encoders as E
from artgen import style_transfer as S
from artgen.data.style_images import style_image
from artgen.device import Precision, resolve_device, synchronize
from artgen.images import resize_tensor
from artgen.train import Callback, Repeat, Trainer
from benchmarks._results import add_record_flag, machine_info, record

# --- the baseline: the tutorial's recipe ----------------------------------------------------


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


def gram_matrix(input):
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, input):
        G = gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


CONTENT_LAYERS_DEFAULT = ["conv_4"]
STYLE_LAYERS_DEFAULT = ["conv_1", "conv_2", "conv_3", "conv_4", "conv_5"]


def get_style_model_and_losses(
    cnn, mean, std, style_img, content_img, content_layers=CONTENT_LAYERS_DEFAULT, style_layers=STYLE_LAYERS_DEFAULT
):
    normalization = Normalization(mean, std).to(style_img.device)
    normalization.mean = normalization.mean.to(style_img.device)
    normalization.std = normalization.std.to(style_img.device)
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d):
            name = f"pool_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    model = model[: (i + 1)]
    return model, style_losses, content_losses


def median_step(times: list[float]) -> float:
    """Median time between consecutive timestamps, the first evaluation (warm-up) excluded."""
    steps = [b - a for a, b in zip(times[:-1], times[1:])]
    steps = steps[1:] or steps
    return sorted(steps)[len(steps) // 2]


def run_baseline(
    cnn,
    content_img,
    style_img,
    num_steps,
    style_weight=1e6,
    content_weight=1,
    device=None,
    mean=E.IMAGENET_MEAN,
    std=E.IMAGENET_STD,
):
    """The tutorial's run_style_transfer; returns (image, seconds per evaluation, setup seconds)."""
    t0 = time.perf_counter()
    input_img = content_img.clone()
    model, style_losses, content_losses = get_style_model_and_losses(cnn, mean, std, style_img, content_img)
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = torch.optim.LBFGS([input_img])
    synchronize(device)
    setup = time.perf_counter() - t0
    run = [0]
    times = []

    while run[0] < num_steps:

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = sum(sl.loss for sl in style_losses) * style_weight
            content_score = sum(cl.loss for cl in content_losses) * content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            synchronize(device)
            times.append(time.perf_counter())
            return style_score + content_score

        start = time.perf_counter()
        times.append(start)
        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img, median_step(times), setup


# --- weights ------------------------------------------------------------------------------------


def vgg19_state(weights: str | None) -> tuple[dict, str]:
    if weights:
        from artgen.runs.weights import load_weights_file

        return load_weights_file(weights), f"file {weights}"
    state = E.torchvision_vgg19_state(download=False)
    if state is not None:
        return state, "ImageNet VGG19 (torchvision cache)"
    return E.random_vgg19_state_dict(
        seed=0
    ), "random-valued VGG19 state dict (ImageNet weights not on this machine; timing is the same)"


def tutorial_cnn(state, device):
    stack = E.vgg_stack(E.VGG19_BLOCKS, len(E.layer_names()) - 1)
    stack.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
    return stack.to(device).eval()


# --- artgen on the same objective -----------------------------------------------------------------

SAME_STYLE = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")
SAME_CONTENT = ("conv2_2",)


def run_artgen_same(state, content_img, style_img, num_steps, device, precision="fp32"):
    enc = S.set_encoder_layout(E.build_vgg19_encoder(SAME_STYLE, weights=state, device=device), precision, device)
    t0 = time.perf_counter()
    objective = S.StyleObjective(
        enc,
        content_img[None],
        [style_img[None]],
        content_layers=SAME_CONTENT,
        style_layers=SAME_STYLE,
        content_weight=1.0,
        style_weight=1e6,
        tv_weight=0.0,
        style_layer_weights=(1.0,) * 5,
        normalize=False,
        autocast=Precision.create(precision, device).autocast,
    )
    image = S.ImageParameter(content_img[None])
    task = S.StylizeTask(image, objective, "lbfgs")
    synchronize(device)
    setup = time.perf_counter() - t0
    times = []

    class Clock(Callback):
        def on_train_begin(self, trainer):
            times.append(time.perf_counter())

        def on_step_end(self, trainer, step):
            synchronize(device)
            times.append(time.perf_counter())

    Trainer(
        task,
        Repeat(num_steps),
        max_steps=num_steps,
        device=device,
        precision=precision,
        progress=False,
        callbacks=[Clock()],
        log_every=num_steps,
    ).fit()
    return median_step(times), setup


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=5, help="evaluations timed per side and round (per-step comparison)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of the per-step comparison (default 3)")
    p.add_argument("--device", default="auto")
    p.add_argument("--weights", default=None, help="a torchvision VGG19 state dict for both sides")
    p.add_argument("--backbone", default="auto", help="backbone of the end-to-end artgen run (auto|vgg19|random)")
    p.add_argument("--content", default=None, help="content image (default: a built-in painting-like image)")
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--save", default=None, metavar="PNG", help="write the end-to-end result here")
    add_record_flag(p)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    info = machine_info(device=str(device))
    torch.manual_seed(0)
    state, source = vgg19_state(args.weights)
    print(f"device {device} ({torch.get_num_threads()} threads), weights: {source}")
    size = args.size
    style_img = S.load_input(style_image("swirls", size), "style", size)[0].to(device)
    if args.content:
        content_img = resize_tensor(S.load_input(args.content, "content"), (size, size))[0].to(device)
    else:
        content_img = S.load_input(style_image("mosaic", size, seed=1), "content", size)[0].to(device)

    # 1. per step, same objective, same size; the contenders alternate for --rounds rounds and
    #    each keeps its best round, so that a slow spell of a shared machine hits both alike
    auto = S.stylize_precision("auto", device)
    base_steps, art_steps, auto_steps = [], [], []
    for _ in range(args.rounds):
        cnn = tutorial_cnn(state, device)
        _, step, base_setup = run_baseline(cnn, content_img[None], style_img[None], args.steps + 1, device=device)
        base_steps.append(step)
        del cnn
        art_steps.append(run_artgen_same(state, content_img, style_img, args.steps + 1, device)[0])
        if auto != "fp32":
            auto_steps.append(
                run_artgen_same(state, content_img, style_img, args.steps + 1, device, precision=auto)[0]
            )
    base_step, art_step = min(base_steps), min(art_steps)
    common = {"size": size, "rounds": args.rounds, "steps_per_round": args.steps, "weights": source.split(" (")[0]}
    rows = [
        {
            "measure": "per step",
            "contender": "PyTorch tutorial recipe (L-BFGS, fp32)",
            **common,
            "ms_per_step": round(base_step * 1000, 1),
            "rounds_ms": [round(t * 1000, 1) for t in base_steps],
        },
        {
            "measure": "per step",
            "contender": "artgen, same objective (fp32)",
            **common,
            "ms_per_step": round(art_step * 1000, 1),
            "rounds_ms": [round(t * 1000, 1) for t in art_steps],
            "speed_up": round(base_step / art_step, 2),
        },
    ]
    print(
        f"per step at {size}x{size} (tutorial objective, L-BFGS, fp32; best of {args.rounds} alternating rounds): baseline {base_step * 1000:.0f} ms, "
        f"artgen {art_step * 1000:.0f} ms, artgen is {base_step / art_step:.2f}x faster"
    )
    if auto != "fp32":
        auto_step = min(auto_steps)
        print(
            f"per step at {size}x{size}, artgen's default precision ({auto} encoder, fp32 Grams and losses): {auto_step * 1000:.0f} ms, "
            f"{base_step / auto_step:.2f}x faster than the fp32 baseline"
        )
        rows.append(
            {
                "measure": "per step",
                "contender": f"artgen, same objective ({auto} encoder)",
                **common,
                "ms_per_step": round(auto_step * 1000, 1),
                "rounds_ms": [round(t * 1000, 1) for t in auto_steps],
                "speed_up": round(base_step / auto_step, 2),
            }
        )

    # 2. end to end: the default artgen stylize at 512 px vs the baseline's 300 steps
    if not args.skip_e2e:
        weights_file = None
        if args.backbone == "vgg19" and args.weights:
            weights_file = args.weights
        t0 = time.perf_counter()
        opts = S.StyleConfig(
            size=512, device=str(device), backbone=args.backbone, weights=weights_file, progress=False
        )
        if args.backbone == "vgg19" and not weights_file:
            enc = E.build_vgg19_encoder(E.GATYS_STYLE_LAYERS + E.GATYS_CONTENT_LAYERS, weights=state, device=device)
        else:
            enc = None
        out, settings = S.stylize_tensor(content_img.cpu(), style_img.cpu(), opts, encoder=enc)
        synchronize(device)
        e2e = time.perf_counter() - t0
        base_e2e = base_setup + 300 * base_step * (512 / size) ** 2
        print(
            f"end to end at 512 px: artgen default ({settings['backbone_used']}, {settings['steps']} steps over a {len(S.pyramid_sizes(512))}-level pyramid) "
            f"{e2e:.1f} s measured; baseline 300 steps {base_e2e:.1f} s (extrapolated from its per-step time); "
            f"artgen takes {e2e / base_e2e:.3f} of the baseline's time (target <= 0.167)"
        )
        rows += [
            {
                "measure": "end to end, 512 px",
                "contender": "PyTorch tutorial recipe, 300 steps (extrapolated from its per-step time)",
                "size": 512,
                "seconds": round(base_e2e, 1),
            },
            {
                "measure": "end to end, 512 px",
                "contender": f"artgen stylize default ({settings['backbone_used']}, {settings['steps']} steps)",
                "size": 512,
                "seconds": round(e2e, 1),
                "time_ratio": round(e2e / base_e2e, 3),
                "goal": "time_ratio <= 0.167",
            },
        ]
        if args.save:
            from artgen.images import save_image

            save_image(out[0], args.save, overwrite=True, metadata=settings)

    # 3. peak memory on CUDA
    if device.type == "cuda":
        enc = E.build_vgg19_encoder(E.GATYS_STYLE_LAYERS + E.GATYS_CONTENT_LAYERS, weights=state, device=device)
        for side in (512, 1024, 2048):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            try:
                c = resize_tensor(content_img[None].cpu(), (side, side))[0]
                S.stylize_tensor(
                    c,
                    style_img.cpu(),
                    S.StyleConfig(size=side, steps=6, levels=1, device=str(device), progress=False),
                    encoder=enc,
                )
                peak = torch.cuda.max_memory_allocated(device) / 2**30
                print(f"peak GPU memory at {side}x{side} (VGG19, default layers, L-BFGS): {peak:.2f} GiB")
            except torch.OutOfMemoryError:
                peak = None
                print(f"{side}x{side}: out of memory")
            rows.append(
                {
                    "measure": "peak GPU memory",
                    "contender": "artgen stylize (VGG19, default layers, L-BFGS)",
                    "size": side,
                    "peak_gib": None if peak is None else round(peak, 2),
                    "out_of_memory": peak is None,
                }
            )
    record(args, "stylize_speed", rows, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
