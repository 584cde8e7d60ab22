"""``artgen studio``: serve the local web page (needs the ``studio`` extra: ``pip install -e ".[studio]"``)."""

from __future__ import annotations


def add_parser(sub, name: str) -> None:
    """Register ``artgen studio`` and its flags on the sub-parsers ``sub`` under ``name``."""
    p = sub.add_parser(
        name,
        help="a local web page for every head (Gradio; the studio extra)",
        description="Serve artgen's web page on this machine: stylise, textures and GANs from a browser. "
        "It listens on 127.0.0.1 only, makes no share link and reads and writes only inside --workdir.",
    )
    p.add_argument(
        "--workdir",
        default="artgen-studio",
        metavar="DIR",
        help="the working folder: uploads, outputs and runs (default: ./%(default)s)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; anything but 127.0.0.1 lets other machines in (default: %(default)s)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s; the next free one when taken)")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=32,
        metavar="MB",
        help="largest picture the page accepts (default: %(default)g)",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="less output")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.set_defaults(func=run)


def run(args) -> int:
    """``artgen studio``: build the page and serve it until interrupted; returns 0.

    Raises:
        UsageError: Gradio is not installed, a bad ``--port`` or ``--max-upload-mb``, or an unusable ``--workdir`` (exit 2).
    """
    import importlib.util
    import logging

    from ..errors import UsageError

    if importlib.util.find_spec("gradio") is None:
        raise UsageError('artgen studio needs Gradio: pip install -e ".[studio]" (or pip install "artgen[studio]")')
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: expected 1 to 65535")
    if args.max_upload_mb <= 0:
        raise UsageError(f"--max-upload-mb {args.max_upload_mb:g}: expected a positive size")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("artgen.studio").warning(
            "artgen studio: listening on %s lets other machines open the page and run jobs in '%s'; use it on networks you trust",
            args.host,
            args.workdir,
        )
    from . import Studio, launch

    studio = Studio(args.workdir, device=args.device, max_upload_mb=args.max_upload_mb)
    port = _free_port(args.host, args.port)
    print(
        f"artgen studio on http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{port} (device {studio.describe_device()}, "
        f"working folder '{studio.workdir.root}'); Ctrl-C stops it"
    )
    launch(studio, host=args.host, port=port, open_browser=args.open, block=True)
    return 0


def _free_port(host: str, first: int) -> int:
    """``first``, or the next port up to ``first + 99`` that ``host`` can listen on."""
    import socket

    from ..errors import UsageError

    for port in range(first, min(first + 100, 65536)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            try:
                s.bind((host, port))
                return port
            except OSError:
                continue
    raise UsageError(f"no free port from {first} to {first + 99} on {host}; choose another --port")
