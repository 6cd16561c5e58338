{#- One row per loaded day: what the day's newsletter cost, at the `cost:` prices of the settings.

    compute: the seconds of every run that worked on the day, split evenly over the days a run
      covered, priced as CPU (Fargate) or GPU seconds (the run's bitbybit/compute tag, else
      cost.gpu_jobs). On PostgreSQL the runs come from pipeline_runs (every ingest, scoring, publish
      and delivery run, failed ones too; a run still going, such as the publish run building this
      model, counts up to its warehouse load); where that table does not exist (the local DuckDB
      warehouse) the run that loaded the day stands in, from its start to the load (stg_loads).
    llm: the day's ledger (stg_llm_calls), retries and re-runs included.
    storage: the bytes kept up to the day (raw feed documents and newsletter HTML, the sizes the
      warehouse knows) for one day at the GB-month price: the day's share of the monthly bill. -#}
{%- set runs_table = adapter.get_relation(database=target.database, schema=target.schema,
                                          identifier='pipeline_runs') if execute else none -%}

with loads as (
    select partition_date, dagster_run_id, job_name, run_started_at, loaded_at, days_in_run
    from {{ source('warehouse', 'stg_loads') }}
    where {{ day_filter('partition_date') }}
),

{% if runs_table is not none -%}
run_loads as (
    select dagster_run_id, max(loaded_at) as loaded_at
    from {{ source('warehouse', 'stg_loads') }}
    group by dagster_run_id
),

runs as (
    select
        r.partition_start as first_day,
        coalesce(r.partition_end, r.partition_start) as last_day,
        {{ compute_kind('r.compute', 'r.job_name') }} as compute,
        case when r.status = 'failed' then 1 else 0 end as failed,
        greatest(coalesce(
            {{ as_double('r.processing_time_seconds') }},
            {{ seconds_between('r.started_at', 'coalesce(r.completed_at, rl.loaded_at)') }}
        ), 0) as seconds
    from {{ runs_table }} as r
    left join run_loads as rl on rl.dagster_run_id = r.dagster_run_id
    where r.partition_start is not null
),

run_days as (
    select
        l.partition_date,
        r.compute,
        r.failed,
        coalesce(r.seconds, 0) / ({{ dbt.datediff('r.first_day', 'r.last_day', 'day') }} + 1) as seconds
    from loads as l
    inner join runs as r on l.partition_date between r.first_day and r.last_day
),
{%- set compute_source = 'pipeline_runs' %}
{%- else -%}
run_days as (
    select
        partition_date,
        {{ compute_kind('cast(null as varchar)', 'job_name') }} as compute,
        0 as failed,
        greatest(coalesce({{ seconds_between('run_started_at', 'loaded_at') }}, 0), 0) / days_in_run as seconds
    from loads
),
{%- set compute_source = 'stg_loads' %}
{%- endif %}

compute as (
    select
        partition_date,
        count(*) as runs,
        {{ as_bigint('sum(failed)') }} as failed_runs,
        {{ as_double("sum(case when compute = 'cpu' then seconds else 0 end)") }} as cpu_seconds,
        {{ as_double("sum(case when compute = 'gpu' then seconds else 0 end)") }} as gpu_seconds
    from run_days
    group by partition_date
),

llm as (
    select partition_date, {{ as_double('sum(coalesce(cost_usd, 0))') }} as llm_usd
    from {{ source('warehouse', 'stg_llm_calls') }}
    where {{ day_filter('partition_date') }}
    group by partition_date
),

newsletters as (
    select partition_date, newsletter_id, article_count
    from {{ source('warehouse', 'stg_newsletters') }}
    where {{ day_filter('partition_date') }}
),

day_bytes as (
    select partition_date, {{ as_bigint('sum(coalesce(size_bytes, 0))') }} as bytes
    from {{ source('warehouse', 'stg_feed_fetches') }}
    group by partition_date
    union all
    select partition_date, {{ as_bigint('sum(coalesce(html_bytes, 0))') }} as bytes
    from {{ source('warehouse', 'stg_newsletters') }}
    group by partition_date
),

stored as (
    select
        l.partition_date,
        {{ as_bigint("sum(case when b.partition_date = l.partition_date then b.bytes else 0 end)") }} as day_bytes,
        {{ as_bigint('sum(b.bytes)') }} as stored_bytes
    from loads as l
    inner join day_bytes as b on b.partition_date <= l.partition_date
    group by l.partition_date
),

priced as (
    select
        l.partition_date,
        case when n.newsletter_id is null then 0 else 1 end as newsletters_generated,
        n.article_count,
        coalesce(c.runs, 0) as runs,
        coalesce(c.failed_runs, 0) as failed_runs,
        coalesce(c.cpu_seconds, 0) as cpu_seconds,
        coalesce(c.gpu_seconds, 0) as gpu_seconds,
        coalesce(c.cpu_seconds, 0) / 3600.0 * {{ cost_number('cpu_usd_per_hour') }} as cpu_usd,
        coalesce(c.gpu_seconds, 0) / 3600.0 * {{ cost_number('gpu_usd_per_hour') }} as gpu_usd,
        coalesce(m.llm_usd, 0) as llm_usd,
        coalesce(s.day_bytes, 0) as day_bytes,
        coalesce(s.stored_bytes, 0) as stored_bytes,
        coalesce(s.stored_bytes, 0) / 1073741824.0 * {{ cost_number('storage_usd_per_gb_month') }} / 30.0
            as storage_usd
    from loads as l
    left join compute as c on c.partition_date = l.partition_date
    left join llm as m on m.partition_date = l.partition_date
    left join newsletters as n on n.partition_date = l.partition_date
    left join stored as s on s.partition_date = l.partition_date
)

select
    partition_date,
    newsletters_generated,
    '{{ compute_source }}' as compute_source,
    runs,
    failed_runs,
    {{ round_to('cpu_seconds', 2) }} as cpu_seconds,
    {{ round_to('gpu_seconds', 2) }} as gpu_seconds,
    {{ round_to('cpu_usd', 6) }} as cpu_usd,
    {{ round_to('gpu_usd', 6) }} as gpu_usd,
    {{ round_to('cpu_usd + gpu_usd', 6) }} as compute_usd,
    {{ round_to('llm_usd', 6) }} as llm_usd,
    day_bytes,
    stored_bytes,
    {{ round_to('storage_usd', 6) }} as storage_usd,
    {{ round_to('cpu_usd + gpu_usd + llm_usd + storage_usd', 6) }} as total_usd,
    -- the day's whole cost charged to its newsletter (null on a day without one)
    case when newsletters_generated = 1
        then {{ round_to('cpu_usd + gpu_usd + llm_usd + storage_usd', 6) }} end as cost_per_newsletter_usd,
    {{ round_to(safe_ratio('cpu_usd + gpu_usd + llm_usd + storage_usd', 'article_count'), 6) }}
        as cost_per_article_usd,
    {{ cost_number('cpu_usd_per_hour') }} as cpu_usd_per_hour,
    {{ cost_number('gpu_usd_per_hour') }} as gpu_usd_per_hour,
    {{ cost_number('storage_usd_per_gb_month') }} as storage_usd_per_gb_month
from priced
