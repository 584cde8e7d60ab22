"""``artgen classify train|eval|predict``: the founding document's dense classifier."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data import DATASETS


def add_parser(sub, name: str) -> None:
    """Register ``artgen classify train|eval|predict`` and their flags on the sub-parsers ``sub`` under ``name``."""
    from ..flags import add_common, add_field, add_run_flags, remember_defaults
    from .config import OPTIMIZERS, ClassifierTrainConfig
    from .networks import ACTIVATIONS, INITS, ClassifierConfig

    M, T = ClassifierConfig(), ClassifierTrainConfig()  # every default below is the dataclasses'
    parser = sub.add_parser(
        name,
        help="train, evaluate and use the dense classifier (Flatten -> Dense(128) -> Dense(10))",
        description="The founding document's dense classifier.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    train = actions.add_parser("train", help="train a classifier into a run folder")
    _data_flags(train)
    add_field(train, T, "epochs", "passes over the training set")
    add_field(train, T, "batch_size", "images per step")
    add_field(train, T, "lr", "learning rate", shown="1e-3 for adam, 1e-2 for sgd")
    add_field(train, T, "optimizer", "adam, or plain sgd (w <- w - lr * dL/dw)", choices=list(OPTIMIZERS))
    add_field(train, M, "hidden", "width of the hidden Dense layer")
    add_field(train, M, "activation", "hidden activation", choices=list(ACTIVATIONS))
    add_field(
        train,
        M,
        "init",
        "initial weights: keras (Glorot-uniform, zero biases, as the founding document's Dense) or pytorch "
        "(nn.Linear's default)",
        choices=list(INITS),
    )
    add_field(
        train,
        T,
        "epsilon",
        "Adam's epsilon (default: {default} as in Keras; PyTorch's is 1e-8)",
        flag="--adam-epsilon",
        metavar="EPS",
    )
    train.add_argument(
        "--out", required=True, help="run folder to write (config.json, model.safetensors, metrics.json, curves.png)"
    )
    train.add_argument(
        "--init-from", metavar="RUN", help="start from an earlier classifier run's weights (fine-tuning)"
    )
    add_run_flags(train, checkpoint_every=T.checkpoint_every)
    add_common(train, precision_default=T.precision, seed_default=T.seed)
    train.set_defaults(func=run_train, argument_flags={"epsilon": "adam_epsilon"})
    remember_defaults(train)  # --resume compares only the flags typed with the saved settings

    ev = actions.add_parser("eval", help="accuracy and loss of a trained run on a dataset's test split")
    ev.add_argument("--checkpoint", required=True, metavar="RUN", help="a classifier run folder")
    _data_flags(ev)
    ev.add_argument("--json", action="store_true", help="print JSON")
    add_common(ev, precision=False)
    ev.set_defaults(func=run_eval)

    pr = actions.add_parser("predict", help="class and probability for image files")
    pr.add_argument("--checkpoint", required=True, metavar="RUN", help="a classifier run folder")
    pr.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    pr.add_argument("--json", action="store_true", help="print JSON")
    add_common(pr, precision=False)
    pr.set_defaults(func=run_predict)
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])


def _data_flags(parser: argparse.ArgumentParser) -> None:
    from ..flags import add_field
    from .config import ClassifierTrainConfig

    T = ClassifierTrainConfig()
    add_field(
        parser,
        T,
        "dataset",
        "shapes (built in, offline), mnist, fashion-mnist, or folder (one subfolder per class) "
        "(default: {default}; folder with --data)",
        default=None,
        choices=DATASETS,
    )
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="folder holding MNIST files (torchvision layout); default $ARTGEN_DATA or ~/.cache/artgen/data",
    )
    parser.add_argument("--data", metavar="DIR", help="labelled image folder for --dataset folder")
    parser.add_argument(
        "--download", action="store_true", help="download MNIST / Fashion-MNIST if missing (needs network)"
    )
    add_field(parser, T, "size", "image side for --dataset folder", default=None)
    add_field(parser, T, "channels", "1 (grey) or 3 (RGB) for --dataset folder", default=None, choices=[1, 3])
    add_field(parser, T, "limit", "use only the first N training images (quick runs)", metavar="N")


#: ``artgen classify train``'s flags that are :func:`train_classifier` settings: {setting: flag dest}.
TRAIN_SETTINGS = {
    "dataset": "dataset",
    "data": "data",
    "data_root": "data_root",
    "size": "size",
    "channels": "channels",
    "limit": "limit",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "optimizer": "optimizer",
    "lr": "lr",
    "epsilon": "adam_epsilon",
    "checkpoint_every": "checkpoint_every",
    "seed": "seed",
    "precision": "precision",
    "init_from": "init_from",
    "hidden": "hidden",
    "activation": "activation",
    "init": "init",
}


def train_settings(args) -> dict:
    """The :func:`train_classifier` settings of the parsed ``classify train`` flags; on ``--resume`` only those typed.

    Flags left at None (``--size``, ``--channels``, ``--dataset``) take the dataclass's default.
    """
    from ..flags import typed_flags

    typed = typed_flags(args) if args.resume else None
    return {
        name: getattr(args, dest)
        for name, dest in TRAIN_SETTINGS.items()
        if getattr(args, dest) is not None and (typed is None or dest in typed)
    }


def _data_settings(args, saved: dict | None = None) -> dict:
    """Dataset name, folder or root, size and channels, from flags or the saved run settings."""
    from .config import ClassifierTrainConfig

    saved = saved or {}
    given = {k: getattr(args, k, None) for k in ("dataset", "data", "data_root", "size", "channels")}
    values = {k: v if v is not None else saved.get(k) for k, v in given.items()}
    if given["data"] and not given["dataset"]:
        values["dataset"] = None  # a folder given for eval: the folder dataset
    tc = ClassifierTrainConfig(**{k: v for k, v in values.items() if v is not None})
    return {
        "dataset": tc.dataset,
        "data": str(Path(tc.data).expanduser().resolve()) if tc.data else None,
        "data_root": str(Path(tc.data_root).expanduser().resolve()) if tc.data_root else None,
        "size": tc.size,
        "channels": tc.channels,
    }


def _load_kwargs(settings: dict, args) -> dict:
    return dict(
        root=settings["data_root"],
        data=settings["data"],
        size=settings["size"],
        channels=settings["channels"],
        download=getattr(args, "download", False),
    )


def run_train(args) -> int:
    """``artgen classify train``: train (or resume, or fine-tune) into ``--out`` (:func:`train_classifier`); returns 0.

    Raises:
        UsageError: a bad flag value, a missing ``--data`` folder, ``--resume`` with
            ``--init-from``, a run folder in use or holding a run (exit 2).
        CheckpointError, ArtgenError: an unreadable run or dataset (exit 1).
    """
    from .. import distributed
    from . import train_classifier

    clf = train_classifier(
        out=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        device=args.device,
        download=args.download,
        progress=False if args.quiet else None,
        **train_settings(args),
    )
    if not distributed.is_main():
        return 0
    m = clf.metrics
    if m["test_accuracy"] is not None:
        print(
            f"test accuracy {m['test_accuracy']:.4f}, test loss {m['test_loss']:.4f} on {m['test_images']} images; "
            f"run saved in '{args.out}'"
        )
    else:
        print(f"no test images, so no test score; run saved in '{args.out}'")
    return 0


def _load_classifier(args):
    from . import Classifier

    return Classifier.load(args.checkpoint, device=args.device)


def run_eval(args) -> int:
    """``artgen classify eval``: accuracy and loss of ``--checkpoint`` on the test split; prints them (JSON with
    ``--json``); returns 0.

    Raises:
        UsageError: no test images, or images of another shape than the model's input.
        CheckpointError: the run folder cannot be loaded.
    """
    from ..data import load_dataset
    from ..errors import UsageError
    from ..runs.folder import RunDir

    clf = _load_classifier(args)
    saved = RunDir(args.checkpoint).load_config().get("train", {})
    settings = _data_settings(args, saved)
    x, y, classes = load_dataset(
        settings["dataset"], train=False, classes=clf.config.classes, **_load_kwargs(settings, args)
    )
    if len(x) == 0:
        raise UsageError(f"no test images in {settings['data'] or settings['dataset']!r} to evaluate on")
    expected = (clf.config.in_channels, clf.config.image_size, clf.config.image_size)
    if tuple(x.shape[1:]) != expected:
        raise UsageError(f"dataset images are {tuple(x.shape[1:])} but the model expects {expected}")
    result = clf.evaluate(x, y)
    out = {
        "test_accuracy": result["accuracy"],
        "test_loss": result["loss"],
        "images": len(x),
        "dataset": settings["dataset"],
    }
    if args.json:
        print(json.dumps(out))
    else:
        accuracy, loss = out["test_accuracy"], out["test_loss"]
        print(f"{settings['dataset']}: accuracy {accuracy:.4f}, loss {loss:.4f} on {len(x)} images")
    return 0


def run_predict(args) -> int:
    """Each file gets its line: the class and probability, or (on stderr) why it could not be read; exit 1 if any
    failed.

    Raises:
        UsageError: none of the images exists.
        CheckpointError: the run folder cannot be loaded.
    """
    from ..data import square_image
    from ..errors import ArtgenError, UsageError

    missing = [image for image in args.images if not Path(image).exists()]
    if len(missing) == len(args.images):
        raise UsageError("; ".join(f"image '{image}' does not exist" for image in missing))
    clf = _load_classifier(args)
    c = clf.config
    rows, failed = [], []
    for image in args.images:
        path = Path(image)
        try:
            if not path.exists():
                raise ArtgenError(f"'{image}' does not exist")
            if path.is_dir():
                raise ArtgenError(f"'{image}' is a folder, not an image")
            x = square_image(
                path, size=c.image_size, channels=c.in_channels
            )  # as in training: shorter side resized, centre crop
        except ArtgenError as exc:
            failed.append({"image": str(image), "error": str(exc)})
            print(f"artgen: error: {exc}", file=sys.stderr)
            continue
        ((name, prob),) = clf.predict_classes(x[None])
        rows.append({"image": str(image), "class": name, "probability": prob})
        if not args.json:
            print(f"{image}: {name} ({prob:.3f})", flush=True)
    if args.json:
        print(json.dumps(rows + failed))
    if failed:
        print(f"artgen: error: {len(failed)} of {len(args.images)} image(s) could not be read", file=sys.stderr)
        return 1
    return 0
