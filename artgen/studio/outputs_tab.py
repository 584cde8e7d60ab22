"""The Runs and outputs tab: what the page made in the working folder, each with its settings read back from the
file's metadata, and a button that refills the matching tab's form from them."""

from pathlib import Path

from ..errors import UsageError

#: Most outputs the gallery shows, newest first.
MAX_SHOWN = 200

#: The files the gallery lists from ``outputs/``.
SUFFIXES = (".png", ".gif")


def list_outputs(studio) -> list[Path]:
    """The pictures and GIFs in ``outputs/``, newest first (at most :data:`MAX_SHOWN`)."""
    folder = studio.workdir.folder("outputs")
    files = [p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    return files[:MAX_SHOWN]


def list_runs(studio) -> str:
    """The run folders in the working folder as Markdown lines: head, and whether a training can resume there."""
    from .workdir import run_head

    lines = []
    for rel in studio.workdir.run_folders():
        folder = studio.workdir.root / rel
        if folder.parent.name != "runs" and folder.name == "best":
            continue
        head = run_head(folder) or "unknown"
        resumable = ", resumable" if (folder / "training_state.pt").is_file() else ""
        lines.append(f"- `{rel}`: {head.replace('_', ' ')}{resumable}")
    return "\n".join(lines) if lines else "no run folders yet"


def read_settings(studio, path) -> dict:
    """The settings stored in the output ``path`` (a file inside the working folder), or {} when it holds none.

    Raises:
        UsageError: ``path`` is outside the working folder. ImageError: it is not a picture.
    """
    from ..images import read_metadata

    return read_metadata(studio.workdir.inside(path, "output"))


def _shown(meta: dict) -> dict:
    """``meta`` for reading: lists longer than 12 values (a style vector) are shortened to their length."""
    return {k: (f"[{len(v)} values]" if isinstance(v, list) and len(v) > 12 else v) for k, v in meta.items()}


def _upload(studio, name) -> str | None:
    """The file ``uploads/<name>`` when it is still there (the picture a result was made from), else None."""
    if not isinstance(name, str) or not name:
        return None
    path = studio.workdir.folder("uploads") / Path(name).name
    return str(path) if path.is_file() else None


def _number(value, default=0):
    return default if value is None else value


def form_values(studio, meta: dict) -> tuple[str, str | None, dict[tuple[str, str], object]]:
    """Where the settings ``meta`` came from and the form values that make it again.

    Returns (tab id, sub-tab id or None, ``{(form, field): value}``) for :func:`artgen.studio.app.build_app`'s
    forms; pictures the result was made from are given back when they are still in ``uploads/``.

    Raises:
        UsageError: ``meta`` was not written by one of the page's tabs (or the matching commands).
    """
    command = str(meta.get("command") or "")
    values: dict[tuple[str, str], object] = {}
    if command in ("studio stylize", "stylize"):
        method = "fast" if meta.get("method") == "fast" else "optimise"
        values.update(
            {
                ("stylise", "method"): method,
                ("stylise", "size"): meta.get("size"),
                ("stylise", "keep"): bool(meta.get("preserve_colors")),
                ("stylise", "seamless"): bool(meta.get("seamless")),
                ("stylise", "weights"): ", ".join(f"{w:g}" for w in meta.get("style_blend") or []),
            }
        )
        if method == "fast":
            values[("stylise", "strength")] = meta.get("strength")
        else:
            values[("stylise", "steps")] = _number(meta.get("steps"))
        values[("stylise", "photo")] = _upload(studio, meta.get("photo"))
        styles = [_upload(studio, s) for s in meta.get("styles") or []]
        values[("stylise", "styles")] = [s for s in styles if s] or None
        return "stylise", None, values
    if command in ("studio texture", "texture"):
        w, h = meta.get("width"), meta.get("height")
        values.update(
            {
                ("texture", "size"): (str(w) if w == h else f"{w}x{h}") if w and h else None,
                ("texture", "seamless"): bool(meta.get("seamless")),
                ("texture", "steps"): _number(meta.get("steps")),
                ("texture", "seed"): _number(meta.get("seed")),
            }
        )
        samples = [_upload(studio, s) for s in meta.get("examples") or []]
        values[("texture", "samples")] = [s for s in samples if s] or None
        return "texture", None, values
    if command == "studio gan sample":
        values.update(
            {
                ("gan", "run"): meta.get("checkpoint"),
                ("gan", "n"): meta.get("n"),
                ("gan", "seed"): meta.get("seed"),
                ("gan", "truncation"): _number(meta.get("truncation")),
            }
        )
        return "gan", "gan-sample-tab", values
    if command == "studio gan interpolate":
        seeds = meta.get("seeds") or [None, None]
        values.update(
            {
                ("gan", "run"): meta.get("checkpoint"),
                ("gan", "seed_a"): seeds[0],
                ("gan", "seed_b"): seeds[-1],
                ("gan", "frames"): meta.get("frames"),
                ("gan", "fps"): meta.get("fps"),
                ("gan", "walk_truncation"): _number(meta.get("truncation")),
            }
        )
        return "gan", "gan-walk-tab", values
    if command == "studio fast-style apply":
        values.update(
            {
                ("fast", "network"): meta.get("model"),
                ("fast", "strength"): meta.get("strength"),
                ("fast", "max_size"): _number(meta.get("max_size")),
                ("fast", "keep"): bool(meta.get("preserve_colors")),
                ("fast", "seamless"): bool(meta.get("seamless")),
                ("fast", "video" if meta.get("video") else "picture"): _upload(studio, meta.get("input")),
            }
        )
        return "fast-style", "fast-apply", values
    raise UsageError(
        f"the settings of this file come from {command or 'no known command'!r}; no tab of the page makes it"
    )


def build(studio, tabs, sub_tabs: dict, forms: dict, tab):
    """Add the tab's components and events to the current ``gr.Blocks``.

    ``tabs``: the page's ``gr.Tabs``; ``sub_tabs``: the inner ``gr.Tabs`` by tab id; ``forms``: each tab's
    form fields by name (``{"stylise": {"size": ..., ...}, ...}``); ``tab``: this ``gr.Tab``, refreshed when chosen.
    """
    import json

    import gradio as gr

    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(
                label="Outputs (newest first; click one for its settings)",
                columns=5,
                height=560,
                allow_preview=False,
                elem_id="outputs-gallery",
            )
        with gr.Column(scale=2):
            chosen = gr.Textbox(label="File", interactive=False, elem_id="outputs-file")
            settings = gr.Code(label="Settings read back from the file", language="json", elem_id="outputs-settings")
            with gr.Row():
                refill = gr.Button("Refill the form", variant="primary", elem_id="outputs-refill")
                refresh = gr.Button("Refresh", size="sm", elem_id="outputs-refresh")
            download = gr.File(label="Download", interactive=False, elem_id="outputs-download")
            runs = gr.Markdown(elem_id="outputs-runs")
    listed = gr.State([])

    def show():
        files = list_outputs(studio)
        items = [(str(p), p.name) for p in files]
        return items, [str(p) for p in files], list_runs(studio)

    def picked(files, evt: gr.SelectData):  # a real annotation (no postponed ones here): Gradio finds the event by it
        path = files[evt.index]
        meta = studio.shown(read_settings, studio, path)
        text = json.dumps(_shown(meta), indent=1, sort_keys=True) if meta else "(no settings stored in this file)"
        return studio.workdir.relative(path), text, path

    fields = [(form, name, component) for form, items in forms.items() for name, component in items.items()]
    sub_ids = list(sub_tabs)

    def refilled(rel):
        if not rel:
            raise gr.Error("choose an output in the gallery first", print_exception=False)
        meta = studio.shown(read_settings, studio, rel)
        tab_id, sub_id, values = studio.shown(form_values, studio, meta)
        updates = [gr.Tabs(selected=tab_id)]
        updates += [gr.Tabs(selected=sub_id) if parent == tab_id and sub_id else gr.update() for parent in sub_ids]
        for form, name, _ in fields:
            value = values.get((form, name))
            updates.append(gr.update(value=value) if value is not None else gr.update())
        return updates

    gr.on([tab.select, refresh.click], show, None, [gallery, listed, runs])
    gallery.select(picked, [listed], [chosen, settings, download])
    refill.click(refilled, [chosen], [tabs, *(sub_tabs[i] for i in sub_ids), *(c for _, _, c in fields)])
