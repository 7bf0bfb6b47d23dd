CREATE OR REPLACE FUNCTION credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;  -- the account itself is being deleted (ON DELETE CASCADE)
    END IF;
    RAISE EXCEPTION 'credit_ledger is append-only: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$
