"""The GAN tab: sample a grid from a run folder; train on a folder of pictures as a background job."""

import inspect
import shutil

from ..errors import UsageError


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
    studio.jobs.wait_started(job)
    return job.describe()


def status(studio, run):
    """The job line and the latest sample grid of ``run`` (or of the latest job), for the timer."""
    try:
        folder = studio.workdir.inside(run, "run folder") if run else None
    except UsageError:
        folder = None
    job = studio.jobs.get(folder) or (studio.jobs.last if folder is None else None)
    line = job.describe() if job is not None else "no training job in this studio yet"
    where = job.folder if job is not None else folder
    latest = None
    if where is not None and (where / "samples").is_dir():
        grids = sorted((where / "samples").glob("step_*.png"))
        latest = str(grids[-1]) if grids else None
    return line, latest


def cancel(studio, run):
    """Cancel the job training into ``run`` (or the latest job); returns the status line."""
    try:
        folder = studio.workdir.inside(run, "run folder") if run else None
    except UsageError:
        folder = None
    job = studio.jobs.get(folder) or studio.jobs.last
    if job is None or not job.active:
        return "no job is running"
    job.cancel()
    return f"{job.kind} job stopping after this step; a checkpoint will be saved"


def build(studio):
    """Add the GAN tab's components and events to the current ``gr.Blocks``."""
    import gradio as gr

    defaults = train_defaults()
    runs = studio.workdir.run_folders()
    with gr.Row():
        run = gr.Dropdown(
            runs,
            value=runs[0] if runs else None,
            allow_custom_value=True,
            label="Run folder (inside the working folder)",
            elem_id="gan-run",
        )
        refresh = gr.Button("Refresh", size="sm")
    with gr.Tab("Sample"):
        with gr.Row():
            n = gr.Slider(1, 64, value=16, step=1, label="Samples", elem_id="gan-n")
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="gan-seed")
            truncation = gr.Slider(0, 1.5, value=0, step=0.05, label="Truncation (0: none)", elem_id="gan-truncation")
            go = gr.Button("Sample", variant="primary", elem_id="gan-sample")
        with gr.Row():
            grid = gr.Image(type="filepath", label="Sample grid", interactive=False, elem_id="gan-grid", height=360)
            gallery = gr.Gallery(
                label="Samples (click one for its seed)", columns=8, height=360, elem_id="gan-gallery"
            )
        info = gr.Textbox(label="Saved", interactive=False, elem_id="gan-info")
    with gr.Tab("Train"):
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
        live = gr.Image(type="filepath", label="Latest samples", interactive=False, elem_id="gan-live", height=320)

    refresh.click(
        lambda: (gr.update(choices=studio.workdir.run_folders()), gr.update(choices=studio.workdir.picture_folders())),
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
    start.click(
        lambda *a: studio.shown(start_training, studio, *a), [data, uploads, out, size, steps, resume], [job_line]
    )
    start.click(lambda o: gr.update(value=o), [out], [run])
    stop.click(lambda r: cancel(studio, r), [out], [job_line])
    timer = gr.Timer(1.0)
    timer.tick(lambda o: status(studio, o), [out], [job_line, live], show_progress="hidden")
