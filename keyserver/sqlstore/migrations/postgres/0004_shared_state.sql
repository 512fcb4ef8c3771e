-- State the key server nodes on one database share (keyserver/shared.go).
-- Rate limits: one row per bucket; tat (the GCRA's theoretical arrival time)
-- in Unix milliseconds, an integer so that the database can do the arithmetic
-- of a take in one upsert (and below 2^53, so D1's doubles keep it exact); ok
-- is the last take's outcome, for RETURNING.
CREATE TABLE rate_limits (
	key text PRIMARY KEY,
	tat bigint NOT NULL,
	ok  smallint NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);

-- Failure counts of the password lockout.
CREATE TABLE failure_counts (
	key          text PRIMARY KEY,
	n            bigint NOT NULL,
	last_failure text NOT NULL
);
CREATE INDEX failure_counts_last ON failure_counts (last_failure);

-- The ceremony cap counts the ceremonies that have not expired.
CREATE INDEX ceremonies_expires ON ceremonies (expires);

-- Outbox leases: the token and the lease's end, on the mail.
ALTER TABLE outbox ADD COLUMN lease text;
ALTER TABLE outbox ADD COLUMN lease_until text;
