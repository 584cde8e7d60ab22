"""The GAN tab: sample a grid from a run folder, make an interpolation GIF between two seeds, and train on a
folder of pictures as a background job with the live sample grid and KID curve."""

import inspect
import shutil
from pathlib import Path

from ..errors import UsageError
from .jobs import cancel_job
from .workdir import latest_step_picture

#: Longest interpolation the page makes, in frames.
MAX_FRAMES = 240


def train_defaults() -> dict:
    """``train_gan``'s defaults for the page's fields (the command line's defaults too)."""
    from ..gan import train_gan

    params = inspect.signature(train_gan).parameters
    return {"size": params["size"].default, "steps": params["steps"].default}


def run_sample(studio, run, n, seed, truncation):
    """A grid of ``n`` samples (seeds ``seed``..) from the run folder ``run``; returns (grid path, gallery, line).

    The run folder must lie inside the working folder and load as :meth:`artgen.GAN.load` loads
    (safetensors and a checked config; nothing in it runs).

    Raises:
        UsageError: a path outside the working folder, or a bad setting. CheckpointError: not a loadable GAN run.
    """
    from ..images import make_grid, on_checkerboard, save_image, to_pil

    folder = studio.workdir.inside(run, "run folder")
    gan = studio.load_gan(folder)
    n, seed = int(n), int(seed)
    trunc = float(truncation) if truncation not in (None, "") and float(truncation) > 0 else None
    images = gan.generate(n, seed=seed, truncation=trunc)
    meta = {
        "command": "studio gan sample",
        "head": "gan",
        "checkpoint": studio.workdir.relative(folder),
        "truncation": trunc,
        "seed": seed,
        "seeds": f"{seed}..{seed + n - 1}",
        "n": n,
    }
    out = save_image(make_grid(on_checkerboard(images)), studio.workdir.output_path("gan-samples"), metadata=meta)
    gallery = [(to_pil(img), f"seed {seed + i}") for i, img in enumerate(on_checkerboard(images))]
    return (
        str(out),
        gallery,
        f"{studio.workdir.relative(out)}: {n} samples, seeds {seed}..{seed + n - 1}"
        + (f", truncation {trunc:g}" if trunc else ""),
    )


def walk_latents(a, b, frames: int):
    """``frames`` latents going from ``a`` to ``b`` and back (slerp with eased timing), so a GIF of them loops smoothly.

    ``a``, ``b``: ``(z_dim,)``. Returns ``(frames, z_dim)``: frame 0 is ``a`` and, for an even count,
    frame ``frames // 2`` is ``b``.
    """
    import torch

    from ..gan import slerp

    zs = []
    for i in range(frames):
        pos = 2 * i / frames
        t = pos if pos <= 1 else 2 - pos
        t = t * t * (3 - 2 * t)  # smoothstep: ease in and out of each end
        zs.append(slerp(a, b, t))
    return torch.stack(zs)


def run_interpolate(studio, run, seed_a, seed_b, frames, fps, truncation):
    """An animated GIF from the sample of seed ``seed_a`` to that of ``seed_b`` and back; returns (GIF path, GIF path, line).

    The GIF is saved as ``outputs/gan-walk-*.gif`` with its settings (:func:`artgen.images.read_metadata`);
    a conditional GAN draws class 0. The sample of a seed is the one the Sample tab shows for it.

    Raises:
        UsageError: a path outside the working folder, or ``frames`` outside 2..:data:`MAX_FRAMES` or ``fps``
            not positive. CheckpointError: not a loadable GAN run.
    """
    from ..gan import latents
    from ..images import on_checkerboard, save_gif

    folder = studio.workdir.inside(run, "run folder")
    frames, fps = int(frames or 0), float(fps or 0)
    if not 2 <= frames <= MAX_FRAMES:
        raise UsageError(f"frames {frames}: expected 2 to {MAX_FRAMES}")
    if not fps > 0:
        raise UsageError(f"frames per second {fps:g}: expected a positive number")
    gan = studio.load_gan(folder)
    a, b = int(seed_a), int(seed_b)
    trunc = float(truncation) if truncation not in (None, "") and float(truncation) > 0 else None
    keys = latents([a, b], gan.config.z_dim, truncation=trunc)
    labels = gan.labels(frames, 0 if gan.config.conditional else None)
    images = gan.generate_from(walk_latents(keys[0], keys[1], frames), labels, truncated=trunc is not None)
    meta = {
        "command": "studio gan interpolate",
        "head": "gan",
        "checkpoint": studio.workdir.relative(folder),
        "seeds": [a, b],
        "frames": frames,
        "fps": fps,
        "truncation": trunc,
    }
    out = save_gif(on_checkerboard(images), studio.workdir.output_path("gan-walk", ".gif"), fps=fps, metadata=meta)
    line = f"{studio.workdir.relative(out)}: {frames} frames, seed {a} to seed {b} and back" + (
        f", truncation {trunc:g}" if trunc else ""
    )
    return str(out), str(out), line


