-- Every change of a job's status, wherever it is made (submit_job, claim_job, finish_job, a cancel, a requeue),
-- writes its event in the same transaction, from a trigger: no caller can forget to. An anomaly_detection job that
-- succeeds also writes an event per incident of its result. `tx` is the writing transaction's id: readers deliver
-- an event only once every transaction older than the oldest still running has ended, so events become visible in
-- (tx, id) order and a reader's position never skips one committed later (smartcompute/events/log.py). The NOTIFY
-- names the account; listeners read the events themselves from this table.
CREATE OR REPLACE FUNCTION record_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_tx bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO events (tx, account_id, job_id, name, data, created_at)
    VALUES (v_tx, NEW.account_id, NEW.id, 'job.status', jsonb_build_object(
        'job_id', NEW.id, 'status', NEW.status, 'type', NEW.type, 'host', NEW.host,
        'updated_at', to_char(NEW.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), now());
    IF NEW.status = 'succeeded' AND NEW.type = 'anomaly_detection'
       AND json_typeof(NEW.result -> 'incidents') = 'array' THEN
        INSERT INTO events (tx, account_id, job_id, name, data, created_at)
        SELECT v_tx, NEW.account_id, NEW.id,
               CASE WHEN incident ->> 'status' = 'open' THEN 'incident.opened' ELSE 'incident.closed' END,
               jsonb_build_object('job_id', NEW.id, 'metric', incident -> 'metrics' ->> 0,
                                  'metrics', incident -> 'metrics', 'kind', incident -> 'kind',
                                  'severity', incident -> 'severity', 'start', incident -> 'start',
                                  'end', incident -> 'end'), now()
        FROM json_array_elements(NEW.result -> 'incidents') WITH ORDINALITY AS listed(incident, position)
        ORDER BY position;
    END IF;
    PERFORM pg_notify('smartcompute_events', NEW.account_id::text);
    RETURN NULL;
END $$
