"""Write a day's newsletter as ``output/newsletter/DATE.html`` and ``DATE.txt`` (atomic replace)."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

from bitbybit_assets import settings


def newsletter_dir(base: Path | None = None) -> Path:
    return (base or settings.output_dir()) / "newsletter"


def _atomic_write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_newsletter_files(day: date, html: str, text: str, base: Path | None = None) -> tuple[Path, Path]:
    """Write both versions of ``day``; returns (html path, text path)."""
    folder = newsletter_dir(base)
    html_path = folder / f"{day.isoformat()}.html"
    text_path = folder / f"{day.isoformat()}.txt"
    _atomic_write(html_path, html)
    _atomic_write(text_path, text)
    return html_path, text_path
