"""``artgen gan train|sample|interpolate|eval``: a small GAN for personal art collections."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATASET_CHOICES = ("art", "shapes", "mnist", "fashion-mnist")
#: ``gan eval --max-real`` default: real images compared against. Bounds the feature
#: extraction time on a CPU; FID/KID from fewer images are biased upwards (the counts are printed with them).
DEFAULT_MAX_REAL = 5000


def add_parser(sub, name: str) -> None:
    """Register ``artgen gan train|sample|interpolate|eval`` and their flags on the sub-parsers ``sub`` under
    ``name``."""
    from ..flags import add_common, add_field, add_run_flags, remember_defaults
    from .config import CPU_BATCH_SIZE, GPU_BATCH_SIZE, RECIPES, GANTrainConfig
    from .networks import GANConfig

    M, T = GANConfig(), GANTrainConfig()  # every default below is the dataclasses'
    parser = sub.add_parser(
        name,
        help="train a small GAN on a folder of images, sample, interpolate, evaluate",
        description="A small GAN for personal art collections (32-256 px).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    train = actions.add_parser("train", help="train (or resume, or fine-tune) a GAN into a run folder")
    _data_flags(train)
    add_field(train, M, "size", "output side in pixels", choices=[32, 64, 128, 256])
    add_field(
        train,
        M,
        "channels",
        "1 (grey), 3 (RGB) or 4 (RGBA: keeps the folder's transparency; samples are RGBA PNGs)",
        default=None,
        shown=f"1 for shapes/MNIST, else {M.channels}",
        choices=[1, 3, 4],
    )
    add_field(
        train, T, "steps", "training steps", default=None, shown=f"{T.steps}; with --resume, raise it to train longer"
    )
    add_field(
        train,
        T,
        "batch_size",
        "images per step; fewer images than this is fine",
        default=None,
        shown=f"{CPU_BATCH_SIZE} on the CPU, {GPU_BATCH_SIZE} on a GPU",
    )
    train.add_argument(
        "--out", required=True, metavar="RUN", help="run folder (config.json, model.safetensors, samples/, curves.png)"
    )
    add_run_flags(train, checkpoint_every=T.checkpoint_every)
    train.add_argument(
        "--init-from", metavar="RUN", help="start from an earlier GAN run's generator and discriminator (fine-tuning)"
    )
    add_field(train, T, "freeze_d", "with --init-from: keep the first N discriminator blocks fixed", metavar="N")
    train.add_argument(
        "--augment",
        default="auto",
        help="DiffAugment policies: color,translation,cutout | none | auto (all three below 5,000 images) "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--ada-target",
        default="auto",
        metavar="R",
        help="adaptive augmentation strength (StyleGAN2-ADA): raise it while r_t = E[sign(D(real))] is above R; "
        "0 = fixed --augment-p (default: auto: 0.6 whenever augmentation is on)",
    )
    add_field(
        train,
        T,
        "augment_p",
        "fixed augmentation probability per transform when --ada-target is 0",
        metavar="P",
    )
    train.add_argument(
        "--conditional", action="store_true", help="class-conditional GAN (labelled folders, shapes, MNIST family)"
    )
    add_field(train, T, "crop", "how non-square images are cropped", choices=["center", "random"])
    add_field(train, T, "hflip", "mirror half of the training images")
    add_field(
        train,
        M,
        "discriminator",
        "plain: a convolutional D trained from scratch; projected: Projected GAN's D on frozen pretrained "
        "EfficientNet-Lite0 features",
        choices=list(RECIPES),
    )
    add_field(
        train,
        M,
        "pg_size",
        "projected D: side the images are resized to for the feature network; 0 keeps their own",
        metavar="PX",
    )
    add_field(
        train,
        M,
        "pg_levels",
        "projected D: feature levels judged, shallowest first; the paper uses 4",
        choices=[1, 2, 3, 4],
    )
    recipe = ", ".join(f"{name} {r['loss']}" for name, r in RECIPES.items())
    add_field(
        train,
        T,
        "loss",
        "GAN loss",
        default=None,
        shown=f"the discriminator's: {recipe}",
        choices=["nonsaturating", "hinge"],
    )
    lr_help = "Adam learning rate of the {}"
    add_field(train, T, "lr_g", lr_help.format("generator"), default=None, shown=_per_recipe("lr_g"), metavar="LR")
    add_field(train, T, "lr_d", lr_help.format("discriminator"), default=None, shown=_per_recipe("lr_d"), metavar="LR")
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        metavar="LR",
        help="one Adam learning rate for both networks, in place of --lr-g and --lr-d",
    )
    add_field(
        train,
        T,
        "r1_gamma",
        f"R1 penalty weight on the discriminator, applied every {T.r1_every} steps; 0 turns it off",
        flag="--r1",
        default=None,
        shown=_per_recipe("r1_gamma"),
        metavar="GAMMA",
    )
    add_field(
        train,
        T,
        "diversity",
        "weight of the mode-seeking term (MSGAN) that keeps samples as varied as their latent codes; 0 turns it off",
        metavar="W",
    )
    add_field(
        train,
        M,
        "spectral_norm",
        "spectral normalisation in the plain discriminator (the projected one always has it)",
    )
    add_field(train, T, "sample_every", "write samples/step_N.png every N steps", metavar="N")
    add_field(
        train,
        T,
        "kid_every",
        "measure KID of the samples against the training images every N steps, keep the best generator in RUN/best; "
        "0: as often as costs at most 5%% of the time",
        metavar="N",
    )
    train.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N images")
    add_common(train, precision=False)
    train.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto: bf16 (or fp16) on CUDA, bf16 on CPUs with native bfloat16 (AMX, AVX-512 BF16), else fp32 "
        "(default: %(default)s)",
    )
    train.set_defaults(func=run_train, argument_flags={"r1_gamma": "r1"})
    remember_defaults(train)  # --resume compares only the flags typed with the saved settings

    sample = actions.add_parser("sample", help="a grid (and optionally single images) from a trained GAN")
    _checkpoint_flags(sample)
    sample.add_argument("-n", type=int, default=64, help="number of images (default: %(default)s)")
    sample.add_argument("-o", "--output", required=True, help="grid image to write (.png)")
    _latent_flags(sample)
    sample.add_argument(
        "--separate", metavar="DIR", help="also write one PNG per image into DIR, each with its seed in its metadata"
    )
    sample.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_common(sample, precision=False)
    sample.set_defaults(func=run_sample)

    walk = actions.add_parser("interpolate", help="a smooth looping latent walk as an animated GIF")
    _checkpoint_flags(walk)
    walk.add_argument("-o", "--output", required=True, help="GIF to write")
    walk.add_argument("--frames", type=int, default=60, help="number of frames (default: %(default)s)")
    walk.add_argument("--fps", type=float, default=20, help="frames per second (default: %(default)g)")
    walk.add_argument("--keyframes", type=int, default=4, help="latent points visited (default: %(default)s)")
    _latent_flags(walk)
    walk.add_argument("--overwrite", action="store_true", help="replace an existing GIF")
    add_common(walk, precision=False)
    walk.set_defaults(func=run_interpolate)

    ev = actions.add_parser(
        "eval", help="FID/KID (TF-Inception features), precision/recall and memorisation of a GAN against real images"
    )
    _checkpoint_flags(ev)
    _data_flags(ev)
    ev.add_argument("--num-samples", type=int, default=1000, help="generated images to compare (default: %(default)s)")
    ev.add_argument(
        "--max-real",
        type=int,
        default=DEFAULT_MAX_REAL,
        help="at most this many real images (default: %(default)s)",
    )
    ev.add_argument(
        "--features",
        choices=["auto", "inception", "random"],
        default="auto",
        help="feature network: inception (the TF-Inception of published FID/KID), random (offline fallback: values "
        "are not FID/KID) or auto, inception when it can be had (default: %(default)s)",
    )
    ev.add_argument(
        "--inception-weights",
        metavar="FILE",
        help="TF-Inception weights: NVIDIA's inception-2015-12-05.pt or pytorch-fid's "
        "pt_inception-2015-12-05-6726825d.pth (default: the torch hub cache, else a download)",
    )
    ev.add_argument(
        "--nearest-sheet",
        metavar="PNG",
        default=None,
        help="where to write the 16 samples closest to a training image, each beside it (default: RUN/nearest.png)",
    )
    ev.add_argument(
        "--classifier",
        metavar="RUN",
        help="a classifier run: report how often it recognises the requested class (conditional GANs)",
    )
    ev.add_argument("--json", action="store_true", help="print JSON")
    add_common(ev, precision=False)
    ev.set_defaults(func=run_eval)
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])


def _per_recipe(name: str) -> str:
    from .config import RECIPES

    return ", ".join(f"{recipe} {values[name]:g}" for recipe, values in RECIPES.items())


def _checkpoint_flags(parser) -> None:
    """``--checkpoint RUN`` and ``--which`` of the commands that use a trained GAN (sample, interpolate, eval)."""
    parser.add_argument("--checkpoint", required=True, metavar="RUN", help="a GAN run folder")
    parser.add_argument(
        "--which",
        choices=["auto", "best", "last"],
        default="auto",
        help="best: the generator with the lowest KID measured during training; last: the latest; "
        "auto: best when the run kept one (default: %(default)s)",
    )


def _latent_flags(parser) -> None:
    """``--class`` and ``--truncation``: which latent codes a trained GAN draws from (sample, interpolate)."""
    parser.add_argument(
        "--class", dest="class_", default=None, metavar="K", help="class number or name (conditional GANs)"
    )
    parser.add_argument(
        "--truncation",
        type=float,
        default=None,
        help="truncation trick threshold, e.g. 0.7 (less variety, cleaner images)",
    )


def _data_flags(parser) -> None:
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="a folder of images (any size or aspect ratio; subfolders are classes with --conditional)",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASET_CHOICES,
        default=None,
        help="built-in art (default) or shapes, or MNIST / Fashion-MNIST files under --data-root",
    )
    parser.add_argument(
        "--data-root", metavar="DIR", help="folder holding MNIST files (default $ARTGEN_DATA or ~/.cache/artgen/data)"
    )


def run_train(args) -> int:
    """``artgen gan train``: :func:`artgen.gan.train_gan` from the flags; prints where the run is saved; returns 0.

    Raises:
        UsageError: ``--data`` with ``--dataset``, ``--freeze-d`` without ``--init-from``/``--resume``,
            a non-numeric ``--ada-target``, and every usage error of ``train_gan`` (exit 2).
    """
    from ..errors import UsageError
    from . import train_gan

    if args.data and args.dataset:
        raise UsageError("give either --data DIR or --dataset NAME, not both")
    if args.freeze_d and not args.init_from and not args.resume:
        raise UsageError("--freeze-d is for fine-tuning: use it with --init-from RUN")
    if args.lr is not None:  # one rate for both networks; errors about either name --lr
        args.lr_g = args.lr_d = args.lr
        args.argument_flags = {**args.argument_flags, "lr_g": "lr", "lr_d": "lr"}
    settings = dict(
        size=args.size,
        channels=args.channels,
        conditional=args.conditional,
        batch_size="auto" if args.batch_size is None else args.batch_size,
        augment=args.augment,
        augment_p=args.augment_p,
        ada_target=args.ada_target if args.ada_target == "auto" else _float_arg(args.ada_target, "--ada-target"),
        freeze_d=args.freeze_d,
        hflip=args.hflip,
        crop=args.crop,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        loss=args.loss,
        r1_gamma=args.r1,
        diversity=args.diversity,
        discriminator=args.discriminator,
        pg_size=args.pg_size,
        pg_levels=args.pg_levels,
        spectral_norm=args.spectral_norm,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        kid_every=args.kid_every,
        precision=args.precision,
        seed=args.seed,
    )
    if args.resume:  # only the flags typed are compared with the saved settings (and reported where they differ)
        from ..flags import typed_flags

        typed = typed_flags(args)
        flag_of = {"r1_gamma": "r1"}
        if "lr" in typed:
            typed |= {"lr_g", "lr_d"}
        settings = {k: v for k, v in settings.items() if flag_of.get(k, k) in typed}
    gan = train_gan(
        out=args.out,
        data=args.data,
        dataset=args.dataset,
        data_root=args.data_root,
        steps=args.steps,
        resume=args.resume,
        overwrite=args.overwrite,
        init_from=args.init_from,
        limit=args.limit,
        device=args.device,
        progress=False if args.quiet else None,
        **settings,
    )
    from ..distributed import is_main

    if is_main():
        samples = Path(args.out) / "samples"
        print(f"trained {gan.train_config.steps} steps; run saved in '{args.out}' (samples in '{samples}')")
    return 0


def _float_arg(value: str, flag: str) -> float:
    from ..errors import UsageError

    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r}: expected a number") from None


def _class_arg(value):
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def run_sample(args) -> int:
    """``artgen gan sample``: a grid PNG of ``-n`` images (seeds ``--seed``..), and with ``--separate`` one PNG per
    image; returns 0.

    Raises:
        UsageError: an output exists without ``--overwrite`` (checked before any is written); a bad ``--class``.
        CheckpointError: the run folder cannot be loaded.
    """
    from ..images import check_writable, make_grid, on_checkerboard, save_image
    from . import GAN

    check_writable(args.output, overwrite=args.overwrite)
    if args.separate:  # every output checked before any is written
        for i in range(max(args.n, 0)):
            check_writable(Path(args.separate) / f"{args.seed + i:06d}.png", overwrite=args.overwrite)
    gan = GAN.load(args.checkpoint, device=args.device, which=args.which)
    class_ = _class_arg(args.class_)
    images = gan.generate(args.n, seed=args.seed, class_=class_, truncation=args.truncation)
    labels = gan.labels(args.n, class_)
    settings = {"head": "gan", "checkpoint": str(args.checkpoint), "truncation": args.truncation}
    if args.separate:
        folder = Path(args.separate)
        for i, img in enumerate(images):
            meta = dict(settings, seed=args.seed + i)
            if labels is not None:
                meta["class"] = gan.classes[int(labels[i])]
            save_image(img, folder / f"{args.seed + i:06d}.png", metadata=meta, overwrite=args.overwrite)
    meta = dict(settings, seed=args.seed, seeds=f"{args.seed}..{args.seed + args.n - 1}", n=args.n)
    if class_ is not None:
        meta["class"] = class_
    save_image(
        make_grid(on_checkerboard(images)), args.output, metadata=meta, overwrite=args.overwrite
    )  # RGBA: shown on a checkerboard
    extra = f" and {args.n} images in '{args.separate}'" if args.separate else ""
    print(f"wrote '{args.output}'{extra}")
    return 0


def run_interpolate(args) -> int:
    """``artgen gan interpolate``: a looping GIF of a latent walk (:meth:`GAN.interpolate`); returns 0.

    Raises:
        UsageError: the output exists without ``--overwrite``; ``--fps`` not positive; ``--frames``/``--keyframes``
            below 2.
        CheckpointError: the run folder cannot be loaded.
    """
    from ..images import check_writable, on_checkerboard, save_gif
    from . import GAN

    check_writable(args.output, overwrite=args.overwrite)
    if not args.fps > 0:
        from ..errors import UsageError

        raise UsageError(f"--fps must be a positive number, got {args.fps}")
    gan = GAN.load(args.checkpoint, device=args.device, which=args.which)
    frames = gan.interpolate(
        args.frames,
        seed=args.seed,
        keyframes=args.keyframes,
        class_=_class_arg(args.class_),
        truncation=args.truncation,
    )
    meta = {
        "head": "gan",
        "checkpoint": str(args.checkpoint),
        "seed": args.seed,
        "frames": args.frames,
        "keyframes": args.keyframes,
    }
    save_gif(on_checkerboard(frames), args.output, fps=args.fps, overwrite=args.overwrite, metadata=meta)
    print(f"wrote '{args.output}' ({args.frames} frames)")
    return 0


def run_eval(args) -> int:
    """``artgen gan eval``: FID/KID (or the fallback distances), precision/recall, memorisation; prints them (or JSON);
    returns 0.

    The real images default to the run's own data (as stored in its config), at most ``--max-real``.

    Raises:
        UsageError: Inception weights not available offline; a classifier that does not fit.
        CheckpointError: the run or classifier folder cannot be loaded.
    """
    from ..runs.folder import RunDir
    from . import GAN, evaluate_gan, load_gan_data

    gan = GAN.load(args.checkpoint, device=args.device, which=args.which)
    saved = RunDir(args.checkpoint).load_config().get("train", {})
    data, dataset = args.data, args.dataset
    if data is None and dataset is None:
        data, dataset = saved.get("data"), saved.get("dataset")  # a run stores one of the two
    gd = load_gan_data(
        data=data,
        dataset=dataset,
        data_root=args.data_root or saved.get("data_root"),
        size=gan.config.size,
        channels=gan.config.channels,
        labelled=gan.config.conditional,
        limit=args.max_real,
    )
    real = gd.images
    classifier = None
    if args.classifier:
        from ..classifier import Classifier

        classifier = Classifier.load(args.classifier, device=args.device)
    sheet = args.nearest_sheet or Path(args.checkpoint) / "nearest.png"
    out = evaluate_gan(
        gan,
        real,
        num_samples=args.num_samples,
        features=args.features,
        inception_weights=args.inception_weights,
        seed=args.seed,
        classifier=classifier,
        device=gan.device,
        real_labels=gd.labels,
        nearest_sheet=sheet,
    )
    if args.json:
        print(json.dumps(out))
        return 0
    counts = f"{out['real_images']} real vs {out['generated_images']} generated, KID subsets of {out['subset_size']}"
    if "fid" in out:
        print(f"FID {out['fid']:.2f}  KID {out['kid']:.5f} ± {out['kid_std']:.5f}  (TF-Inception features, {counts})")
    else:
        print(
            f"fallback distances (random-CNN features, NOT FID/KID; comparable only with other fallback values): "
            f"FD {out['fallback_fd']:.3f}  KD {out['fallback_kd']:.5f} ± {out['fallback_kd_std']:.5f}  ({counts})"
        )
    if "recall" in out:
        print(
            f"precision {out['precision']:.3f} (fidelity)  recall {out['recall']:.3f} (diversity; near 0 = collapse)  "
            f"({out['features']} features, k=3)"
        )
    else:
        print(f"diversity: not measured: {out['diversity_note']}")
    if "colour_spread" in out:
        print(
            f"colour spread {out['colour_spread']:.3f} (real images: {out['real_colour_spread']:.3f}; "
            "well below = one palette for every sample)"
        )
    if "class_spread" in out:
        print(
            f"within-class pixel spread {out['class_spread']:.3f} (real images: {out['real_class_spread']:.3f}; "
            "near 0 = every sample of a class the same)"
        )
    if "memorisation_ratio" in out:
        print(
            f"memorisation: median distance sample -> nearest training image {out['nn_distance_median']:.3f}, "
            f"training image -> nearest other {out['real_nn_distance_median']:.3f} "
            f"(ratio {out['memorisation_ratio']:.2f}; well below 1 = copies); sheet '{out['nearest_sheet']}'"
        )
    if "class_accuracy" in out:
        print(f"the classifier recognises the requested class in {100 * out['class_accuracy']:.1f}% of samples")
    return 0
