"""The classifier's Keras-like user class (:class:`Classifier`): compile, fit, evaluate, predict, save and load."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from .. import losses
from ..device import resolve_device, seed_everything
from ..errors import ArgumentError, UsageError
from ..optim import make_optimizer
from ..runs.folder import RunDir
from ..runs.setup import RunSetup, from_pretrained, save_pretrained
from ..runs.weights import check_config_fits_weights, load_state_into, split_prefix
from ..train import Callback, CurvePlot, History, TensorBatches, Trainer
from ._task import ClassifyTask, loss_on_logits
from .config import CONFIG_VERSION, HEAD, KERAS_ADAM_EPSILON, TORCH_ADAM_EPSILON, read_config
from .networks import ClassifierConfig, DenseClassifier

log = logging.getLogger("artgen.classify")


def as_images(x, config: ClassifierConfig | None = None) -> torch.Tensor:
    """Accept ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` arrays/tensors, uint8 or float, as float (N, C, H, W) in [0, 1]."""
    t = torch.as_tensor(x)
    if t.dim() == 2 and config is not None and t.shape[1] == config.in_channels * config.image_size**2:
        t = t.reshape(-1, config.in_channels, config.image_size, config.image_size)
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() == 4 and t.shape[1] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    if t.dim() != 4:
        raise UsageError(f"expected images shaped (N, H, W) or (N, C, H, W), got {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    else:
        t = t.float()
    return t


class Classifier:
    """The founding document's model with a Keras feel: ``compile``, ``fit``, ``evaluate``, ``predict``.

    ``Classifier()`` builds Flatten -> Dense(128, ReLU) -> Dense(10) with Keras'
    initialisation (Glorot-uniform weights, zero biases; ``init="pytorch"`` for
    nn.Linear's), and ``compile()`` uses Adam with Keras' epsilon 1e-7; keyword
    arguments change the input size, channels, hidden width, activation or init.
    """

    def __init__(
        self,
        config: ClassifierConfig | None = None,
        *,
        device: str | torch.device = "auto",
        seed: int | None = 0,
        **config_kwargs,
    ):
        if config is None:
            config = ClassifierConfig(**config_kwargs)
        elif config_kwargs:
            raise TypeError("pass either a ClassifierConfig or keyword arguments, not both")
        self.config = config
        self.device = resolve_device(device)
        if seed is not None:
            seed_everything(seed)
        self.seed = 0 if seed is None else seed
        self.model = DenseClassifier(config).to(self.device)
        self.optimizer: torch.optim.Optimizer | None = None
        self.loss_name = "cross_entropy"
        self.loss_fn = None
        self.metrics: tuple[str, ...] = ()
        self.optimizer_name = "adam"
        self.lr: float | None = None
        self.epsilon = KERAS_ADAM_EPSILON
        self.history: History | None = None

    def __repr__(self) -> str:
        return f"Classifier({self.config}, device={self.device})\n{self.model}"

    # -- Keras-style API ---------------------------------------------------------------
    def compile(
        self,
        optimizer: str | torch.optim.Optimizer = "adam",
        loss="cross_entropy",
        metrics: Sequence[str] = ("accuracy",),
        *,
        lr: float | None = None,
        epsilon: float = KERAS_ADAM_EPSILON,
    ) -> Classifier:
        """Choose the optimizer (``"adam"``, ``"sgd"`` or an optimizer instance), the loss and metrics.

        ``epsilon`` is Adam's denominator term; the default 1e-7 is Keras' (the founding
        document's), PyTorch's own default is 1e-8.

        Raises:
            UsageError: an unknown optimizer or metric, or ``epsilon`` not positive.
        """
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
            self.optimizer_name = type(optimizer).__name__.lower()
        else:
            if not (isinstance(epsilon, (int, float)) and epsilon > 0):
                raise ArgumentError("epsilon", f"must be a positive number, got {epsilon!r}")
            self.optimizer_name = str(optimizer).lower()
            self.lr = lr
            self.epsilon = float(epsilon)
            extra = {"eps": self.epsilon} if self.optimizer_name == "adam" else {}
            self.optimizer = make_optimizer(self.optimizer_name, self.model.parameters(), lr, **extra)
        unknown = [m for m in metrics if m != "accuracy"]
        if unknown:
            raise UsageError(f"unknown metric(s) {unknown}; supported: accuracy")
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        self.loss_fn = loss_on_logits(loss)
        self.metrics = tuple(metrics)
        return self

    def fit(
        self,
        x,
        y=None,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        validation_data=None,
        shuffle: bool = True,
        run_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        overwrite: bool = False,
        precision: str = "fp32",
        callbacks: Sequence[Callback] = (),
        progress: bool | None = None,
        seed: int | None = None,
        extra_config: Mapping | None = None,
        setup: RunSetup | None = None,
    ) -> History:
        """Train for ``epochs`` at ``batch_size``; returns a :class:`History` (``history["loss"]`` per epoch).

        ``x`` is an image array/tensor with labels ``y``, or a ``(x, y)`` tuple.
        With ``run_dir`` the run is checkpointed there and can be resumed (``resume=True``); the
        folder is prepared and locked as the command line does (:meth:`RunDir.prepare`): a folder
        that already holds a run is refused unless ``resume`` or ``overwrite`` is given, and with
        ``overwrite`` the old run's files go only once the new run's first checkpoint exists.

        Raises:
            ArgumentError: ``epochs`` or ``batch_size`` is not a whole number of at least 1.
            UsageError: ``run_dir`` is in use by another training, holds a run without
                ``resume``/``overwrite``, or has nothing to resume.
        """
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(name, f"must be a whole number of at least 1, got {value!r}")
        if self.optimizer is None:
            self.compile()
        x_t, y_t = self._xy(x, y)
        data = TensorBatches(
            x_t,
            y_t,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=self.seed if seed is None else seed,
            device=self.device,
        )
        validate = None
        if validation_data is not None:
            vx, vy = (
                self._xy(*validation_data)
                if isinstance(validation_data, (tuple, list))
                else self._xy(validation_data, None)
            )
            if len(vx) == 0:
                log.warning("the validation data is empty: training without validation")
                validation_data = None
        if validation_data is not None:

            def validate(trainer):
                result = self.evaluate(vx, vy, batch_size=max(batch_size, 1024))
                return {f"val_{k}": v for k, v in result.items()}

        task = ClassifyTask(self.model, self.optimizer, self.loss_fn, self.metrics)
        owns_folder = run_dir is not None and setup is None  # start_run prepared it otherwise
        if owns_folder:
            run = RunDir(run_dir).prepare(resume=resume, overwrite=overwrite)
        else:
            run = RunDir(run_dir) if run_dir is not None else (setup.run_dir if setup is not None else None)
        cbs = list(callbacks)
        if run is not None:
            cbs.append(CurvePlot(run / "curves.png", title="classifier"))
        config = self.run_config(epochs=epochs, batch_size=batch_size, extra=extra_config)
        try:
            trainer = Trainer(
                task,
                data,
                epochs=epochs,
                device=self.device,
                precision=precision,
                run_dir=run,
                checkpoint_every=checkpoint_every,
                callbacks=cbs,
                validate=validate,
                progress=progress,
                desc="classifier",
                config=config,
                log_every=100,
                setup=setup,
            )
        except BaseException:
            if owns_folder:
                run.unlock()  # a bad precision or device leaves the folder free
            raise
        self.history = trainer.fit(resume=resume)
        return self.history

    @torch.no_grad()
    def evaluate(self, x, y=None, *, batch_size: int = 1024) -> dict[str, float]:
        """Mean loss and metrics over ``(x, y)`` without training."""
        if self.loss_fn is None:
            self.compile()
        x_t, y_t = self._xy(x, y)
        if len(x_t) == 0:
            raise UsageError("no images to evaluate (the test split is empty)")
        self.model.eval()
        total_loss, correct, n = 0.0, 0, 0
        for i in range(0, len(x_t), batch_size):
            xb, yb = x_t[i : i + batch_size].to(self.device), y_t[i : i + batch_size].to(self.device)
            logits = self.model(xb).float()
            total_loss += float(self.loss_fn(logits, yb)) * len(xb)
            correct += int(losses.correct(logits, yb).sum())
            n += len(xb)
        self.model.train()
        result = {"loss": total_loss / n}
        if "accuracy" in self.metrics or not self.metrics:
            result["accuracy"] = correct / n
        return result

    @torch.no_grad()
    def predict(self, x, *, batch_size: int = 1024) -> torch.Tensor:
        """Class probabilities ``(N, classes)`` (softmax of the logits), on the CPU."""
        x_t = as_images(x, self.config)
        self._check_input(x_t)
        self.model.eval()
        out = [
            self.model.predict_proba(x_t[i : i + batch_size].to(self.device)).cpu()
            for i in range(0, len(x_t), batch_size)
        ]
        self.model.train()
        return torch.cat(out) if out else torch.empty(0, self.config.num_classes)

    def predict_classes(self, x) -> list[tuple[str, float]]:
        """``(class name, probability)`` of the most likely class for each image."""
        probs = self.predict(x)
        names = self.config.classes or [str(i) for i in range(self.config.num_classes)]
        p, idx = probs.max(dim=-1)
        return [(names[i], float(q)) for i, q in zip(idx.tolist(), p.tolist())]

    def summary(self) -> str:
        """The layers and the parameter count, like Keras' ``model.summary()``."""
        params = sum(p.numel() for p in self.model.parameters())
        return f"{self.model}\nparameters: {params:,}"

    # -- saving and loading ---------------------------------------------------------------
    def run_config(self, *, epochs=None, batch_size=None, extra=None) -> dict:
        """The ``config.json`` of a classifier run: head, model settings, classes and the training settings given."""
        cfg = {
            "head": HEAD,
            "config_version": CONFIG_VERSION,
            "model": self.config.to_dict(),
            "train": {
                "optimizer": self.optimizer_name,
                "lr": self.lr,
                "epsilon": self.epsilon,
                "loss": self.loss_name,
                "metrics": list(self.metrics),
                "epochs": epochs,
                "batch_size": batch_size,
                "seed": self.seed,
            },
        }
        if extra:
            cfg["train"].update(dict(extra))
        return cfg

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path``."""
        return save_pretrained(path, self.run_config(), {"model": self.model})

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "auto") -> Classifier:
        """Rebuild a classifier from a run folder (config + safetensors weights).

        The folder is untrusted: its config is checked against the weights file's tensor shapes
        before the model is built (:func:`check_weights_fit`).

        Raises:
            CheckpointError: not a classifier run, a bad config, or a config that does not match its weights.
        """
        saved = from_pretrained(path, read_config=read_config)
        config = saved.settings(ClassifierConfig, "model")
        check_weights_fit(saved.run, config)
        obj = cls(config, device=device, seed=None)
        saved.load_into({"model": obj.model}, lambda _name: f"classifier in '{saved.run.path}'")
        train_cfg = saved.config.get("train", {})
        obj.compile(
            train_cfg.get("optimizer") if train_cfg.get("optimizer") in ("adam", "sgd") else "adam",
            loss=train_cfg.get("loss", "cross_entropy"),
            metrics=train_cfg.get("metrics", ["accuracy"]),
            lr=train_cfg.get("lr"),
            epsilon=train_cfg.get("epsilon", TORCH_ADAM_EPSILON),
        )
        return obj

    # -- helpers --------------------------------------------------------------------------
    def _xy(self, x, y):
        if y is None:
            if isinstance(x, (tuple, list)) and len(x) == 2:
                x, y = x
            elif hasattr(x, "tensors"):
                x, y = x.tensors()[:2]
            else:
                raise UsageError("fit/evaluate need labels: pass x and y, or an (x, y) pair")
        x_t = as_images(x, self.config)
        y_t = torch.as_tensor(y)
        y_t = y_t.long() if y_t.dim() == 1 else y_t.float()
        if len(x_t) != len(y_t):
            raise UsageError(f"{len(x_t)} images but {len(y_t)} labels")
        self._check_input(x_t)
        if y_t.dim() == 1 and len(y_t) and (int(y_t.min()) < 0 or int(y_t.max()) >= self.config.num_classes):
            raise UsageError(
                f"labels must lie in 0..{self.config.num_classes - 1}, found {int(y_t.min())}..{int(y_t.max())}"
            )
        return x_t, y_t

    def _check_input(self, x_t: torch.Tensor) -> None:
        c = self.config
        if tuple(x_t.shape[1:]) != (c.in_channels, c.image_size, c.image_size):
            raise UsageError(
                f"the model expects images of shape ({c.in_channels}, {c.image_size}, {c.image_size}), got {tuple(x_t.shape[1:])}"
            )


def check_weights_fit(run: RunDir, config: ClassifierConfig) -> None:
    """Refuse a run folder whose ``config.json`` asks for other layers than its ``model.safetensors`` holds,
    before anything is allocated (see :func:`artgen.runs.weights.check_config_fits_weights`).

    Raises:
        CheckpointError: one line naming the config file, the weights file and the first tensor that differs.
    """
    check_config_fits_weights(
        run.weights_path, {"model": lambda: DenseClassifier(config)}, config_path=run.config_path
    )


def init_from(classifier: Classifier, path: str | os.PathLike) -> bool:
    """Start from an earlier run's weights (fine-tuning).

    The input shape (channels, size) and the hidden layer must match; when the
    earlier run knows other classes (another number, or other names) the output
    layer is re-initialised for the new class set (Keras' Glorot-uniform, zero
    biases) and the hidden layer is kept, with a note. Returns True when the output
    layer was re-initialised.

    Raises:
        UsageError: the input shape or hidden width differs (naming --channels, --size, --hidden).
        CheckpointError: ``path`` is not a classifier run or its weights are damaged.
    """
    saved = from_pretrained(path, read_config=lambda run: read_config(run, what="{arg:init_from}"))
    run = saved.run
    src = saved.settings(ClassifierConfig, "model")
    dst = classifier.config
    problems = []
    if src.in_channels != dst.in_channels:
        problems.append(
            f"it takes {src.in_channels}-channel images and this run {dst.in_channels} (pass {{arg:channels={src.in_channels}}})"
        )
    if src.image_size != dst.image_size:
        problems.append(
            f"it takes {src.image_size}px images and this run {dst.image_size}px (pass {{arg:size={src.image_size}}})"
        )
    if src.hidden != dst.hidden:
        problems.append(
            f"its hidden layer has {src.hidden} units and this run {dst.hidden} (pass {{arg:hidden={src.hidden}}})"
        )
    if problems:
        raise UsageError(f"{{arg:init_from}} '{run.path}' does not fit: " + "; ".join(problems))
    same_classes = src.num_classes == dst.num_classes and (
        src.classes is None or dst.classes is None or list(src.classes) == list(dst.classes)
    )
    if same_classes:
        saved.load_into({"model": classifier.model}, lambda _name: f"{{arg:init_from}} '{run.path}'")
        return False
    state = split_prefix(run.load_weights(), "model")  # the hidden layer only: the output layer starts afresh
    model = classifier.model
    kept = {k: v for k, v in state.items() if not k.startswith("output.")}
    load_state_into(
        model,
        dict(kept, **{k: v for k, v in model.state_dict().items() if k.startswith("output.")}),
        what=f"{{arg:init_from}} '{run.path}'",
    )
    torch.nn.init.xavier_uniform_(model.output.weight)
    torch.nn.init.zeros_(model.output.bias)
    log.warning(
        "--init-from '%s' knows %d classes (%s), this data %d (%s): keeping its hidden layer, starting the output layer afresh",
        run.path,
        src.num_classes,
        _names(src),
        dst.num_classes,
        _names(dst),
    )
    return True


def _names(config: ClassifierConfig) -> str:
    names = config.classes or [str(i) for i in range(config.num_classes)]
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