def kid_points(studio, folder: Path | None) -> list[tuple[int, float, str]]:
    """The KID measured while training ``folder``: ``(step, value, name)``, oldest first.

    From the studio's job training into ``folder`` while there is one (the values appear as they are
    measured), else from the run folder's ``training_state.pt`` (read with ``weights_only``, kept until
    the file changes). ``name`` is ``"kid"``, or ``"kid (fallback features)"`` where no TF-Inception
    weights were found (those values compare only with each other). Unreadable or missing state: [].
    """
    if folder is None:
        return []
    job = studio.jobs.get(folder)
    if job is not None and job.history is not None:
        evals = list(job.history.evals)
    else:
        evals = _saved_evals(studio, folder)
    return [
        (int(step), float(value), name)
        for step, values in evals
        for name, value in values.items()
        if name.startswith("kid")
    ]


def _saved_evals(studio, folder: Path) -> list:
    """The ``evals`` of the history in ``folder/training_state.pt``, cached by the file's modification time."""
    from ..errors import ArtgenError
    from ..runs.folder import RunDir

    state = folder / "training_state.pt"
    try:
        stamp = state.stat().st_mtime_ns
    except OSError:
        return []
    key = ("kid", str(folder))
    cached = studio.cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        evals = RunDir(folder).load_state().get("history", {}).get("evals", [])
    except (ArtgenError, OSError, AttributeError):
        evals = []
    studio.cache[key] = (stamp, evals)
    return evals


def plot_kid(points, title: str = "KID while training (lower is better)"):
    """A PIL picture of the KID curve ``points`` (:func:`kid_points`), one line per feature network; None when empty."""
    if not points:
        return None
    import io

    from matplotlib.figure import Figure  # outside pyplot: no GUI backend, nothing kept between calls
    from PIL import Image

    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    for name in dict.fromkeys(p[2] for p in points):
        xs = [p[0] for p in points if p[2] == name]
        ys = [p[1] for p in points if p[2] == name]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("KID")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def start_training(studio, data, uploads, run, size, steps, resume):
    """Start ``train_gan`` as a background job into ``run`` on the pictures of ``data`` (and ``uploads``); returns the status line.

    Raises:
        UsageError: a path outside the working folder, no pictures, or a job already training into ``run``.
    """
    from ..gan import train_gan

    out = studio.workdir.inside(run, "run folder")
    folder = None
    if uploads:
        folder = studio.workdir.inside(data or f"data/{out.name}", "pictures folder")
        folder.mkdir(parents=True, exist_ok=True)
        for upload in uploads:
            source = studio.workdir.accept_image(upload if isinstance(upload, str) else upload.name, "training")
            target = folder / source.name
            if not target.exists():
                shutil.copyfile(source, target)
    elif data:
        folder = studio.workdir.inside(data, "pictures folder")
    if folder is None and not resume:
        raise UsageError("choose a pictures folder inside the working folder, or upload pictures")
    if folder is not None and not folder.is_dir():
        raise UsageError(f"pictures folder '{data}' does not exist in the working folder")
    settings = dict(studio.gan_settings) if resume else {"size": int(size), **studio.gan_settings}
    steps = int(steps or 0) or None

    def target(callbacks):
        return train_gan(
            out=out,
            data=None if resume else folder,
            steps=steps,
            resume=bool(resume),
            device=studio.device_name,
            progress=False,
            callbacks=callbacks,
            **settings,
        )

    job = studio.jobs.start("GAN", out, target)
    return job.describe()


def status(studio, run, shown=None):
    """For the timer: the job line, the latest sample grid of ``run`` (or of the latest job), the KID curve
    and what it shows.

    ``shown``: the KID points the page shows already; the curve is redrawn only when they change
    (otherwise its slot is ``gr.update()``, which leaves the picture as it is).
    """
    import gradio as gr

    folder = studio.workdir.run_folder(run)
    job = studio.jobs.get(folder)  # None: the latest job
    line = job.describe() if job is not None else "no training job in this studio yet"
    where = job.folder if job is not None else folder
    latest = latest_step_picture(where, "samples")
    points = kid_points(studio, where)
    curve = gr.update() if points == shown else plot_kid(points)
    return line, latest, curve, points


def cancel(studio, run):
    """Cancel the job training into ``run`` (or the latest job); returns the status line."""
    job = studio.jobs.get(studio.workdir.run_folder(run)) or studio.jobs.last
    return cancel_job(job, "no job is running")


