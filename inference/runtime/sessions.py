"""onnxruntime sessions: execution provider choice, threads, and the check that a GPU really runs.

onnxruntime-gpu silently falls back to the CPU when CUDA or cuDNN libraries are missing, which
would turn a GPU endpoint into a slow, expensive CPU one. So the providers a session really got
are checked, and `cuda` fails loudly when CUDA is not among them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

import onnxruntime as ort

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES = ("cpu", "cuda", "auto")

# CUDA settings for this workload, where every request brings a new input shape (each image's
# size, each batch of strips' width):
# - cuDNN's algorithm search: onnxruntime's default, EXHAUSTIVE, benchmarks every convolution
#   algorithm for each new shape, so each new width pays a search; HEURISTIC picks from cuDNN's
#   own heuristics at no cost per shape.
# - arena growth: the default doubles the memory arena when it runs short, so a few large
#   inputs reserve far more GPU memory than they use; kSameAsRequested grows by what is needed.
CUDA_OPTIONS = {
    "cudnn_conv_algo_search": "HEURISTIC",
    "arena_extend_strategy": "kSameAsRequested",
    "cudnn_conv_use_max_workspace": "1",
    "do_copy_in_default_stream": "1",
}


# Host memory, which must stay flat however many image sizes the server sees: onnxruntime's CPU
# arena keeps every block some input shape once needed, so it is off, and glibc is told to reuse
# its heap rather than map and unmap each large buffer on every model call, which made the
# arena-less engine slower (docs/decisions.md, 2026-11-21, CPU memory arenas off).
MALLOC_KEEP_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory_for_reuse() -> bool:
    """Ask glibc to serve allocations under 64 MB from its heap and keep up to 128 MB freed at its
    top, instead of returning them to the system after every model call. False where the C
    library is not glibc (macOS, musl): nothing to tune there."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_KEEP_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 * MALLOC_KEEP_BYTES)
    )


def cpu_count() -> int:
    """CPUs this process may use (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ProviderError(RuntimeError):
    """The requested execution provider cannot run here."""


def requested_providers(choice: str) -> list[str]:
    if choice not in PROVIDER_CHOICES:
        raise ProviderError(f"unknown provider {choice!r}; choose one of {', '.join(PROVIDER_CHOICES)}")
    available = ort.get_available_providers()
    if choice == "cpu":
        return [CPU]
    if choice == "cuda" and CUDA not in available:
        raise ProviderError(
            f"provider 'cuda' was requested but this onnxruntime build offers only {available}: "
            "install onnxruntime-gpu 1.31 with CUDA 13 and cuDNN 9"
        )
    if CUDA in available:
        return [CUDA, CPU]
    return [CPU]


def _with_options(providers: list[str]) -> list:
    return [(CUDA, dict(CUDA_OPTIONS)) if p == CUDA else p for p in providers]


def create_session(model: bytes, name: str, choice: str, threads: int, quiet: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False  # see keep_freed_memory_for_reuse
    if quiet:  # errors only (SLANet-plus's decoding loop warns of output shapes at every step)
        options.log_severity_level = 3
    # onnxruntime's idle threads spin, waiting for the next parallel section: with several
    # requests in flight they burn the cores another request's decoding, cropping and HTTP need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # Activations can turn denormal too: flush them to zero on the CPU threads (same reason as
    # models.prepared_model_bytes).
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    providers = requested_providers(choice)
    session = ort.InferenceSession(model, options, providers=_with_options(providers))
    got = session.get_providers()
    if choice == "cuda" and got[0] != CUDA:
        raise ProviderError(
            f"{name}: CUDA was requested but the session runs on {got}; the CUDA 13 / cuDNN 9 "
            "libraries are probably missing or no GPU is visible"
        )
    if choice == "auto" and CUDA in providers and got[0] != CUDA:
        log.warning("%s: CUDA is installed but unusable, running on %s", name, got[0])
    log.info("%s runs on %s", name, got[0])
    return session
