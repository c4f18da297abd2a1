with source as (

    select * from {{ source('raw', 'raw_orders') }}

),

renamed as (

    select
        id as order_id,
        customer_id,
        order_date,
        status,
        _loaded_at
    from source

)

select * from renamed
