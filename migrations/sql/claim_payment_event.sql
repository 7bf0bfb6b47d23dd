-- No row: the event does not exist or was processed (or dead-lettered) already. A row with a NULL payment id:
-- the event names no payment by our id in canonical form; the caller looks the payment up itself. The payment
-- is locked before the event, and an event whose payment the caller finds holds no payment lock before it, so
-- two events of one payment never wait on each other in opposite orders.
CREATE OR REPLACE FUNCTION claim_payment_event(p_event_id uuid, p_now timestamptz)
RETURNS TABLE (provider varchar, normalized jsonb, id uuid, account_id uuid, provider_payment_id varchar,
               status varchar, credits bigint, credited bigint, price_amount numeric, price_currency varchar,
               pay_currency varchar, pay_amount numeric, product_kind varchar, product varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_provider varchar;
    v_normalized jsonb;
    v_named text;
    v_payment payments%ROWTYPE;  -- all NULL until a payment is found
BEGIN
    SELECT e.provider, e.normalized INTO v_provider, v_normalized FROM webhook_events AS e WHERE e.id = p_event_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_named := v_normalized ->> 'payment_id';
    IF v_named ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        SELECT p.* INTO v_payment FROM payments AS p WHERE p.provider = v_provider AND p.id = v_named::uuid
        FOR UPDATE;
    END IF;
    UPDATE webhook_events AS e SET status = 'processed', attempts = e.attempts + 1, processed_at = p_now,
                                   error = NULL, payment_id = v_payment.id
    WHERE e.id = p_event_id AND e.status NOT IN ('processed', 'dead');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT v_provider, v_normalized, v_payment.id, v_payment.account_id,
                        v_payment.provider_payment_id, v_payment.status, v_payment.credits, v_payment.credited,
                        v_payment.price_amount, v_payment.price_currency, v_payment.pay_currency,
                        v_payment.pay_amount, v_payment.product_kind, v_payment.product;
END $$
