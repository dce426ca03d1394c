"""Tesseract's Korean model (kor.traineddata) for `lang=ko`: where it is, and how it is provisioned
once, at model-preparation time (`python -m inference --prepare-models`), never at request time.

Debian's package is pinned and the file's checksum checked: the model read is the one measured.
Where it cannot be had, `lang=ko` is answered 501 LanguageNotAvailable, saying what to install.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ocr_contract import ApiError, ErrorCode

from ..runtime.models import cache_dir

log = logging.getLogger(__name__)

LANGUAGE = "kor"
TRAINEDDATA = f"{LANGUAGE}.traineddata"
# Debian's package, pinned: bookworm's (and Ubuntu 24.04's) tesseract-ocr-kor, tessdata_fast 4.1.0.
DEB_PACKAGE = "tesseract-ocr-kor"
DEB_VERSION = "1:4.1.0-2"
TRAINEDDATA_SHA256 = "6b85e11d9bbf07863b97b3523b1b112844c43e713df8b66418a081fd1060b3b2"
TESSDATA_ENV = "OCR_TESSDATA_DIR"
SYSTEM_TESSDATA = (Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"))

INSTALL_ADVICE = (
    "Korean (lang=ko) needs tesserocr (pip install -r inference/requirements.txt) and Tesseract's "
    f"Korean model {TRAINEDDATA} (run `python -m inference --prepare-models`, or apt-get install "
    f"{DEB_PACKAGE}, or set {TESSDATA_ENV} to a folder holding it)"
)


def language_not_available(reason: str) -> ApiError:
    return ApiError(ErrorCode.LANGUAGE_NOT_AVAILABLE, f"Korean text cannot be read here: {reason}. {INSTALL_ADVICE}")


def _cache_tessdata() -> Path:
    return cache_dir() / "tessdata"


def tessdata_dir() -> Path | None:
    """The folder holding kor.traineddata: $OCR_TESSDATA_DIR, the model cache
    (`--prepare-models` puts it there), or the system's (apt-get install tesseract-ocr-kor)."""
    override = os.environ.get(TESSDATA_ENV)
    candidates = [Path(override)] if override else [_cache_tessdata(), *SYSTEM_TESSDATA]
    return next((folder for folder in candidates if (folder / TRAINEDDATA).is_file()), None)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(timeout_s: float = 120.0) -> Path | None:
    """Put kor.traineddata in the model cache (at model-preparation time, never at request time):
    copied from the system's tessdata, or extracted from Debian's pinned package with
    `apt-get download` and `dpkg-deb -x` (no root needed). Its checksum is checked. Returns where
    it is, or None (with a warning saying what to install) where it cannot be had."""
    target = _cache_tessdata() / TRAINEDDATA
    if target.is_file() and _sha256(target) == TRAINEDDATA_SHA256:
        return target
    source = next((folder / TRAINEDDATA for folder in SYSTEM_TESSDATA if (folder / TRAINEDDATA).is_file()), None)
    with tempfile.TemporaryDirectory(prefix="kor-deb-") as tmp:
        if source is None:
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                log.warning("Korean: %s not found and apt-get is not available; %s", TRAINEDDATA, INSTALL_ADVICE)
                return None
            try:
                subprocess.run(
                    ["apt-get", "download", f"{DEB_PACKAGE}={DEB_VERSION}"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    timeout=timeout_s,
                )
                deb = next(Path(tmp).glob("*.deb"))
                subprocess.run(
                    ["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")],
                    check=True,
                    capture_output=True,
                    timeout=timeout_s,
                )
            except (subprocess.SubprocessError, OSError, StopIteration) as exc:
                stderr = getattr(exc, "stderr", b"") or b""
                log.warning(
                    "Korean: could not fetch %s=%s (%s %s); %s",
                    DEB_PACKAGE,
                    DEB_VERSION,
                    exc,
                    stderr.decode(errors="replace")[-300:],
                    INSTALL_ADVICE,
                )
                return None
            source = next((Path(tmp) / "x").rglob(TRAINEDDATA), None)
            if source is None:
                log.warning("Korean: %s holds no %s", DEB_PACKAGE, TRAINEDDATA)
                return None
        digest = _sha256(source)
        if digest != TRAINEDDATA_SHA256:
            log.warning(
                "Korean: %s has sha256 %s, not the pinned %s (%s %s): used, but not the file measured",
                source,
                digest,
                TRAINEDDATA_SHA256,
                DEB_PACKAGE,
                DEB_VERSION,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_target = target.with_suffix(f".tmp{os.getpid()}")
        shutil.copyfile(source, tmp_target)
        tmp_target.replace(target)
    log.info("Korean: %s ready in %s", TRAINEDDATA, target.parent)
    return target
