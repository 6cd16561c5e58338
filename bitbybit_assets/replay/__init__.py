"""What-if replays: re-curate past days under other settings (or another model) into
``<lakehouse root>/replays/<name>/`` and diff them against what was published."""
