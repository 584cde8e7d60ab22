"""Device choice, numeric precision and seeding, shared by every head.

``resolve_device("auto")`` picks CUDA, then Apple MPS, then the CPU. ``Precision``
wraps autocast and, for fp16 only, a gradient scaler.
"""

from __future__ import annotations

import contextlib
import functools
import random
from dataclasses import dataclass

import torch

from . import distributed
from .errors import ArgumentError

PRECISIONS = ("fp32", "bf16", "fp16")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a usable :class:`torch.device`.

    An unavailable device raises :class:`UsageError` (exit code 2 on the command line).
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec in ("auto", "cuda") and torch.cuda.is_available() and distributed.requested():
        # one GPU per process under torchrun
        return torch.device("cuda", distributed.local_rank())
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise ArgumentError("device", "mps: Apple MPS is not available on this machine")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ArgumentError("device", f"{spec}: CUDA is not available on this machine (try cpu)")
        if spec == "cuda":
            return torch.device("cuda")
        index_text = spec.split(":", 1)[1]
        if not index_text.isdigit():
            raise ArgumentError("device", f"{spec}: expected cuda:N with N a GPU number")
        index = int(index_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise ArgumentError("device", f"{spec}: only {count} CUDA device(s) present (cuda:0..cuda:{count - 1})")
        return torch.device("cuda", index)
    raise ArgumentError("device", f"{spec!r}: expected auto, cpu, cuda, cuda:N or mps")


@dataclass(frozen=True)
class Precision:
    """Mixed-precision policy for one device: autocast dtype and optional grad scaler."""

    name: str
    device: torch.device

    @classmethod
    def create(cls, name: str, device: torch.device) -> Precision:
        """The precision ``name`` (fp32, bf16, fp16; None means fp32) on ``device``.

        Raises:
            ArgumentError: an unknown name, or a precision the device cannot run (fp16 on a CPU, bf16 on a GPU without it).
        """
        name = (name or "fp32").lower()
        if name not in PRECISIONS:
            raise ArgumentError("precision", f"{name!r}: expected one of {', '.join(PRECISIONS)}")
        if name == "fp16" and device.type == "cpu":
            raise ArgumentError("precision", "fp16 is not supported on the CPU; use bf16 or fp32")
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ArgumentError("precision", "bf16: this GPU has no bfloat16 support; use fp16 or fp32")
        return cls(name, device)

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype autocast computes in (float32, bfloat16 or float16)."""
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def autocast(self):
        """A context manager running the forward pass in this precision."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A GradScaler for fp16 (which needs loss scaling), else None."""
        if self.name != "fp16":
            return None
        return torch.amp.GradScaler(self.device.type)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy (when installed) and torch on every device.

    String hashing (``PYTHONHASHSEED``) is fixed when the interpreter starts and
    cannot be changed from inside it; artgen's results do not depend on it.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with torch wheels
        pass


def get_rng_state() -> dict:
    """Every global random state, in a form ``torch.load(weights_only=True)`` accepts."""
    state = {
        "torch": torch.get_rng_state(),
        "python": _python_state_to_tensor(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {
            "keys": torch.from_numpy(keys.astype("int64")),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        }
    except ImportError:  # pragma: no cover
        pass
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(_python_state_from_tensor(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
    if "numpy" in state:
        import numpy as np

        np_state = state["numpy"]
        keys = np_state["keys"].numpy().astype("uint32")
        np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached"]))


def _python_state_to_tensor(state) -> dict:
    version, internal, gauss = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _python_state_from_tensor(state: dict):
    return (state["version"], tuple(int(v) for v in state["internal"].tolist()), state["gauss"])


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (for honest timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@contextlib.contextmanager
def cudnn_benchmark(device: torch.device):
    """On a CUDA device, let cuDNN time its convolution algorithms and keep the fastest inside the block.

    ``torch.backends.cudnn.benchmark`` is process-wide: the previous value is
    restored when the block ends, also on an error. Elsewhere this changes nothing.
    Worth it for loops that run the same shapes many times (style transfer).
    """
    if torch.device(device).type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def set_flush_denormal(enabled: bool) -> bool:
    """Treat denormal floats as zero (``torch.set_flush_denormal``) on the calling thread.

    The mode is per thread: PyTorch's CPU worker threads keep computing with
    denormals, and there is no public API to reach them, so code that must avoid
    denormals on every thread keeps them out of its tensors instead (as
    :func:`artgen.optim.make_adam` does for Adam's moment estimates).
    Returns False where the CPU cannot flush denormals (not x86 with SSE3).
    """
    return torch.set_flush_denormal(enabled)


def flush_denormal_enabled() -> bool:
    """Whether the calling thread currently flushes denormals (read by computing with one)."""
    return bool((torch.tensor(1e-39, dtype=torch.float32) * 1.0).item() == 0.0)


BF16_CPU_FLAGS = ("amx_tile", "avx512_bf16")  # x86 units that multiply bfloat16 natively


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX tiles or AVX-512 BF16).

    Read from the ``flags`` lines of Linux's ``/proc/cpuinfo``; False where that
    file is missing (other systems) or names neither flag. Cached for the process.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return bool(set(line.split(":", 1)[-1].split()) & set(BF16_CPU_FLAGS))
    except OSError:
        pass
    return False


def auto_precision(
    device: torch.device, *, loss_scaling: bool = True, cpu_bf16: bool = False, bf16_supported: bool | None = None
) -> str:
    """What ``precision="auto"`` means on ``device``: the one rule every head uses.

    - CUDA: bf16 where the GPU supports it; otherwise fp16 where the caller has loss
      scaling (training, through :meth:`Precision.make_scaler`), else fp32 (style
      transfer's L-BFGS has none, and fp16 gradients could underflow).
    - CPU: bf16 only when ``cpu_bf16`` asks for it and the CPU multiplies bfloat16
      natively (AMX or AVX-512 BF16, :func:`cpu_has_fast_bf16`); else fp32.
    - MPS and others: fp32.

    ``bf16_supported`` overrides the hardware probe (None: ask the device).
    Returns ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    """
    if device.type == "cuda":
        if bf16_supported if bf16_supported is not None else torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp16" if loss_scaling else "fp32"
    if device.type == "cpu" and cpu_bf16:
        return "bf16" if (bf16_supported if bf16_supported is not None else cpu_has_fast_bf16()) else "fp32"
    return "fp32"


CONSTANT_CACHE_SIZE = 64  # (value, device, dtype) triples kept; a hot path uses a handful


def constant(value: float, like: torch.Tensor) -> torch.Tensor:
    """A cached 0-dim tensor holding ``value`` with ``like``'s dtype and device.

    For hot paths that would otherwise build the same small tensor at every step.
    The tensor is shared between callers: read it, never write to it. At most
    :data:`CONSTANT_CACHE_SIZE` tensors are kept (least recently used dropped first).
    """
    return _constant(value, like.device, like.dtype)


@functools.lru_cache(maxsize=CONSTANT_CACHE_SIZE)
def _constant(value: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.full((), value, dtype=dtype, device=device)
