{#- One row per day that went out: the send ledger's outcome per status, and the readers who left
    between the previous day's send and this one (unsubscribed; bounced and complained apart). -#}

with ledger as (
    select partition_date, edition, status, sent_at
    from {{ source('delivery', 'send_ledger') }}
    where {{ day_filter('partition_date') }}
),

per_day as (
    select
        partition_date,
        {{ as_bigint('count(distinct edition)') }} as editions,
        {{ count_if("status = 'sent'") }} as sent,
        {{ count_if("status = 'failed'") }} as failed,
        {{ count_if("status = 'suppressed'") }} as suppressed,
        {{ count_if("status in ('pending', 'deferred')") }} as pending,
        {{ count_if("status = 'sending'") }} as in_doubt,
        min(sent_at) as first_sent_at,
        max(sent_at) as last_sent_at
    from ledger
    group by partition_date
),

windows as (
    select
        p.partition_date,
        p.last_sent_at,
        (select max(l.sent_at) from {{ source('delivery', 'send_ledger') }} l
         where l.partition_date < p.partition_date and l.status = 'sent') as previous_sent_at
    from per_day p
),

left_readers as (
    select
        w.partition_date,
        {{ count_if("e.new_status = 'unsubscribed'") }} as unsubscribed_since_last,
        {{ count_if("e.new_status = 'bounced'") }} as bounced_since_last,
        {{ count_if("e.new_status = 'complained'") }} as complained_since_last
    from windows w
    join {{ source('delivery', 'subscriber_events') }} e
        on e.new_status in ('unsubscribed', 'bounced', 'complained')
        and (w.previous_sent_at is null or e.created_at > w.previous_sent_at)
        and (w.last_sent_at is null or e.created_at <= w.last_sent_at)
    group by w.partition_date
)

select
    p.partition_date,
    p.editions,
    p.sent,
    p.failed,
    p.suppressed,
    p.pending,
    p.in_doubt,
    p.first_sent_at,
    p.last_sent_at,
    coalesce(r.unsubscribed_since_last, 0) as unsubscribed_since_last,
    coalesce(r.bounced_since_last, 0) as bounced_since_last,
    coalesce(r.complained_since_last, 0) as complained_since_last
from per_day p
left join left_readers r on r.partition_date = p.partition_date