def build(studio):
    """Add the GAN tab's components and events to the current ``gr.Blocks``; returns its form fields by name."""
    import gradio as gr

    defaults = train_defaults()
    runs = studio.workdir.run_folders("gan")
    with gr.Row():
        run = gr.Dropdown(
            runs,
            value=runs[0] if runs else None,
            allow_custom_value=True,
            label="Run folder (inside the working folder)",
            elem_id="gan-run",
        )
        refresh = gr.Button("Refresh", size="sm")
    with gr.Tabs(elem_id="gan-tabs") as tabs:
        with gr.Tab("Sample", id="gan-sample-tab"):
            with gr.Row():
                n = gr.Slider(1, 64, value=16, step=1, label="Samples", elem_id="gan-n")
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="gan-seed")
                truncation = gr.Slider(
                    0, 1.5, value=0, step=0.05, label="Truncation (0: none)", elem_id="gan-truncation"
                )
                go = gr.Button("Sample", variant="primary", elem_id="gan-sample")
            with gr.Row():
                grid = gr.Image(
                    type="filepath", label="Sample grid", interactive=False, elem_id="gan-grid", height=360
                )
                gallery = gr.Gallery(
                    label="Samples (click one for its seed)", columns=8, height=360, elem_id="gan-gallery"
                )
            info = gr.Textbox(label="Saved", interactive=False, elem_id="gan-info")
        with gr.Tab("Interpolate", id="gan-walk-tab"):
            with gr.Row():
                seed_a = gr.Number(value=0, precision=0, label="From seed", elem_id="gan-seed-a")
                seed_b = gr.Number(value=1, precision=0, label="To seed", elem_id="gan-seed-b")
                frames = gr.Slider(
                    2, MAX_FRAMES, value=48, step=1, label="Frames (there and back)", elem_id="gan-frames"
                )
                fps = gr.Slider(1, 50, value=20, step=1, label="Frames per second", elem_id="gan-fps")
                walk_trunc = gr.Slider(
                    0, 1.5, value=0, step=0.05, label="Truncation (0: none)", elem_id="gan-walk-truncation"
                )
                walk = gr.Button("Make GIF", variant="primary", elem_id="gan-walk")
            with gr.Row():
                gif = gr.Image(
                    type="filepath", label="Interpolation", interactive=False, elem_id="gan-gif", height=320
                )
                with gr.Column():
                    gif_file = gr.File(label="GIF with its settings", interactive=False, elem_id="gan-gif-download")
                    walk_info = gr.Textbox(label="Saved", interactive=False, elem_id="gan-walk-info")
        with gr.Tab("Train", id="gan-train-tab"):
            with gr.Row():
                data = gr.Dropdown(
                    studio.workdir.picture_folders(),
                    allow_custom_value=True,
                    label="Pictures folder (inside the working folder)",
                    elem_id="gan-data",
                )
                uploads = gr.File(
                    label="…or upload pictures", file_count="multiple", file_types=["image"], elem_id="gan-uploads"
                )
            with gr.Row():
                out = gr.Textbox(value="runs/my-gan", label="Run folder to train into", elem_id="gan-out")
                size = gr.Dropdown([32, 64, 128, 256], value=defaults["size"], label="Size", elem_id="gan-size")
                steps = gr.Number(
                    value=defaults["steps"] or 0,
                    precision=0,
                    minimum=0,
                    label="Steps (0: the command line's default)",
                    elem_id="gan-steps",
                )
                resume = gr.Checkbox(label="Resume", elem_id="gan-resume")
            with gr.Row():
                start = gr.Button("Start training", variant="primary", elem_id="gan-train")
                stop = gr.Button("Cancel", variant="stop", elem_id="gan-cancel")
            job_line = gr.Textbox(label="Job", interactive=False, elem_id="gan-job")
            with gr.Row():
                live = gr.Image(
                    type="filepath", label="Latest samples", interactive=False, elem_id="gan-live", height=320
                )
                kid = gr.Image(
                    type="pil",
                    label="KID curve (measured now and then while training)",
                    interactive=False,
                    elem_id="gan-kid",
                    height=320,
                )
            kid_shown = gr.State(None)

    refresh.click(
        lambda: (
            gr.update(choices=studio.workdir.run_folders("gan")),
            gr.update(choices=studio.workdir.picture_folders()),
        ),
        None,
        [run, data],
    )
    go.click(
        lambda *a: studio.shown(run_sample, studio, *a),
        [run, n, seed, truncation],
        [grid, gallery, info],
        concurrency_limit=1,
    )

    def picked(seed_value, evt: gr.SelectData):
        return f"sample {evt.index + 1}: seed {int(seed_value) + evt.index}"

    gallery.select(picked, [seed], [info])
    walk.click(
        lambda *a: studio.shown(run_interpolate, studio, *a),
        [run, seed_a, seed_b, frames, fps, walk_trunc],
        [gif, gif_file, walk_info],
        concurrency_limit=1,
    )
    start.click(
        lambda *a: studio.shown(start_training, studio, *a), [data, uploads, out, size, steps, resume], [job_line]
    )
    start.click(lambda o: gr.update(value=o), [out], [run])
    stop.click(lambda r: cancel(studio, r), [out], [job_line])
    timer = gr.Timer(1.0)
    timer.tick(
        lambda o, shown: status(studio, o, shown),
        [out, kid_shown],
        [job_line, live, kid, kid_shown],
        show_progress="hidden",
    )
    return {
        "tabs": tabs,
        "run": run,
        "n": n,
        "seed": seed,
        "truncation": truncation,
        "seed_a": seed_a,
        "seed_b": seed_b,
        "frames": frames,
        "fps": fps,
        "walk_truncation": walk_trunc,
        "data": data,
        "out": out,
        "size": size,
        "steps": steps,
    }
