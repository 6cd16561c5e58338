-- dialects: postgres
-- What a run ran on (its `bitbybit/compute` tag: cpu or gpu), for the cost_per_newsletter model.
ALTER TABLE pipeline_runs ADD COLUMN IF NOT EXISTS compute TEXT;
