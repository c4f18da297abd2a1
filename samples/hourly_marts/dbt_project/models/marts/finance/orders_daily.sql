{{ config(materialized='table') }}

with calendar as (

    select date_day from {{ ref('util_calendar') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

daily as (

    select
        order_date,
        count(*) as orders,
        count(distinct customer_id) as customers,
        sum(amount) as revenue,
        sum(amount) filter (where status = 'returned') as returned_revenue
    from orders
    group by order_date

)

select
    calendar.date_day as order_date,
    coalesce(daily.orders, 0) as orders,
    coalesce(daily.customers, 0) as customers,
    coalesce(daily.revenue, 0) as revenue,
    coalesce(daily.returned_revenue, 0) as returned_revenue,
    sum(coalesce(daily.revenue, 0)) over (
        order by calendar.date_day rows between 6 preceding and current row
    ) as revenue_7d
from calendar
left join daily
    on calendar.date_day = daily.order_date
