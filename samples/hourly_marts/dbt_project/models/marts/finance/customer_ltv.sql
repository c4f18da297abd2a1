with orders as (

    select * from {{ ref('fct_orders') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

)

select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    customers.first_order_date,
    count(orders.order_id) as lifetime_orders,
    coalesce(sum(orders.amount) filter (where orders.status <> 'returned'), 0) as lifetime_value
from customers
left join orders
    on customers.customer_id = orders.customer_id
group by 1, 2, 3, 4
