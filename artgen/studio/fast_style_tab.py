"""The Fast style networks tab: train a style network on a style picture as a background job; apply one to a picture or a video."""

from __future__ import annotations

from ..errors import UsageError
from .jobs import cancel_job
from .workdir import latest_step_picture

#: The command recorded in the metadata of the pictures and videos this tab writes.
APPLY_COMMAND = "studio fast-style apply"


def train_defaults() -> dict:
    """The command line's training defaults for the page's fields (``artgen fast-style train``: :class:`FastStyleConfig`)."""
    from ..fast_style import FastStyleConfig

    c = FastStyleConfig()
    return {"arch": c.arch, "size": c.size, "steps": c.steps, "preview_every": c.preview_every}


#: What each network architecture is for, as the page describes it.
ARCH_NOTES = {
    "small": "small: fast on CPUs",
    "standard": "standard: TransformerNet size, best quality",
    "arbitrary": "arbitrary: the pretrained arbitrary-style network with the style built in, fitted further",
}


def archs() -> list[str]:
    """The style network architectures ``artgen fast-style train --arch`` takes: small and standard first."""
    from ..fast_style.networks import ARCHS

    return sorted(ARCHS, key=lambda a: (a not in ("small", "standard"), a != "small", a))


def builtin_styles() -> list[str]:
    """The names of the built-in style pictures (``swirls``, ...), as ``--style`` takes them."""
    from ..data.style_images import STYLES

    return list(STYLES)


def start_training(studio, style, builtin, data, run, arch, size, steps, preview_every, resume):
    """Start ``train_fast_style`` as a background job into ``run``; returns the job line.

    ``style``: an uploaded style picture (checked and copied into ``uploads/``), else ``builtin``, a
    built-in style's name. ``data``: a folder of photos inside the working folder; empty trains on the
    built-in pictures, as the command line does. Every other setting is the command line's default
    (and the studio's ``fast_style_settings``). With ``resume`` the run folder's own settings are used
    and ``steps`` may only raise the total.

    Raises:
        UsageError, ImageError: a path outside the working folder, no style, a refused picture, a
            missing photos folder, or a job already training into ``run`` (the command line's message).
    """
    from ..fast_style import train_fast_style

    out = studio.workdir.inside(run, "run folder")
    photos = None
    if data:
        photos = studio.workdir.inside(data, "photos folder")
        if not photos.is_dir():
            raise UsageError(f"photos folder '{data}' does not exist in the working folder")
    steps = int(steps or 0)
    if resume:
        styles = None
        options = {"steps": steps} if steps > 0 else {}
    else:
        if style:
            styles = str(studio.workdir.accept_image(style, "style"))
        elif builtin:
            if builtin not in builtin_styles():
                raise UsageError(f"built-in style '{builtin}': expected one of {', '.join(builtin_styles())}")
            styles = str(builtin)
        else:
            raise UsageError("add a style picture or choose a built-in style")
        options = {"arch": str(arch), "size": int(size), **({"steps": steps} if steps > 0 else {})}
        every = int(preview_every or 0)
        options["preview_every"] = every if every > 0 else None
        options.update(studio.fast_style_settings)

    def target(callbacks):
        return train_fast_style(
            styles,
            photos,
            out,
            resume=bool(resume),
            device=studio.device_name,
            progress=False,
            callbacks=callbacks,
            **options,
        )

    job = studio.jobs.start("style network", out, target)
    return job.describe()


def status(studio, run):
    """The job line and the latest preview of ``run`` (or of the latest style-network job), for the timer."""
    folder = studio.workdir.run_folder(run)
    job = studio.jobs.get(folder) if folder is not None else None
    line = job.describe() if job is not None else "no style network is training into this run folder"
    return line, latest_step_picture(folder, "previews")


def cancel(studio, run):
    """Cancel the job training into ``run``; returns the job line."""
    folder = studio.workdir.run_folder(run)
    job = studio.jobs.get(folder) if folder is not None else None
    return cancel_job(job, "no job is training into this run folder")


