{#- One row per loaded day: the input -> output funnel, fetch health, processing time and the LLM
    cost of the day's newsletter from the ledger. -#}

with loads as (
    select *
    from {{ source('warehouse', 'stg_loads') }}
    where {{ day_filter('partition_date') }}
),

fetches as (
    select
        partition_date,
        count(*) as feeds_total,
        {{ count_if("fetch_status in ('ok', 'not_modified')") }} as feeds_ok,
        {{ count_if("fetch_status = 'error'") }} as fetch_errors,
        {{ as_bigint('sum(coalesce(elapsed_ms, 0))') }} as fetch_ms
    from {{ source('warehouse', 'stg_feed_fetches') }}
    where {{ day_filter('partition_date') }}
    group by partition_date
),

articles as (
    select
        partition_date,
        count(*) as total_articles,
        {{ count_if('passed_filter') }} as passed_content_filter,
        {{ count_if('passed_ad_detection') }} as passed_ad_detection,
        {{ count_if('passed_quality_scoring') }} as passed_quality_scoring,
        {{ count_if('selected') }} as selected_articles,
        {{ count_if('is_duplicate') }} as duplicates,
        {{ count_if('is_advertisement') }} as advertisements
    from {{ source('warehouse', 'stg_articles') }}
    where {{ day_filter('partition_date') }}
    group by partition_date
),

llm as (
    select
        partition_date,
        count(*) as llm_calls,
        {{ count_if('cache_hit') }} as llm_cache_hits,
        {{ count_if("status <> 'ok'") }} as llm_failed_calls,
        {{ as_bigint('sum(coalesce(input_tokens, 0))') }} as llm_input_tokens,
        {{ as_bigint('sum(coalesce(output_tokens, 0))') }} as llm_output_tokens,
        {{ as_bigint('sum(coalesce(latency_ms, 0))') }} as llm_latency_ms,
        {{ as_double('sum(coalesce(cost_usd, 0))') }} as llm_cost_usd
    from {{ source('warehouse', 'stg_llm_calls') }}
    where {{ day_filter('partition_date') }}
    group by partition_date
),

newsletters as (
    select partition_date, newsletter_id, article_count, llm_cost_usd
    from {{ source('warehouse', 'stg_newsletters') }}
    where {{ day_filter('partition_date') }}
)

select
    l.partition_date,
    l.pipeline_run_id,
    l.dagster_run_id,
    coalesce(f.feeds_total, 0) as feeds_total,
    coalesce(f.feeds_ok, 0) as feeds_ok,
    coalesce(f.fetch_errors, 0) as fetch_errors,
    coalesce(a.total_articles, 0) as total_articles,
    coalesce(a.passed_content_filter, 0) as passed_content_filter,
    coalesce(a.passed_ad_detection, 0) as passed_ad_detection,
    coalesce(a.passed_quality_scoring, 0) as passed_quality_scoring,
    coalesce(a.selected_articles, 0) as selected_articles,
    {{ as_bigint('coalesce(n.article_count, 0)') }} as newsletter_articles,
    coalesce(a.duplicates, 0) as duplicates,
    coalesce(a.advertisements, 0) as advertisements,
    {{ round_to(safe_ratio('coalesce(n.article_count, 0)', 'a.total_articles'), 4) }} as output_ratio,
    case when n.newsletter_id is null then 0 else 1 end as newsletters_generated,
    -- wall time of the run that loaded the day, from its start to the load, shared across the days
    -- it covered (a single-run backfill)
    {{ round_to(seconds_between('l.run_started_at', 'l.loaded_at') ~ ' / l.days_in_run', 2) }} as processing_time_seconds,
    {{ round_to('coalesce(f.fetch_ms, 0) / 1000.0', 2) }} as fetch_seconds,
    {{ round_to('coalesce(m.llm_latency_ms, 0) / 1000.0', 2) }} as llm_seconds,
    coalesce(m.llm_calls, 0) as llm_calls,
    coalesce(m.llm_cache_hits, 0) as llm_cache_hits,
    coalesce(m.llm_failed_calls, 0) as llm_failed_calls,
    coalesce(m.llm_input_tokens, 0) as llm_input_tokens,
    coalesce(m.llm_output_tokens, 0) as llm_output_tokens,
    {{ round_to('coalesce(m.llm_cost_usd, 0)', 6) }} as llm_cost_usd,
    -- every ledger call of the day (retries and re-runs included) charged to the day's newsletter
    case when n.newsletter_id is not null then {{ round_to('coalesce(m.llm_cost_usd, 0)', 6) }} end
        as cost_per_newsletter_usd,
    {{ round_to(safe_ratio('coalesce(m.llm_cost_usd, 0)', 'n.article_count'), 6) }} as cost_per_article_usd,
    l.loaded_at
from loads as l
left join fetches as f on f.partition_date = l.partition_date
left join articles as a on a.partition_date = l.partition_date
left join llm as m on m.partition_date = l.partition_date
left join newsletters as n on n.partition_date = l.partition_date
