{#- Per feed, as of each day: what the feed produced over the last `yield_window_days` days
    (articles in, articles kept by the content filter, picks) and its yield. -#}
{%- set window = var('yield_window_days', 30) | int -%}

with days as (
    select distinct partition_date as as_of_date
    from {{ ref('feed_statistics') }}
    where {{ day_filter('partition_date') }}
),

stats as (
    select *
    from {{ ref('feed_statistics') }}
    where {{ day_filter('partition_date', window - 1) }}
)

select
    d.as_of_date as partition_date,
    s.feed_name,
    {{ window }} as window_days,
    count(*) as days_observed,
    {{ count_if('s.final_articles > 0') }} as days_with_picks,
    {{ as_bigint('sum(s.total_articles)') }} as total_articles,
    {{ as_bigint('sum(s.passed_content_filter)') }} as passed_content_filter,
    {{ as_bigint('sum(s.passed_quality_scoring)') }} as passed_quality_scoring,
    {{ as_bigint('sum(s.final_articles)') }} as final_articles,
    {{ as_bigint('sum(s.fetch_errors)') }} as fetch_errors,
    {{ round_to(safe_ratio('sum(s.final_articles)', 'sum(s.total_articles)'), 4) }} as yield_rate,
    {{ round_to(safe_ratio('sum(s.passed_content_filter)', 'sum(s.total_articles)'), 4) }} as pass_rate,
    {{ round_to('sum(s.final_articles) * 1.0 / count(*)', 4) }} as picks_per_day
from days as d
inner join stats as s
    on s.partition_date <= d.as_of_date
    and s.partition_date > {{ dbt.dateadd('day', -window, 'd.as_of_date') }}
group by d.as_of_date, s.feed_name
