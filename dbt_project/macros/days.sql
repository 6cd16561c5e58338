{#- Day selection: `day`, or `start_day`..`end_day` (inclusive); none = every day. From vars (a person's
    `--vars`), else from the environment (`BITBYBIT_DBT_DAY`, `BITBYBIT_DBT_START_DAY`, `BITBYBIT_DBT_END_DAY`:
    what the Dagster assets pass, since a `--vars` that changes every day would void dbt's partial parsing).
    Read at run time only: at parse time the filter is open (parsing only collects refs). -#}

{% macro _check_day(value) %}
  {%- if value is not none and not modules.re.match('^\d{4}-\d{2}-\d{2}$', value | string) -%}
    {{ exceptions.raise_compiler_error("day vars must be YYYY-MM-DD, got " ~ value) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{% macro _day_setting(name) %}
  {{ return(var(name, none) or env_var('BITBYBIT_DBT_' ~ name | upper, '') or none) }}
{% endmacro %}

{% macro day_bounds() %}
  {%- if not execute -%}
    {{ return([none, none]) }}
  {%- endif -%}
  {%- set day = _check_day(_day_setting('day')) -%}
  {%- set start = _check_day(_day_setting('start_day')) or day -%}
  {%- set end = _check_day(_day_setting('end_day')) or day or start -%}
  {{ return([start, end]) }}
{% endmacro %}

{#- `column` within the selected days, extended `lookback_days` before the first one. -#}
{% macro day_filter(column, lookback_days=0) %}
  {%- set bounds = day_bounds() -%}
  {%- if bounds[0] -%}
    {%- set first = modules.datetime.date.fromisoformat(bounds[0] | string) - modules.datetime.timedelta(days=lookback_days) -%}
    {{ column }} between cast('{{ first.isoformat() }}' as date) and cast('{{ bounds[1] }}' as date)
  {%- else -%}
    1 = 1
  {%- endif -%}
{% endmacro %}

{#- pre-hook of every model: the selected days are deleted, then the model's rows appended, inside
    the model's transaction (a failing build leaves the previous rows). -#}
{% macro delete_days() %}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ day_filter('partition_date') }}
  {%- endif -%}
{% endmacro %}
