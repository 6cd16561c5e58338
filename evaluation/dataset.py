"""The labelled days: the shared dev set plus the project's own labels, merged per day.

Label folders hold ``items.tsv``, ``labels.tsv`` and ``ideal.tsv`` (format of
``../shared/data/labels/README.md``). Work-in-progress parts (``parts/<X>_items.tsv``,
``<X>_labels.tsv``, ``<X>_ideal.tsv``) are read when a folder has no merged ``labels.tsv``; a day of
a part counts only once every one of its items is labelled. A day found in several folders is taken
from the first. Story keys are global across merged folders (``label_set`` "merged"); a part's keys
are only compared inside that part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
SHARED_LABELS = ROOT.parent / "shared" / "data" / "labels"
OWN_LABELS = ROOT / "evaluation" / "labels"
DEFAULT_FOLDERS = (SHARED_LABELS, OWN_LABELS)


def _read_tsv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", quote_char=None, infer_schema=False)


def _typed_labels(df: pl.DataFrame, label_set: str) -> pl.DataFrame:
    return df.with_columns(
        pl.col("date").str.to_date(),
        pl.col("ad").cast(pl.Int32),
        pl.col("relevance").cast(pl.Int32),
        pl.col("note").fill_null(""),
        pl.lit(label_set).alias("label_set"),
    )


def _typed_ideal(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("date").str.to_date(), pl.col("rank").cast(pl.Int32))


@dataclass
class LabelledDays:
    labels: pl.DataFrame  # labels.tsv rows + label_set
    ideal: pl.DataFrame  # ideal.tsv rows (days without an ideal list are absent)
    sources: dict[str, str]  # day -> where it came from

    @property
    def days(self) -> list:
        return sorted(self.labels["date"].unique().to_list())


def _complete_part(folder: Path, prefix: str) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    items_p, labels_p = folder / f"{prefix}_items.tsv", folder / f"{prefix}_labels.tsv"
    if not (items_p.exists() and labels_p.exists()):
        return None
    items = _read_tsv(items_p)
    labels = _read_tsv(labels_p)
    need = items.group_by("date").len()
    have = labels.filter(pl.col("relevance").is_not_null() & pl.col("story").is_not_null())
    have = have.group_by("date").len()
    done = need.join(have, on="date", suffix="_l").filter(pl.col("len") == pl.col("len_l"))["date"].to_list()
    labels = labels.filter(pl.col("date").is_in(done))
    ideal_p = folder / f"{prefix}_ideal.tsv"
    ideal = _read_tsv(ideal_p).filter(pl.col("date").is_in(done)) if ideal_p.exists() else pl.DataFrame()
    return labels, ideal


def _set_name(folder: Path) -> str:
    """Merged folders share one story-key space (the project's keys follow the shared set's)."""
    return "merged"


def _folder_sets(folder: Path) -> list[tuple[str, pl.DataFrame, pl.DataFrame]]:
    """(label_set, labels, ideal) read from one folder (merged files, else complete days of parts)."""
    if (folder / "labels.tsv").exists():
        ideal_p = folder / "ideal.tsv"
        ideal = _read_tsv(ideal_p) if ideal_p.exists() else pl.DataFrame()
        return [(_set_name(folder), _read_tsv(folder / "labels.tsv"), ideal)]
    out = []
    parts = folder / "parts"
    for items_p in sorted(parts.glob("*_items.tsv")) if parts.exists() else []:
        prefix = items_p.name[: -len("_items.tsv")]
        got = _complete_part(parts, prefix)
        if got is not None and got[0].height:
            out.append((f"{folder.name}/parts/{prefix}", got[0], got[1]))
    return out


def load_labelled_days(folders: tuple[Path, ...] | list[Path] = DEFAULT_FOLDERS) -> LabelledDays:
    labels, ideals, sources = [], [], {}
    for folder in folders:
        for name, lab, ideal in _folder_sets(Path(folder)):
            lab = _typed_labels(lab, name)
            fresh = [d for d in lab["date"].unique().to_list() if str(d) not in sources]
            lab = lab.filter(pl.col("date").is_in(fresh))
            if not lab.height:
                continue
            sources.update({str(d): name for d in fresh})
            labels.append(lab)
            if ideal.height:
                ideal = _typed_ideal(ideal).filter(pl.col("date").is_in(fresh))
                ideals.append(ideal.select("date", "rank", "story", "feed_slug", "entry_id", "title"))
    if not labels:
        raise FileNotFoundError(f"no labelled days in {', '.join(map(str, folders))}")
    lab = pl.concat(labels, how="vertical_relaxed").sort("date", maintain_order=True)
    ideal = (
        pl.concat(ideals, how="vertical_relaxed")
        if ideals
        else pl.DataFrame(schema={"date": pl.Date, "rank": pl.Int32, "story": pl.String})
    )
    return LabelledDays(lab, ideal, sources)
