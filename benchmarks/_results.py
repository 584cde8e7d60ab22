"""Where benchmark results go: one JSON file per run under ``benchmarks/results/``, with the machine.

Every runner ends with::

    from benchmarks._results import machine_info, write_rows

    info = machine_info(threads=args.threads, device=str(device))   # before the timed work
    write_rows("classifier_speed", rows, machine=info, settings=vars(args))

or, for runners that write only when asked, ``add_record_flag(parser)`` and then
``record(args, "gan_speed", rows, info)``: ``--record`` writes the default file, ``--record FILE``
writes FILE.

``docs/benchmarks.md`` is generated from these files (``python -m benchmarks.make_docs``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def machine_info(threads: int | None = None, device: str = "cpu", packages: tuple[str, ...] = ()) -> dict:
    """What a timing depends on, taken at the start of a run.

    Args:
        threads: threads the run uses (``torch.get_num_threads()`` when None).
        device: the device the run measures ("cpu", "cuda", "cuda:1", "mps").
        packages: distribution names whose versions matter too (e.g. "onnxruntime").
    Returns:
        dict with cpu, cores, threads, torch_threads, load_average_before, versions (torch, python and
        ``packages``; None where not installed), git_commit, date (UTC, ISO 8601), device, gpu (the
        CUDA device's name, or None) and platform.
    """
    import torch

    versions: dict[str, str | None] = {"torch": torch.__version__, "python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    gpu = None
    if device.startswith("cuda") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before": _load_average(),
        "versions": versions,
        "git_commit": _git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "gpu": gpu,
        "platform": platform.platform(),
    }


def write_rows(
    name: str, rows: list[dict], *, machine: dict | None = None, out: str | Path | None = None, **extra
) -> Path:
    """Write one run's rows as ``benchmarks/results/<name>_<date>.json`` (``_2``, ``_3``... if taken).

    Args:
        name: the benchmark's module name, e.g. "classifier_speed".
        rows: one dict per measured line; keys become the columns of docs/benchmarks.md.
        machine: ``machine_info()`` from the start of the run (taken now when None); the load
            average at the end is added as ``load_average_after``.
        out: a file to write instead of the default name.
        extra: more top-level fields (settings, ratios, notes...), stored as given.
    Returns:
        the path written.
    """
    machine = dict(machine) if machine is not None else machine_info()
    machine["load_average_after"] = _load_average()
    if out is None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stem = f"{name}_{machine['date'][:10]}"
        path, n = RESULTS / f"{stem}.json", 2
        while True:  # claim the name atomically: two runs finishing together never share a file
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                break
            except FileExistsError:
                path = RESULTS / f"{stem}_{n}.json"
                n += 1
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "machine": machine, **extra, "rows": rows}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path


def add_record_flag(parser: argparse.ArgumentParser) -> None:
    """Give a runner's parser ``--record [FILE]``: write the run's rows as JSON (see :func:`record`)."""
    parser.add_argument(
        "--record",
        nargs="?",
        const=True,
        default=None,
        metavar="FILE",
        help="write the rows with the machine to benchmarks/results/NAME_DATE.json (or to FILE)",
    )


def record(args: argparse.Namespace, name: str, rows: list[dict], machine: dict, **extra) -> Path | None:
    """Write ``rows`` through :func:`write_rows` when the run was given ``--record``; else do nothing.

    Args:
        args: the parsed arguments; every one but ``record`` is stored as ``settings``.
        name: the benchmark's module name.
        rows: one dict per measured line.
        machine: ``machine_info()`` from the start of the run.
        extra: more top-level fields, as for :func:`write_rows`.
    Returns:
        the path written, or None without ``--record``.
    Raises:
        ValueError: ``rows`` is empty (a run that measured nothing is not a result).
    """
    if not getattr(args, "record", None):
        return None
    if not rows:
        raise ValueError(f"{name}: --record given but the run measured no rows")
    settings = {k: v for k, v in vars(args).items() if k != "record"}
    out = None if args.record is True else args.record
    return write_rows(name, rows, machine=machine, out=out, settings=settings, **extra)
