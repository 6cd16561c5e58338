"""Write a day's newsletter as ``output/newsletter/DATE.html`` and ``DATE.txt`` (atomic replace)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bitbybit_assets.output_files import write_text_atomic
from bitbybit_base import settings


def newsletter_dir(base: Path | None = None) -> Path:
    return (base or settings.output_dir()) / "newsletter"


def write_newsletter_files(day: date, html: str, text: str, base: Path | None = None) -> tuple[Path, Path]:
    """Write both versions of ``day``; returns (html path, text path)."""
    folder = newsletter_dir(base)
    html_path = folder / f"{day.isoformat()}.html"
    text_path = folder / f"{day.isoformat()}.txt"
    write_text_atomic(html_path, html)
    write_text_atomic(text_path, text)
    return html_path, text_path
