"""The ``replay`` job (Dagster UI: Launchpad with config, or ``bitbybit replay``): one op that runs
:func:`~bitbybit_assets.replay.run.replay_days` and reports the diff as metadata tables on the asset
``replays/<name>`` (so every replay is listed in the asset catalogue, never on a published asset)."""

from datetime import date
from typing import Any

import dagster as dg
import polars as pl
import yaml

from bitbybit_assets.replay.run import replay_days
from bitbybit_assets.replay.settings import replay_settings
from bitbybit_base.settings import SettingsError
from resources.embeddings import EmbeddingModel
from resources.lakehouse import Lakehouse
from resources.settings import RunSettings

REPLAY_JOB_NAME = "replay"
OP_NAME = "replay_days"


class ReplayConfig(dg.Config):
    start: str
    end: str
    name: str
    # the settings keys to change, as YAML, e.g. "curation: {top_n: 12, weights: {relevance: 0.8}}"
    overrides: str = "{}"
    source: str = "replay config"  # what the overrides came from (named in validation errors)
    use_labels: bool = True  # evaluation figures on labelled days (../shared/data/labels, evaluation/labels)


def _table(df: pl.DataFrame) -> dg.TableMetadataValue:
    def kind(dtype: pl.DataType) -> str:
        return "int" if dtype.is_integer() else "float" if dtype.is_float() else "string"

    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: (v if isinstance(v, int | float) or v is None else str(v)) for k, v in r.items()})
                 for r in df.iter_rows(named=True)],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, kind(t)) for c, t in df.schema.items()]),
    )


def labelled_days():
    """The labelled days, or ``None`` when no label folder is present."""
    from evaluation.dataset import load_labelled_days

    try:
        return load_labelled_days()
    except FileNotFoundError:
        return None


@dg.op(name=OP_NAME, description="Re-curate past days under other settings into replays/<name>; diff them.")
def replay_op(context: dg.OpExecutionContext, config: ReplayConfig, lakehouse: Lakehouse,
              embeddings: EmbeddingModel, settings: RunSettings) -> None:
    overrides = yaml.safe_load(config.overrides) or {}
    if not isinstance(overrides, dict):
        raise SettingsError(f"{config.source}: overrides must be a mapping of settings")
    replayed = replay_settings(settings, overrides, config.source)
    model = embeddings
    if replayed.embeddings.model != embeddings.model_id:  # another model: encode what is not stored for it
        e = replayed.embeddings
        model = EmbeddingModel(model_name=e.model, batch_size=e.batch_size, device=e.device, backend=e.backend)
    result = replay_days(lakehouse, config.name, replayed, date.fromisoformat(config.start),
                         date.fromisoformat(config.end), embeddings=model,
                         labelled=labelled_days() if config.use_labels else None)
    moved = result.changes.filter(pl.col("change") != "same")
    context.log_event(dg.AssetMaterialization(
        asset_key=["replays", config.name],
        description=f"replay {config.name} of {config.start}..{config.end}",
        metadata={
            "root": dg.MetadataValue.path(result.root),
            "overrides": dg.MetadataValue.json(overrides),
            "days": _table(result.summary),
            "pick_changes": _table(moved.head(200)),
            "added": int(result.summary["added"].sum()),
            "removed": int(result.summary["removed"].sum()),
            "rank_changed": int(result.summary["rank_changed"].sum()),
            "stories_lost": int(result.summary["stories_lost"].sum()),
            "texts_encoded": result.encoded,
        },
    ))


@dg.job(name=REPLAY_JOB_NAME, description="What-if replay of past days under other settings (see README: Backfills).")
def replay_job() -> None:
    replay_op()


def replay_run_config(start: date, end: date, name: str, overrides: dict[str, Any], source: str,
                      use_labels: bool = True) -> dict:
    config = {"start": start.isoformat(), "end": end.isoformat(), "name": name,
              "overrides": yaml.safe_dump(overrides, sort_keys=False),
              "source": source, "use_labels": use_labels}
    return {"ops": {OP_NAME: {"config": config}}}
