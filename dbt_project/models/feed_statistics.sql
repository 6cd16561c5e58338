{#- The seed's feed_statistics table, per feed per day. On PostgreSQL the table is created by the
    warehouse migrations (UUID key, FK to pipeline_runs) and this model only replaces days in it, so
    a full refresh is refused. -#}
{{ config(full_refresh=false) }}

with fetches as (
    select partition_date, feed_name, feed_url, fetch_status, elapsed_ms
    from {{ source('warehouse', 'stg_feed_fetches') }}
    where {{ day_filter('partition_date') }}
),

articles as (
    select
        partition_date,
        feed_name,
        count(*) as total_articles,
        {{ count_if('passed_filter') }} as passed_content_filter,
        {{ count_if('passed_ad_detection') }} as passed_ad_detection,
        {{ count_if('passed_quality_scoring') }} as passed_quality_scoring,
        {{ count_if('selected') }} as final_articles,
        {{ count_if('is_duplicate') }} as duplicates,
        {{ count_if('is_advertisement') }} as advertisements
    from {{ source('warehouse', 'stg_articles') }}
    where {{ day_filter('partition_date') }}
    group by partition_date, feed_name
),

feeds as (
    select partition_date, feed_name from fetches
    union
    select partition_date, feed_name from articles
),

loads as (
    select partition_date, pipeline_run_id
    from {{ source('warehouse', 'stg_loads') }}
    where {{ day_filter('partition_date') }}
)

select
    {{ uuid_from_text(date_text('f.partition_date') ~ " || '/' || f.feed_name") }} as id,
    l.pipeline_run_id,
    f.feed_name,
    x.feed_url,
    cast(coalesce(a.total_articles, 0) as integer) as total_articles,
    cast(coalesce(a.passed_content_filter, 0) as integer) as passed_content_filter,
    cast(coalesce(a.passed_ad_detection, 0) as integer) as passed_ad_detection,
    cast(coalesce(a.passed_quality_scoring, 0) as integer) as passed_quality_scoring,
    cast(coalesce(a.final_articles, 0) as integer) as final_articles,
    -- seconds spent fetching this feed's document: the one stage timed per feed (the day's
    -- pipeline time is in daily_pipeline_metrics)
    cast({{ round_to('coalesce(x.elapsed_ms, 0) / 1000.0', 2) }} as decimal(8, 2)) as processing_time_seconds,
    current_timestamp as created_at,
    f.partition_date,
    x.fetch_status,
    cast(case when x.fetch_status = 'error' then 1 else 0 end as integer) as fetch_errors,
    cast(coalesce(a.duplicates, 0) as integer) as duplicates,
    cast({{ round_to(safe_ratio('a.duplicates', 'a.total_articles'), 4) }} as decimal(5, 4)) as duplicate_rate,
    cast(coalesce(a.advertisements, 0) as integer) as advertisements,
    cast({{ round_to(safe_ratio('a.advertisements', 'a.total_articles'), 4) }} as decimal(5, 4)) as ad_rate
from feeds as f
left join fetches as x on x.partition_date = f.partition_date and x.feed_name = f.feed_name
left join articles as a on a.partition_date = f.partition_date and a.feed_name = f.feed_name
left join loads as l on l.partition_date = f.partition_date
