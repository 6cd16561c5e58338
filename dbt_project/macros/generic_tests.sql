{#- Generic tests (no dbt_utils: the project must parse offline). -#}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test in_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    1 = 0
    {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
    {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
  )
{% endtest %}

{#- Each funnel stage can only keep or drop rows: columns must be non-increasing left to right. -#}
{% test funnel_non_increasing(model, columns) %}
select *
from {{ model }}
where 1 = 0
{%- for i in range(columns | length - 1) %}
   or {{ columns[i] }} < {{ columns[i + 1] }}
{%- endfor %}
{% endtest %}

{#- A total column equals the sum of its parts (to a rounding tolerance). -#}
{% test total_is_sum(model, total, parts, tolerance=0.00001) %}
select *
from {{ model }}
where abs({{ total }} - ({{ parts | join(' + ') }})) > {{ tolerance }}
{% endtest %}
