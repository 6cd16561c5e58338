{#- The `cost:` settings (price table) for cost_per_newsletter. bitbybit hands them to every dbt
    invocation as JSON in BITBYBIT_DBT_COST (bitbybit_assets.warehouse.dbt_assets.dbt_env), so the
    one place they are written is config/production.yaml / the Settings model. -#}

{% macro cost_setting(name) %}
  {%- set raw = env_var('BITBYBIT_DBT_COST', '') -%}
  {%- if not raw -%}
    {%- if execute -%}
      {{ exceptions.raise_compiler_error(
          "BITBYBIT_DBT_COST is not set: run dbt through bitbybit (the warehouse assets, or "
          "bitbybit_assets.warehouse.dbt_assets.dbt_env), or export the cost: settings as JSON") }}
    {%- endif -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set cost = fromjson(raw) -%}
  {%- if name not in cost -%}
    {{ exceptions.raise_compiler_error("BITBYBIT_DBT_COST has no " ~ name) }}
  {%- endif -%}
  {{ return(cost[name]) }}
{% endmacro %}

{#- A price as a SQL number (0 at parse time, when the settings are not needed). -#}
{% macro cost_number(name) -%}
  cast({{ cost_setting(name) or 0 }} as double precision)
{%- endmacro %}

{#- 'gpu' or 'cpu' for a run: its bitbybit/compute tag, else 'gpu' for the jobs of cost.gpu_jobs
    (the same rule as sensors.run_metrics.compute_kind). -#}
{% macro compute_kind(compute_col, job_col) -%}
  {%- set jobs = cost_setting('gpu_jobs') or [] -%}
  case
    when lower({{ compute_col }}) in ('cpu', 'gpu') then lower({{ compute_col }})
    {%- if jobs %}
    when {{ job_col }} in ({% for j in jobs %}'{{ j | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}) then 'gpu'
    {%- endif %}
    else 'cpu'
  end
{%- endmacro %}
