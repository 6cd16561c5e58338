"""Editorial overrides: the desk's pins, drops, swaps, reorders and edits, stored as data
(:mod:`.store`), applied by the pipeline (:mod:`.apply`) and snapshotted per day (:mod:`.assets`)."""
