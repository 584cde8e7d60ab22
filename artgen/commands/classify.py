"""``artgen classify train|eval|predict``: the founding document's dense classifier."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data import DATASETS

#: Adam's epsilon for a resumed run whose config stores none: PyTorch's default.
TORCH_ADAM_EPSILON = 1e-8


def add_parser(sub, name: str) -> None:
    """Register ``artgen classify train|eval|predict`` and their flags on the sub-parsers ``sub`` under ``name``."""
    from ..cli import add_common

    parser = sub.add_parser(
        name,
        help="train, evaluate and use the dense classifier (Flatten -> Dense(128) -> Dense(10))",
        description="The founding document's dense classifier.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    train = actions.add_parser("train", help="train a classifier into a run folder")
    _data_flags(train, required=False)
    train.add_argument("--epochs", type=int, default=10, help="passes over the training set (default: 10)")
    train.add_argument("--batch-size", type=int, default=32, help="images per step (default: 32)")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-3 for adam, 1e-2 for sgd)")
    train.add_argument(
        "--optimizer",
        choices=["adam", "sgd"],
        default="adam",
        help="adam, or plain sgd (w <- w - lr * dL/dw) (default: adam)",
    )
    train.add_argument("--hidden", type=int, default=128, help="width of the hidden Dense layer (default: 128)")
    train.add_argument(
        "--activation", choices=["relu", "sigmoid", "tanh"], default="relu", help="hidden activation (default: relu)"
    )
    train.add_argument(
        "--init",
        choices=["keras", "pytorch"],
        default="keras",
        help="initial weights: keras (Glorot-uniform, zero biases, as the founding document's Dense) or pytorch (nn.Linear's default) (default: keras)",
    )
    train.add_argument(
        "--adam-epsilon",
        type=float,
        default=1e-7,
        metavar="EPS",
        help="Adam's epsilon (default: 1e-7 as in Keras; PyTorch's is 1e-8)",
    )
    train.add_argument(
        "--out", required=True, help="run folder to write (config.json, model.safetensors, metrics.json, curves.png)"
    )
    train.add_argument(
        "--init-from", metavar="RUN", help="start from an earlier classifier run's weights (fine-tuning)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in --out exactly where it stopped"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=1000,
        metavar="N",
        help="save a resumable checkpoint every N steps (default: 1000)",
    )
    add_common(train)
    train.set_defaults(func=run_train)
    from ..cli import remember_defaults  # --resume compares only the flags typed with the saved settings

    remember_defaults(train)

    ev = actions.add_parser("eval", help="accuracy and loss of a trained run on a dataset's test split")
    ev.add_argument("--checkpoint", required=True, metavar="RUN", help="a classifier run folder")
    _data_flags(ev, required=False)
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


def _data_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="shapes (built in, offline), mnist, fashion-mnist, or folder (one subfolder per class) (default: shapes)",
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
    parser.add_argument("--size", type=int, default=None, help="image side for --dataset folder (default: 28)")
    parser.add_argument(
        "--channels",
        type=int,
        choices=[1, 3],
        default=None,
        help="1 (grey) or 3 (RGB) for --dataset folder (default: 1)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="use only the first N training images (quick runs)"
    )


def _data_settings(args, saved: dict | None = None) -> dict:
    """Dataset name, folder or root, size and channels, from flags or the saved run settings."""
    from ..errors import UsageError

    saved = saved or {}
    name = args.dataset or saved.get("dataset") or ("folder" if getattr(args, "data", None) else "shapes")
    data_dir = getattr(args, "data", None) or saved.get("data")
    root = getattr(args, "data_root", None) or saved.get("data_root")
    if name == "folder" and not data_dir:
        raise UsageError("--dataset folder needs --data DIR (one subfolder per class)")
    if name != "folder" and data_dir:
        raise UsageError(f"--data is for --dataset folder; for {name} use --data-root")
    return {
        "dataset": name,
        "data": str(Path(data_dir).expanduser().resolve()) if data_dir else None,
        "data_root": str(Path(root).expanduser().resolve()) if root else None,
        "size": getattr(args, "size", None) or saved.get("size") or 28,
        "channels": getattr(args, "channels", None) or saved.get("channels") or 1,
    }


def _load_kwargs(settings: dict, args) -> dict:
    return dict(
        root=settings["data_root"],
        data=settings["data"],
        size=settings["size"],
        channels=settings["channels"],
        download=getattr(args, "download", False),
    )


def _check_values(args) -> None:
    """Every number checked before any data is read or the run folder touched."""
    from ..errors import UsageError
    from ..models.classifier import MAX_HIDDEN, MAX_IMAGE_SIZE

    checks = [
        ("--epochs", "epochs", 1, None),
        ("--batch-size", "batch_size", 1, None),
        ("--hidden", "hidden", 1, MAX_HIDDEN),
        ("--limit", "limit", 1, None),
        ("--size", "size", 1, MAX_IMAGE_SIZE),
        ("--checkpoint-every", "checkpoint_every", 1, None),
    ]
    for flag, dest, low, high in checks:
        value = getattr(args, dest, None)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise UsageError(f"{flag} must be {bound}, got {value}")
    for flag, dest in (("--lr", "lr"), ("--adam-epsilon", "adam_epsilon")):
        value = getattr(args, dest, None)
        if value is not None and not (value > 0 and value < float("inf")):
            raise UsageError(f"{flag} must be a positive number, got {value}")
    data = getattr(args, "data", None)
    if data and not Path(data).expanduser().is_dir():
        raise UsageError(
            f"--data '{data}' {'is not a folder' if Path(data).expanduser().exists() else 'does not exist'}"
        )


def run_train(args) -> int:
    """``artgen classify train``: train (or resume, or fine-tune) into ``--out``; writes ``metrics.json``; returns 0.

    Raises:
        UsageError: a bad flag value, a missing ``--data`` folder, ``--resume`` with
            ``--init-from``, a run folder in use or holding a run (exit 2).
        CheckpointError, ArtgenError: an unreadable run or dataset (exit 1).
    """
    import logging

    from .. import distributed
    from ..checkpoint import RunDir
    from ..cli import typed_flags
    from ..data import load_dataset_splits
    from ..errors import UsageError
    from ..fileio import write_json_atomic
    from ..heads.classify import Classifier, check_weights_fit, init_from
    from ..models.classifier import ClassifierConfig
    from ..runs import report_resume_changes, start_run

    _check_values(args)
    if args.resume and args.init_from:
        raise UsageError("--resume and --init-from cannot be combined")

    def check(device) -> None:  # before the run folder is touched
        if args.init_from:
            RunDir(args.init_from).load_head_config("classifier", "classifier", what="--init-from")

    setup = start_run(
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        device=args.device,
        precision=args.precision,
        check=check,
        read_config=lambda run: run.load_head_config("classifier", "classifier", what="--resume"),
        inputs={"data": getattr(args, "data", None), "data_root": getattr(args, "data_root", None)},
    )
    device, run = setup.device, setup.run_dir
    saved = {}
    if args.resume:
        cfg = setup.saved
        saved = cfg.get("train", {})
        config = run.load_settings(ClassifierConfig, "model", cfg)
        check_weights_fit(run, config)  # before anything is built from the folder's config
    settings = _data_settings(args, saved)
    (x, y), (x_test, y_test), classes = load_dataset_splits(settings["dataset"], **_load_kwargs(settings, args))
    limit = saved.get("limit") if args.resume else args.limit
    if limit:
        x, y = x[:limit], y[:limit]
    if len(x_test) == 0:
        logging.getLogger("artgen.classify").warning(
            "the test split is empty (too few pictures per class to hold one out): training without a test score"
        )
    if not args.resume:
        config = ClassifierConfig(
            in_channels=x.shape[1],
            image_size=x.shape[-1],
            hidden=args.hidden,
            num_classes=len(classes),
            activation=args.activation,
            classes=list(classes),
            init=args.init,
        )
    seed = saved.get("seed", args.seed) if args.resume else args.seed
    clf = Classifier(config, device=device, seed=seed)
    if args.init_from:
        init_from(clf, args.init_from)
    optimizer = saved.get("optimizer", args.optimizer) if args.resume else args.optimizer
    lr = saved.get("lr", args.lr) if args.resume else args.lr
    epsilon = saved.get("epsilon", TORCH_ADAM_EPSILON) if args.resume else args.adam_epsilon
    epochs = saved.get("epochs", args.epochs) if args.resume else args.epochs
    batch_size = saved.get("batch_size", args.batch_size) if args.resume else args.batch_size
    if args.resume:  # the flags typed that differ from the saved settings are reported; the saved ones are used
        typed = typed_flags(args)
        used = dict(
            optimizer=optimizer,
            lr=lr,
            adam_epsilon=epsilon,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            limit=limit,
            precision=setup.precision.name,
            hidden=config.hidden,
            activation=config.activation,
            init=config.init,
        )
        report_resume_changes({dest: getattr(args, dest) for dest in used if dest in typed}, used)
    clf.compile(optimizer, loss="cross_entropy", metrics=["accuracy"], lr=lr, epsilon=epsilon)
    extra = dict(
        settings,
        limit=limit,
        init_from=str(Path(args.init_from).resolve()) if args.init_from else saved.get("init_from"),
        precision=setup.precision.name,
    )
    history = clf.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(x_test, y_test) if len(x_test) else None,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        progress=False if args.quiet else None,
        seed=seed,
        extra_config=extra,
        setup=setup,
    )
    if not distributed.is_main():
        return 0
    metrics = {"history": history.history, "epochs": history.epoch, "train_images": len(x), "test_images": len(x_test)}
    if len(x_test):
        result = clf.evaluate(x_test, y_test)
        metrics.update(test_accuracy=result["accuracy"], test_loss=result["loss"])
        print(
            f"test accuracy {result['accuracy']:.4f}, test loss {result['loss']:.4f} on {len(x_test)} images; run saved in '{run.path}'"
        )
    else:
        metrics.update(test_accuracy=None, test_loss=None)
        print(f"no test images, so no test score; run saved in '{run.path}'")
    write_json_atomic(run / "metrics.json", metrics)
    return 0


def _load_classifier(args):
    from ..heads.classify import Classifier

    return Classifier.load(args.checkpoint, device=args.device)


def run_eval(args) -> int:
    """``artgen classify eval``: accuracy and loss of ``--checkpoint`` on the test split; prints them (JSON with ``--json``); returns 0.

    Raises:
        UsageError: no test images, or images of another shape than the model's input.
        CheckpointError: the run folder cannot be loaded.
    """
    from ..checkpoint import RunDir
    from ..data import load_dataset
    from ..errors import UsageError

    clf = _load_classifier(args)
    saved = RunDir(args.checkpoint).load_config().get("train", {})
    settings = _data_settings(args, saved)
    x, y, classes = load_dataset(
        settings["dataset"], train=False, classes=clf.config.classes, **_load_kwargs(settings, args)
    )
    if len(x) == 0:
        raise UsageError(f"no test images in {settings['data'] or settings['dataset']!r} to evaluate on")
    if tuple(x.shape[1:]) != (clf.config.in_channels, clf.config.image_size, clf.config.image_size):
        raise UsageError(
            f"dataset images are {tuple(x.shape[1:])} but the model expects ({clf.config.in_channels}, {clf.config.image_size}, {clf.config.image_size})"
        )
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
        print(
            f"{settings['dataset']}: accuracy {out['test_accuracy']:.4f}, loss {out['test_loss']:.4f} on {len(x)} images"
        )
    return 0


def run_predict(args) -> int:
    """Each file gets its line: the class and probability, or (on stderr) why it could not be read; exit 1 if any failed.

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
