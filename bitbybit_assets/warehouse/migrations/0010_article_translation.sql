-- dialects: postgres
-- Translation provenance of a pick (filtered_articles, ingest/translation.py): the title as published,
-- its language and the LLM model that translated it. NULL on untranslated articles.
ALTER TABLE articles
    ADD COLUMN IF NOT EXISTS original_title TEXT,
    ADD COLUMN IF NOT EXISTS original_language TEXT,
    ADD COLUMN IF NOT EXISTS translated_by TEXT;
