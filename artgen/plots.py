"""Loss and metric curves as PNG files (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def plot_history(history, path=None, *, title: str | None = None):
    """Plot a :class:`~artgen.train.History`: per-epoch values, or per-step logs when epochs are few.

    Losses and metrics in [0, 1] (accuracy) get separate panels. Returns the figure (a
    ``matplotlib.figure.Figure`` outside pyplot: a notebook shows it once, as the cell's value);
    with ``path`` the PNG is written atomically (100 dpi).

    Raises:
        ArtgenError, UsageError: the PNG cannot be written (see :func:`artgen.runs.atomic.atomic_path`).
    """
    use_steps = len(history.epoch) < 2 and len(history.steps) >= 2
    if use_steps:
        xs = [s for s, _ in history.steps]
        series: dict[str, list[float]] = {}
        for _, values in history.steps:
            for key, value in values.items():
                series.setdefault(key, []).append(value)
        xlabel = "step"
    else:
        xs = list(history.epoch)
        series = {k: list(v) for k, v in history.history.items()}
        xlabel = "epoch"
    metric_keys = [k for k in series if "acc" in k]
    loss_keys = [k for k in series if k not in metric_keys]
    panels = [keys for keys in (loss_keys, metric_keys) if keys]
    evals = getattr(history, "evals", [])
    fig, axes = _figure(1, max(len(panels) + bool(evals), 1), figsize=(5.5 * max(len(panels) + bool(evals), 1), 3.8))
    if evals:  # measurements taken during training (the GAN's KID against its training images), by step
        ax = axes[0][len(panels)]
        for key in dict.fromkeys(k for _, values in evals for k in values):
            points = [(s, values[key]) for s, values in evals if key in values]
            ax.plot([s for s, _ in points], [v for _, v in points], label=key, marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("measured during training (lower is better)")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax, keys in zip(axes[0], panels):
        for key in keys:
            values = series[key]
            ax.plot(
                xs[-len(values) :] if len(values) <= len(xs) else range(1, len(values) + 1),
                values,
                label=key,
                marker="o" if len(values) < 30 else None,
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy" if keys is metric_keys else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        _save_figure(fig, path)
    return fig


def _figure(rows: int, columns: int, *, figsize: tuple[float, float]):
    """A matplotlib figure and its ``(rows, columns)`` axes, not registered with pyplot.

    pyplot's figures are shown again by Jupyter's inline backend at the end of the cell, so a
    returned pyplot figure appeared twice; this one appears once, as the cell's value, and no
    GUI backend is started (headless machines need no ``Agg`` switch).
    """
    from matplotlib.figure import Figure

    _show_figures_in_notebooks(Figure)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, columns, squeeze=False)


def _show_figures_in_notebooks(figure_type) -> None:
    """In an IPython kernel, display a returned figure as a PNG (as matplotlib's inline backend would).

    A figure made outside pyplot has no display formatter until pyplot's inline backend is loaded, so a
    fresh kernel showed ``<Figure size ...>`` as text. Registering IPython's PNG printer for the
    ``Figure`` type fixes that without loading pyplot; outside IPython this does nothing.
    """
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    png.for_type(figure_type, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def _save_figure(fig, path) -> Path:
    from .runs.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def plot_predictions(images, predicted, probabilities, truth, classes, path=None, *, columns: int = 8):
    """A grid of images titled with the predicted class and its probability (red when wrong).

    ``images`` is ``(N, C, H, W)`` in [0, 1] (C = 1 or 3; clamped); ``predicted``/``truth``
    are class indices ``(N,)``, ``probabilities`` ``(N,)`` in [0, 1], ``classes`` the names.
    Returns the figure, or with ``path`` the written PNG's path (errors as :func:`plot_history`).
    """
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = _figure(rows, columns, figsize=(1.6 * columns, 1.8 * rows))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].detach().cpu().float().clamp(0, 1)
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img.permute(1, 2, 0).numpy())
        ok = int(predicted[i]) == int(truth[i])
        ax.set_title(
            f"{classes[int(predicted[i])]}\n{float(probabilities[i]):.0%}", fontsize=8, color="black" if ok else "red"
        )
    fig.tight_layout()
    if path is not None:
        return _save_figure(fig, path)
    return fig


def contact_sheet(panels, path, *, title: str | None = None, columns: int = 3):
    """One PNG showing several pictures at a glance: ``panels`` is a list of ``(caption, PIL image)``.

    ``columns`` panels per row, each image shown as RGB; returns ``path`` (written
    atomically; errors as :func:`plot_history`).
    """
    import numpy as np

    rows = max(1, -(-len(panels) // columns))
    fig, axes = _figure(rows, columns, figsize=(4.2 * columns, 4.7 * rows))
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, image) in zip(axes.flat, panels):
        arr = np.asarray(image.convert("RGB"))
        ax.imshow(arr)
        ax.set_title(caption, fontsize=11)
    if title:
        fig.suptitle(title, fontsize=14)
    fig.tight_layout(h_pad=1.5)
    return _save_figure(fig, path)
