with source as (

    select * from {{ source('raw', 'raw_payments') }}

),

renamed as (

    select
        id as payment_id,
        order_id,
        payment_method,
        -- amounts are stored in cents in RAW
        amount_cents / 100.0 as amount
    from source

)

select * from renamed
