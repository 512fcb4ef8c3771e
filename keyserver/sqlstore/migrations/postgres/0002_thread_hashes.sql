-- Secure threads: keyed hashes of sealed messages' Message-IDs, until they expire.
CREATE TABLE thread_hashes (
	hash    bytea PRIMARY KEY,
	expires text NOT NULL
);
CREATE INDEX thread_hashes_by_expiry ON thread_hashes (expires);
