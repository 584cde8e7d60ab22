"""The Stylise tab: a photo and style pictures in, the stylised PNG (settings in its metadata) out."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def parse_weights(text: str | None, n: int) -> list[float] | None:
    """The blend weights typed as ``"0.7, 0.3"`` for ``n`` styles; None when empty (equal weights).

    Raises:
        UsageError: a value is not a number, or their count is not ``n``.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        weights = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"blend weights {text!r}: expected numbers separated by commas") from None
    if len(weights) != n:
        raise UsageError(f"blend weights: {len(weights)} values for {n} style picture{'s' if n != 1 else ''}")
    return weights


def run_stylize(studio, photo, styles, weights, method, strength, size, keep_colours, seamless, steps, progress=None):
    """Stylise ``photo`` with ``styles``; returns (result path, download path, settings line).

    Raises:
        UsageError, ImageError: a missing or refused picture, or a bad setting (one line).
    """
    from ..images import save_image
    from ..style_transfer import stylize

    photo_path = studio.workdir.accept_image(photo, "photo")
    style_files = [s if isinstance(s, str) else getattr(s, "name", s) for s in (styles or [])]
    if not style_files:
        raise UsageError("add at least one style picture")
    style_paths = [studio.workdir.accept_image(s, "style") for s in style_files]
    blend = parse_weights(weights, len(style_paths))
    common = dict(
        size=int(size),
        style_blend=blend,
        preserve_colors=bool(keep_colours),
        seamless=bool(seamless),
        device=studio.device_name,
    )
    if method == "fast":
        if progress is not None:
            progress(0.2, desc="one pass of the arbitrary-style network")
        image = stylize(
            str(photo_path), [str(p) for p in style_paths], method="fast", strength=float(strength), **common
        )
    else:
        steps = int(steps or 0) or None
        image = _optimise(photo_path, style_paths, common, steps, progress)
    meta = {
        "command": "studio stylize",
        "method": method,
        "photo": photo_path.name,
        "styles": [p.name for p in style_paths],
    }
    meta.update(image.info.get("artgen", {}))
    out = save_image(image, studio.workdir.output_path("stylize"), metadata=meta)
    line = f"{studio.workdir.relative(out)}: {image.width}x{image.height}, {method}" + (
        f", strength {float(strength):g}" if method == "fast" else ""
    )
    return str(out), str(out), line


def _optimise(photo: Path, styles: list[Path], common: dict, steps: int | None, progress):
    """Gatys et al.'s optimisation with the progress bar moved every 10 steps."""
    from ..images import to_pil
    from ..style_transfer import StyleConfig, stylize_tensor

    options = StyleConfig(steps=steps, save_every=10, progress=False, **common)
    total = steps or 300

    def moved(image, step):
        if progress is not None:
            progress(min(step / total, 0.99), desc=f"optimising: step {step}")

    if progress is not None:
        progress(0.0, desc="building the encoder")
    tensor, settings = stylize_tensor(str(photo), [str(s) for s in styles], options, callbacks=[moved])
    image = to_pil(tensor[0])
    image.info["artgen"] = settings
    return image


def build(studio):
    """Add the Stylise tab's components and events to the current ``gr.Blocks``; returns its form fields by name."""
    import gradio as gr

    with gr.Row():
        with gr.Column():
            photo = gr.Image(
                type="filepath", label="Photo", sources=["upload", "clipboard"], elem_id="stylize-photo", height=320
            )
            styles = gr.File(
                label="Style pictures (one or more)",
                file_count="multiple",
                file_types=["image"],
                elem_id="stylize-styles",
            )
            weights = gr.Textbox(
                label="Blend weights", placeholder="e.g. 0.7, 0.3 (empty: equal)", elem_id="stylize-weights"
            )
        with gr.Column():
            result = gr.Image(type="filepath", label="Result", interactive=False, elem_id="stylize-result", height=320)
            download = gr.File(label="PNG with its settings", interactive=False, elem_id="stylize-download")
            info = gr.Textbox(label="Saved", interactive=False, elem_id="stylize-info")
    with gr.Row():
        method = gr.Radio(
            ["fast", "optimise"],
            value="fast",
            label="Method",
            info="fast: one pass; optimise: Gatys et al., slower and finer",
            elem_id="stylize-method",
        )
        strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength (fast)", elem_id="stylize-strength")
        size = gr.Slider(64, 2048, value=512, step=32, label="Size (long side, px)", elem_id="stylize-size")
        steps = gr.Number(
            value=0, precision=0, minimum=0, label="Steps (optimise; 0: default)", elem_id="stylize-steps"
        )
    with gr.Row():
        keep = gr.Checkbox(label="Keep the photo's colours", elem_id="stylize-keep")
        seamless = gr.Checkbox(label="Seamless (tiles the plane)", elem_id="stylize-seamless")
        go = gr.Button("Stylise", variant="primary", elem_id="stylize-run")
        as_photo = gr.Button("Use result as photo", size="sm")
        as_style = gr.Button("Add result as style", size="sm")

    def handler(photo, styles, weights, method, strength, size, keep, seamless, steps, progress=gr.Progress()):  # noqa: B008 (how Gradio injects its progress tracker)
        return studio.shown(
            run_stylize, studio, photo, styles, weights, method, strength, size, keep, seamless, steps, progress
        )

    go.click(
        handler,
        [photo, styles, weights, method, strength, size, keep, seamless, steps],
        [result, download, info],
        concurrency_limit=1,
    )
    as_photo.click(lambda r: r, [result], [photo])
    as_style.click(
        lambda r, s: ([*(x if isinstance(x, str) else x.name for x in (s or []))] + ([r] if r else [])) or None,
        [result, styles],
        [styles],
    )
    return {
        "photo": photo,
        "styles": styles,
        "weights": weights,
        "method": method,
        "strength": strength,
        "size": size,
        "steps": steps,
        "keep": keep,
        "seamless": seamless,
    }
