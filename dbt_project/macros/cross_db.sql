{#- Small cross-database helpers (PostgreSQL and DuckDB) so the same models build on both. -#}

{% macro count_if(condition) -%}
  cast(sum(case when {{ condition }} then 1 else 0 end) as bigint)
{%- endmacro %}

{% macro as_bigint(expr) -%}
  cast({{ expr }} as bigint)
{%- endmacro %}

{% macro as_double(expr) -%}
  cast({{ expr }} as double precision)
{%- endmacro %}

{#- num / den as a double, null when den is 0 or null. -#}
{% macro safe_ratio(num, den) -%}
  case when coalesce({{ den }}, 0) > 0 then cast({{ num }} as double precision) / {{ den }} end
{%- endmacro %}

{% macro round_to(expr, digits) -%}
  {{ return(adapter.dispatch('round_to', 'bitbybit')(expr, digits)) }}
{%- endmacro %}
{% macro default__round_to(expr, digits) -%}
  cast(round(cast({{ expr }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}
{% macro duckdb__round_to(expr, digits) -%}
  round(cast({{ expr }} as double), {{ digits }})
{%- endmacro %}

{#- Seconds between two timestamps, as a double. -#}
{% macro seconds_between(start_ts, end_ts) -%}
  cast(extract(epoch from ({{ end_ts }} - {{ start_ts }})) as double precision)
{%- endmacro %}

{#- A deterministic UUID from text (md5 read as a UUID), same value on both databases. -#}
{% macro uuid_from_text(expr) -%}
  cast(md5({{ expr }}) as uuid)
{%- endmacro %}

{% macro date_text(expr) -%}
  cast({{ expr }} as varchar)
{%- endmacro %}
