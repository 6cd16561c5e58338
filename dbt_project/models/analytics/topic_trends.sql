{#- Topics (all scored articles) and tags (the picks) per day, with their share of the day and a
    rolling count over `trend_window_days`. -#}
{%- set window = var('trend_window_days', 7) | int -%}

with labels as (
    select partition_date, 'topic' as kind, unnest(topics) as label, selected
    from {{ source('warehouse', 'stg_articles') }}
    where scored and {{ day_filter('partition_date', window - 1) }}
    union all
    select partition_date, 'tag' as kind, unnest(tags) as label, selected
    from {{ source('warehouse', 'stg_articles') }}
    where tags is not null and {{ day_filter('partition_date', window - 1) }}
),

daily as (
    select
        partition_date,
        kind,
        label,
        count(*) as article_count,
        {{ count_if('selected') }} as selected_count
    from labels
    where label is not null and label <> ''
    group by partition_date, kind, label
),

totals as (
    select partition_date, kind, {{ as_bigint('sum(article_count)') }} as day_total
    from daily
    group by partition_date, kind
),

rolling as (
    select
        d.partition_date,
        d.kind,
        d.label,
        {{ as_bigint('sum(p.article_count)') }} as rolling_article_count,
        count(*) as rolling_active_days
    from daily as d
    inner join daily as p
        on p.kind = d.kind
        and p.label = d.label
        and p.partition_date <= d.partition_date
        and p.partition_date > {{ dbt.dateadd('day', -window, 'd.partition_date') }}
    group by d.partition_date, d.kind, d.label
)

select
    d.partition_date,
    d.kind,
    d.label,
    d.article_count,
    d.selected_count,
    {{ round_to(safe_ratio('d.article_count', 't.day_total'), 4) }} as share_of_day,
    r.rolling_article_count,
    r.rolling_active_days,
    {{ window }} as window_days
from daily as d
inner join totals as t on t.partition_date = d.partition_date and t.kind = d.kind
inner join rolling as r on r.partition_date = d.partition_date and r.kind = d.kind and r.label = d.label
where {{ day_filter('d.partition_date') }}
