-- Date spine used by the daily marts. Nobody has claimed this model: no owner anywhere.
with recursive days(date_day) as (

    select cast('2026-09-01' as date)

    union all

    select cast(date_day + interval 1 day as date)
    from days
    where date_day < cast('2026-11-30' as date)

)

select date_day from days
