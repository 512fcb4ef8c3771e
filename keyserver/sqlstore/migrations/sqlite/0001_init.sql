-- waxseal key server schema, version 1 (SQLite).
-- Records are JSON text (not jsonb: the bytes, and so the times with their
-- zones and nanoseconds, come back exactly as written); the columns beside
-- them are what queries select and order by. Times in columns are fixed-width
-- UTC text with nanoseconds, so text order is time order.
CREATE TABLE envelopes (
	id        blob PRIMARY KEY,
	sender    text NOT NULL,
	recipient text NOT NULL,
	created   text NOT NULL,
	expiry    text, -- only while the envelope expires and its key exists
	ciphertext blob, -- the shared ciphertext's sum the record names
	data      text NOT NULL
);
CREATE INDEX envelopes_by_sender ON envelopes (sender, created, id);
CREATE INDEX envelopes_by_recipient ON envelopes (recipient, created, id);
CREATE INDEX envelopes_by_created ON envelopes (created, id);
CREATE INDEX envelopes_by_expiry ON envelopes (expiry, id) WHERE expiry IS NOT NULL;

CREATE TABLE payloads (
	id   blob PRIMARY KEY,
	data blob NOT NULL
);

CREATE TABLE ciphertexts (
	sum      blob PRIMARY KEY,
	data     blob NOT NULL,
	refs     integer NOT NULL,
	uploaded text NOT NULL
);
CREATE INDEX ciphertexts_orphans ON ciphertexts (uploaded) WHERE refs = 0;

CREATE TABLE accounts (
	id    text PRIMARY KEY,
	email text NOT NULL UNIQUE,
	data  text NOT NULL
);

CREATE TABLE credentials (
	id         blob PRIMARY KEY,
	account_id text NOT NULL
);
CREATE INDEX credentials_by_account ON credentials (account_id);

CREATE TABLE codes (
	email   text NOT NULL,
	purpose text NOT NULL,
	expires text NOT NULL,
	data    text NOT NULL,
	PRIMARY KEY (email, purpose)
);

CREATE TABLE sessions (
	token_hash blob PRIMARY KEY,
	account_id text NOT NULL,
	last_seen  text NOT NULL,
	data       text NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);

CREATE TABLE ceremonies (
	id      text PRIMARY KEY,
	expires text NOT NULL,
	data    text NOT NULL
);

CREATE TABLE invites (
	token_hash blob PRIMARY KEY,
	expires    text NOT NULL,
	data       text NOT NULL
);

CREATE TABLE outbox (
	id           integer PRIMARY KEY AUTOINCREMENT,
	next_attempt text NOT NULL,
	data         text NOT NULL
);

CREATE TABLE audit (
	seq  integer PRIMARY KEY,
	data text NOT NULL
);
-- The chain's end: one row, locked by every write transaction, which is what
-- serialises appends across key server nodes.
CREATE TABLE audit_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  integer NOT NULL,
	hash blob
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);
