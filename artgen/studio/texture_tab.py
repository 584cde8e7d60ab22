"""The Texture tab: a texture from sample pictures, with a 2x2 tiled preview to check the seams."""

from __future__ import annotations

from ..errors import UsageError

#: Longest side of the 2x2 preview, pixels.
PREVIEW_SIDE = 1024


def tiled(image, copies: int = 2):
    """``image`` repeated ``copies`` x ``copies`` times (a seam shows as a line through the middle), at most :data:`PREVIEW_SIDE` px."""
    from PIL import Image

    w, h = image.size
    sheet = Image.new("RGB", (w * copies, h * copies))
    for y in range(copies):
        for x in range(copies):
            sheet.paste(image.convert("RGB"), (x * w, y * h))
    scale = min(1.0, PREVIEW_SIDE / max(sheet.size))
    if scale < 1:
        sheet = sheet.resize(
            (max(1, round(sheet.width * scale)), max(1, round(sheet.height * scale))), Image.Resampling.LANCZOS
        )
    return sheet


def run_texture(studio, samples, size, seamless, steps, seed, progress=None):
    """Synthesise a texture from ``samples``; returns (texture path, tiled preview, download path, line).

    Raises:
        UsageError, ImageError: no or a refused picture, or a bad setting (one line).
    """
    from ..images import save_image
    from ..style_transfer import parse_size, texture

    files = [s if isinstance(s, str) else getattr(s, "name", s) for s in (samples or [])]
    if not files:
        raise UsageError("add at least one sample picture")
    paths = [studio.workdir.accept_image(f, "sample") for f in files]
    height, width = parse_size(size)
    if progress is not None:
        progress(0.05, desc=f"synthesising {width}x{height}")
    image = texture(
        [str(p) for p in paths],
        height=height,
        width=width,
        seamless=bool(seamless),
        steps=int(steps or 0) or None,
        seed=int(seed or 0),
        device=studio.device_name,
        progress=False,
    )
    meta = {"command": "studio texture", "examples": [p.name for p in paths], **image.info.get("artgen", {})}
    out = save_image(image, studio.workdir.output_path("texture"), metadata=meta)
    return (
        str(out),
        tiled(image),
        str(out),
        f"{studio.workdir.relative(out)}: {width}x{height}{', seamless' if seamless else ''}",
    )


def build(studio):
    """Add the Texture tab's components and events to the current ``gr.Blocks``; returns its form fields by name."""
    import gradio as gr

    with gr.Row():
        with gr.Column():
            samples = gr.File(
                label="Sample pictures (one or more)",
                file_count="multiple",
                file_types=["image"],
                elem_id="texture-samples",
            )
            with gr.Row():
                size = gr.Textbox(value="512", label="Size (WxH or one number)", elem_id="texture-size")
                steps = gr.Number(value=0, precision=0, minimum=0, label="Steps (0: default)", elem_id="texture-steps")
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="texture-seed")
            seamless = gr.Checkbox(value=True, label="Seamless (tiles the plane)", elem_id="texture-seamless")
            go = gr.Button("Make texture", variant="primary", elem_id="texture-run")
            result = gr.Image(
                type="filepath", label="Texture", interactive=False, elem_id="texture-result", height=300
            )
        with gr.Column():
            preview = gr.Image(
                type="pil",
                label="2x2 tiled preview (seams show as lines through the middle)",
                interactive=False,
                elem_id="texture-preview",
                height=520,
            )
            download = gr.File(label="PNG with its settings", interactive=False, elem_id="texture-download")
            info = gr.Textbox(label="Saved", interactive=False, elem_id="texture-info")

    def handler(samples, size, seamless, steps, seed, progress=gr.Progress()):  # noqa: B008 (how Gradio injects its progress tracker)
        return studio.shown(run_texture, studio, samples, size, seamless, steps, seed, progress)

    go.click(handler, [samples, size, seamless, steps, seed], [result, preview, download, info], concurrency_limit=1)
    return {"samples": samples, "size": size, "steps": steps, "seed": seed, "seamless": seamless}
