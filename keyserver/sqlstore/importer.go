package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// Importer loads a whole installation into an empty store, in one transaction
// (`waxseal store copy`): records go in as they are, with their ids, sequence
// numbers and audit hashes, which the Store methods would assign afresh.
type Importer struct {
	s  *Store
	tx *sql.Tx
	// ctx is Import's.
	ctx  context.Context
	head *keyserver.AuditRecord
}

// ErrNotEmpty is returned by Import for a store that already holds data.
var ErrNotEmpty = errors.New("destination store is not empty")

// Import runs fn with an Importer in one transaction, committed if fn returns
// nil: a copy is all there or not at all. The store must be empty.
func (s *Store) Import(ctx context.Context, fn func(*Importer) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: %w", Redact(err))
	}
	defer tx.Rollback()
	for _, table := range []string{"envelopes", "accounts", "outbox", "audit", "ciphertexts", "replies", "thread_hashes"} {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("import: %w (%s has %d rows)", ErrNotEmpty, table, n)
		}
	}
	im := &Importer{s: s, tx: tx, ctx: ctx}
	if err := fn(im); err != nil {
		return err
	}
	if im.head != nil {
		if _, err := im.exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", int64(im.head.Seq), im.head.Hash); err != nil {
			return fmt.Errorf("import: audit head: %w", err)
		}
	}
	if s.driver == Postgres {
		// Explicit ids do not advance the identity's sequence.
		if _, err := im.exec("SELECT setval(pg_get_serial_sequence('outbox', 'id'), coalesce((SELECT max(id) FROM outbox), 0) + 1, false)"); err != nil {
			return fmt.Errorf("import: outbox sequence: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	return nil
}

func (im *Importer) exec(query string, args ...any) (sql.Result, error) {
	return im.tx.ExecContext(im.ctx, im.s.q(query), args...)
}

// Ciphertext stores a shared ciphertext with its reference count.
func (im *Importer) Ciphertext(sum []byte, data []byte, refs int, uploaded time.Time) error {
	_, err := im.exec("INSERT INTO ciphertexts (sum, data, refs, uploaded) VALUES (?, ?, ?, ?)", sum, data, refs, timeKey(uploaded))
	if err != nil {
		return fmt.Errorf("import ciphertext %x: %w", sum, err)
	}
	return nil
}

// Envelope stores an envelope record and its payload (nil: none), as it is.
func (im *Importer) Envelope(r keyserver.EnvelopeRecord, payload []byte) error {
	data, err := encode(&r)
	if err != nil {
		return err
	}
	if _, err := im.exec("INSERT INTO envelopes (id, sender, recipient, created, expiry, ciphertext, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
		r.ID[:], r.Sender, r.Recipient, timeKey(r.Created), expiryKey(&r), nilIfEmpty(r.Ciphertext), data); err != nil {
		return fmt.Errorf("import envelope %s: %w", r.ID, err)
	}
	if len(payload) > 0 {
		if _, err := im.exec("INSERT INTO payloads (id, data) VALUES (?, ?)", r.ID[:], payload); err != nil {
			return fmt.Errorf("import payload %s: %w", r.ID, err)
		}
	}
	return nil
}

// Account stores an account with its passkeys.
func (im *Importer) Account(a keyserver.Account) error {
	data, err := encode(&a)
	if err != nil {
		return err
	}
	if _, err := im.exec("INSERT INTO accounts (id, email, data) VALUES (?, ?, ?)", a.ID, a.Email, data); err != nil {
		return fmt.Errorf("import account %s: %w", a.ID, err)
	}
	for _, c := range a.Credentials {
		if _, err := im.exec("INSERT INTO credentials (id, account_id) VALUES (?, ?)", c.ID, a.ID); err != nil {
			return fmt.Errorf("import account %s: credential: %w", a.ID, err)
		}
	}
	return nil
}

// Mail stores an outbox mail under its id.
func (im *Importer) Mail(m keyserver.OutboxMail) error {
	data, err := encode(&m)
	if err != nil {
		return err
	}
	if _, err := im.exec("INSERT INTO outbox (id, next_attempt, data) VALUES (?, ?, ?)", int64(m.ID), timeKey(m.NextAttempt), data); err != nil {
		return fmt.Errorf("import mail %d: %w", m.ID, err)
	}
	return nil
}

// Audit stores the next audit record, which must continue the chain: the copy
// is checked as it goes.
func (im *Importer) Audit(r keyserver.AuditRecord) error {
	want := keyserver.ChainAudit(im.head, r.AuditEvent)
	if want.Seq != r.Seq || string(want.Hash) != string(r.Hash) || string(want.Prev) != string(r.Prev) {
		return fmt.Errorf("import audit %d: does not continue the chain (want seq %d, hash %x)", r.Seq, want.Seq, want.Hash)
	}
	data, err := encode(want)
	if err != nil {
		return err
	}
	if _, err := im.exec("INSERT INTO audit (seq, data) VALUES (?, ?)", int64(r.Seq), data); err != nil {
		return fmt.Errorf("import audit %d: %w", r.Seq, err)
	}
	im.head = &keyserver.AuditRecord{Seq: r.Seq, Hash: r.Hash}
	return nil
}
