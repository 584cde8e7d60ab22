"""Training a classifier into a run folder (:func:`train_classifier`): new runs, resume and fine-tuning, with ``metrics.json``."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ArgumentError, UsageError
from ..runs.atomic import write_json_atomic
from ..runs.folder import RunDir
from ..runs.setup import report_resume_changes, start_run
from ..train import Callback
from .config import MODEL_FIELDS, ClassifierTrainConfig, read_config
from .networks import ClassifierConfig
from .pipeline import Classifier, check_weights_fit, init_from

log = logging.getLogger("artgen.classify")


def train_classifier(
    config: ClassifierTrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device = "auto",
    download: bool = False,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    **overrides,
) -> Classifier:
    """Train the dense classifier (the library form of ``artgen classify train``); returns the :class:`Classifier`.

    ``config`` holds the training settings (default :class:`ClassifierTrainConfig`'s); ``overrides``
    are its fields (``epochs=3, dataset="mnist", ...``) or the model's ``hidden``, ``activation``
    and ``init`` (:class:`ClassifierConfig`). With ``out`` the run folder gets ``config.json``,
    ``model.safetensors``, ``training_state.pt`` (for ``resume=True``), ``curves.png`` and
    ``metrics.json`` (the history and the test score, also kept as ``.metrics`` on the result).
    ``resume=True`` continues with the saved settings (``data``/``data_root`` may give the images'
    new place; other settings given and different from the saved ones are named in a warning).
    ``download`` fetches MNIST / Fashion-MNIST when missing.

    Raises:
        UsageError, ArgumentError: a bad setting (named), ``resume`` with ``init_from``, a run folder
            in use or holding a run; all checked before the run folder is touched.
        CheckpointError: an unreadable run, or a dataset that cannot be read.
    """
    from ..data import load_dataset_splits

    model_over = {k: overrides.pop(k) for k in list(overrides) if k in MODEL_FIELDS}
    unknown = set(overrides) - ClassifierTrainConfig.field_names()
    if unknown:
        raise UsageError(
            f"unknown classifier option(s): {', '.join(sorted(unknown))}; see artgen.classifier.ClassifierTrainConfig"
        )
    given = dict(overrides, **model_over)
    tc = dataclasses.replace(config, **overrides) if config is not None else ClassifierTrainConfig(**overrides)
    if resume and tc.init_from:
        raise UsageError("{arg:resume} and {arg:init_from} cannot be combined")
    model_defaults = ClassifierConfig()
    try:
        layers = {k: model_over.get(k, getattr(model_defaults, k)) for k in MODEL_FIELDS}
        ClassifierConfig(**layers)
    except ValueError as exc:
        name = next((k for k in MODEL_FIELDS if str(exc).startswith(k)), "hidden")
        raise ArgumentError(name, str(exc).removeprefix(name).strip()) from None
    if tc.data and not Path(tc.data).expanduser().is_dir():
        raise ArgumentError("data", f"'{tc.data}' {'is not a folder' if Path(tc.data).exists() else 'does not exist'}")

    def check(dev) -> None:  # before the run folder is touched
        if tc.init_from:
            read_config(RunDir(tc.init_from), what="{arg:init_from}")

    setup = start_run(
        out,
        resume=resume,
        overwrite=overwrite,
        device=device,
        precision=tc.precision,
        seed=tc.seed,
        check=check,
        read_config=lambda run: read_config(run, what="--resume"),
        inputs={"data": tc.data, "data_root": tc.data_root},
    )
    run = setup.run_dir
    if resume:
        saved = run.load_settings(ClassifierTrainConfig, "train", setup.saved)
        model_cfg = run.load_settings(ClassifierConfig, "model", setup.saved)
        check_weights_fit(run, model_cfg)  # before anything is built from the folder's config
        moved = {k: getattr(tc, k) for k in ("data", "data_root") if k in given and getattr(tc, k)}
        report_resume_changes(
            {k: v for k, v in given.items() if k not in moved},
            dict(saved.to_dict(), precision=setup.precision.name, **{k: getattr(model_cfg, k) for k in MODEL_FIELDS}),
        )
        tc = dataclasses.replace(saved, **moved)
    (x, y), (x_test, y_test), classes = load_dataset_splits(
        tc.dataset,
        root=_absolute(tc.data_root),
        data=_absolute(tc.data),
        size=tc.size,
        channels=tc.channels,
        download=download,
    )
    if tc.limit:
        x, y = x[: tc.limit], y[: tc.limit]
    if len(x_test) == 0:
        log.warning(
            "the test split is empty (too few pictures per class to hold one out): training without a test score"
        )
    if not resume:
        model_cfg = ClassifierConfig(
            in_channels=x.shape[1], image_size=x.shape[-1], num_classes=len(classes), classes=list(classes), **layers
        )
    seed = setup.seed if setup.seed is not None else tc.seed
    clf = Classifier(model_cfg, device=setup.device, seed=seed)
    if tc.init_from:
        init_from(clf, tc.init_from)
    clf.compile(tc.optimizer, loss=tc.loss, metrics=tc.metrics, lr=tc.lr, epsilon=tc.epsilon)
    extra = dict(
        tc.to_dict(),
        data=_absolute(tc.data),
        data_root=_absolute(tc.data_root),
        init_from=_absolute(tc.init_from),
        precision=setup.precision.name,
    )
    history = clf.fit(
        x,
        y,
        epochs=tc.epochs,
        batch_size=tc.batch_size,
        validation_data=(x_test, y_test) if len(x_test) else None,
        checkpoint_every=tc.checkpoint_every,
        resume=resume,
        progress=progress,
        callbacks=callbacks,
        seed=seed,
        extra_config=extra,
        setup=setup,
    )
    metrics = {"history": history.history, "epochs": history.epoch, "train_images": len(x), "test_images": len(x_test)}
    result = clf.evaluate(x_test, y_test) if len(x_test) and setup.is_main else {}
    metrics.update(test_accuracy=result.get("accuracy"), test_loss=result.get("loss"))
    clf.metrics = metrics
    if run is not None and setup.is_main:
        write_json_atomic(run / "metrics.json", metrics)
    return clf


def _absolute(path) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None
