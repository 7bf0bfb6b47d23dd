CREATE OR REPLACE FUNCTION credit_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- UPDATE first: an INSERT ... ON CONFLICT would check the would-be row (a lone negative amount) first.
    UPDATE credit_balances SET balance = balance + NEW.amount, updated_at = now()
        WHERE account_id = NEW.account_id;
    IF NOT FOUND THEN
        INSERT INTO credit_balances (account_id, balance, held, updated_at)
        VALUES (NEW.account_id, NEW.amount, 0, now())
        ON CONFLICT (account_id) DO UPDATE
            SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now();
    END IF;
    RETURN NEW;
END $$
