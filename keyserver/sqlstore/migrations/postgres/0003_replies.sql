-- Secure replies: recipients' sealed replies until the gateway delivered them
-- (keyserver/replies.go). next_attempt is set only while a reply is pending.
CREATE TABLE replies (
	id           text PRIMARY KEY,
	envelope     bytea NOT NULL,
	created      text NOT NULL,
	next_attempt text,
	data         text NOT NULL
);
CREATE INDEX replies_pending ON replies (created, id) WHERE next_attempt IS NOT NULL;
CREATE INDEX replies_by_envelope ON replies (envelope, created, id);
