"""Loss and metric curves as PNG files (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def plot_history(history, path=None, *, title: str | None = None):
    """Plot a :class:`~artgen.train.History`: per-epoch values, or per-step logs when epochs are few.

    Losses and metrics in [0, 1] (accuracy) get separate panels. Returns the figure;
    with ``path`` the PNG is written atomically and the figure closed.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

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
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.5 * max(len(panels), 1), 3.8), squeeze=False)
    for ax, keys in zip(axes[0], panels):
        for key in keys:
            values = series[key]
            ax.plot(xs[-len(values):] if len(values) <= len(xs) else range(1, len(values) + 1), values, label=key, marker="o" if len(values) < 30 else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy" if keys is metric_keys else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        from .checkpoint import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
    return fig
