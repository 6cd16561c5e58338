{#- Per day: how the scored articles and the picks split across content types. -#}

with counts as (
    select
        partition_date,
        coalesce(content_type, 'unknown') as content_type,
        count(*) as scored_articles,
        {{ count_if('selected') }} as selected_articles
    from {{ source('warehouse', 'stg_articles') }}
    where scored and {{ day_filter('partition_date') }}
    group by partition_date, coalesce(content_type, 'unknown')
)

select
    partition_date,
    content_type,
    scored_articles,
    selected_articles,
    {{ round_to(safe_ratio('scored_articles', 'sum(scored_articles) over (partition by partition_date)'), 4) }}
        as share_of_scored,
    {{ round_to(safe_ratio('selected_articles', 'sum(selected_articles) over (partition by partition_date)'), 4) }}
        as share_of_selected
from counts