def run_apply(studio, run, picture, video, strength, max_size, keep_colours, seamless, progress=None):
    """Stylise an uploaded ``picture`` or ``video`` with the style network in ``run``.

    Returns (picture path or None, video path or None, download path, line). The picture is saved as
    ``outputs/fast-style-*.png`` with its settings in the metadata; a video as ``outputs/fast-style-*.mp4``
    (``.gif`` for a GIF), its timing and sound kept. ``max_size``: the long side in pixels (0: the
    picture's own size). A video is taken when both are given.

    Raises:
        UsageError, ImageError: a path outside the working folder, nothing to stylise, a refused upload
            or a bad setting. CheckpointError: ``run`` is not a loadable style network. VideoError: the
            video cannot be decoded.
    """
    from ..images import save_image

    folder = studio.workdir.inside(run, "style network run folder")
    if not (folder / "config.json").is_file():
        raise UsageError(f"style network run folder '{run}' has no config.json; train one first")
    if not picture and not video:
        raise UsageError("add a picture or a video to stylise")
    model = studio.load_fast_style(folder)
    max_size = int(max_size or 0)
    meta = {
        "command": APPLY_COMMAND,
        "head": "fast_style",
        "model": studio.workdir.relative(folder),
        "arch": model.config.arch,
        "strength": float(strength),
        "preserve_colors": bool(keep_colours),
        "max_size": max_size or None,
    }
    if video:
        source = studio.workdir.accept_video(video if isinstance(video, str) else video.name)
        suffix = ".gif" if source.suffix.lower() == ".gif" else ".mp4"
        out = studio.workdir.output_path("fast-style", suffix)
        if progress is not None:
            progress(0.0, desc="stylising the frames")
        from ..video import stylize_video

        meta.update(input=source.name, video=True, styles=model.info.get("styles", []))
        result = stylize_video(
            model,
            source,
            out,
            max_size=max_size or None,
            strength=float(strength),
            preserve_colors=bool(keep_colours),
            progress=progress is not None,
            metadata=meta,  # kept in a GIF's comment
        )
        w, h = result.get("size") or (0, 0)
        line = f"{studio.workdir.relative(out)}: {result.get('frames')} frames, {w}x{h}"
        if suffix == ".gif":  # the picture slot plays a GIF; the video player takes MP4
            return str(out), None, str(out), line
        return None, str(out), str(out), line
    source = studio.workdir.accept_image(picture, "picture")
    if progress is not None:
        progress(0.2, desc="one pass of the style network")
    image = model.stylize(
        source,
        max_size=max_size or None,
        strength=float(strength),
        preserve_colors=bool(keep_colours),
        seamless=bool(seamless),
    )
    meta.update(input=source.name, seamless=bool(seamless), styles=model.info.get("styles", []))
    out = save_image(image, studio.workdir.output_path("fast-style"), metadata=meta)
    line = f"{studio.workdir.relative(out)}: {image.width}x{image.height}, {meta['model']}" + (
        f", strength {float(strength):g}" if float(strength) < 1 else ""
    )
    return str(out), None, str(out), line


def build(studio):
    """Add the tab's components and events to the current ``gr.Blocks``; returns its form fields by name."""
    import gradio as gr

    defaults = train_defaults()
    networks = studio.workdir.run_folders("fast_style")
    with gr.Tabs(elem_id="fast-tabs") as tabs:
        with gr.Tab("Train a network", id="fast-train"):
            with gr.Row():
                with gr.Column():
                    style = gr.Image(
                        type="filepath",
                        label="Style picture",
                        sources=["upload", "clipboard"],
                        elem_id="fast-style",
                        height=240,
                    )
                    builtin = gr.Dropdown(
                        ["", *builtin_styles()],
                        value="",
                        label="…or a built-in style",
                        elem_id="fast-builtin",
                    )
                    data = gr.Dropdown(
                        ["", *studio.workdir.picture_folders()],
                        value="",
                        allow_custom_value=True,
                        label="Photos to train on (empty: the built-in pictures, as on the command line)",
                        elem_id="fast-data",
                    )
                with gr.Column():
                    live = gr.Image(
                        type="filepath", label="Latest preview", interactive=False, elem_id="fast-live", height=320
                    )
                    job_line = gr.Textbox(label="Job", interactive=False, elem_id="fast-job")
            with gr.Row():
                out = gr.Textbox(value="runs/my-style", label="Run folder to train into", elem_id="fast-out")
                arch = gr.Radio(
                    archs(),
                    value=defaults["arch"],
                    label="Network",
                    info="; ".join(ARCH_NOTES[a] for a in archs() if a in ARCH_NOTES),
                    elem_id="fast-arch",
                )
                size = gr.Number(
                    value=defaults["size"], precision=0, minimum=16, label="Size (px)", elem_id="fast-size"
                )
                steps = gr.Number(value=defaults["steps"], precision=0, minimum=0, label="Steps", elem_id="fast-steps")
                every = gr.Number(
                    value=defaults["preview_every"] or 0,
                    precision=0,
                    minimum=0,
                    label="Preview every (steps)",
                    elem_id="fast-preview-every",
                )
                resume = gr.Checkbox(label="Resume", elem_id="fast-resume")
            with gr.Row():
                start = gr.Button("Start training", variant="primary", elem_id="fast-train-run")
                stop = gr.Button("Cancel", variant="stop", elem_id="fast-cancel")
        with gr.Tab("Apply a network", id="fast-apply"):
            with gr.Row():
                network = gr.Dropdown(
                    networks,
                    value=networks[0] if networks else None,
                    allow_custom_value=True,
                    label="Style network (a run folder inside the working folder)",
                    elem_id="fast-network",
                )
                refresh = gr.Button("Refresh", size="sm")
            with gr.Row():
                with gr.Column():
                    picture = gr.Image(
                        type="filepath",
                        label="Picture",
                        sources=["upload", "clipboard"],
                        elem_id="fast-picture",
                        height=300,
                    )
                    video = gr.File(label="…or a video", file_types=["video", ".gif"], elem_id="fast-video")
                with gr.Column():
                    result = gr.Image(
                        type="filepath", label="Result", interactive=False, elem_id="fast-result", height=300
                    )
                    result_video = gr.Video(label="Result video", interactive=False, elem_id="fast-result-video")
                    download = gr.File(label="Download", interactive=False, elem_id="fast-download")
                    info = gr.Textbox(label="Saved", interactive=False, elem_id="fast-info")
            with gr.Row():
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", elem_id="fast-strength")
                max_size = gr.Number(
                    value=1024,
                    precision=0,
                    minimum=0,
                    label="Long side at most (px; 0: as is)",
                    elem_id="fast-max-size",
                )
                keep = gr.Checkbox(label="Keep the picture's colours", elem_id="fast-keep")
                seamless = gr.Checkbox(label="Seamless (pictures)", elem_id="fast-seamless")
                go = gr.Button("Stylise", variant="primary", elem_id="fast-apply-run")

    start.click(
        lambda *a: studio.shown(start_training, studio, *a),
        [style, builtin, data, out, arch, size, steps, every, resume],
        [job_line],
    )
    stop.click(lambda r: cancel(studio, r), [out], [job_line])
    timer = gr.Timer(1.0)
    timer.tick(lambda o: status(studio, o), [out], [job_line, live], show_progress="hidden")
    refresh.click(
        lambda: (
            gr.update(choices=studio.workdir.run_folders("fast_style")),
            gr.update(choices=["", *studio.workdir.picture_folders()]),
        ),
        None,
        [network, data],
    )

    def handler(run, picture, video, strength, max_size, keep, seamless, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (how Gradio injects its progress tracker)
        return studio.shown(run_apply, studio, run, picture, video, strength, max_size, keep, seamless, progress)

    go.click(
        handler,
        [network, picture, video, strength, max_size, keep, seamless],
        [result, result_video, download, info],
        concurrency_limit=1,
    )
    return {
        "tabs": tabs,
        "style": style,
        "builtin": builtin,
        "data": data,
        "out": out,
        "arch": arch,
        "size": size,
        "steps": steps,
        "preview_every": every,
        "network": network,
        "picture": picture,
        "strength": strength,
        "max_size": max_size,
        "keep": keep,
        "seamless": seamless,
        "video": video,
    }
