package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// tryPipelined is try on PostgreSQL in at most two round trips instead of
// five, and under load in one. A group commit's statements used to go one at
// a time, each waiting for its answer: BEGIN, lock the audit head, read (and
// lock) the group's envelopes, write everything, COMMIT. The first three and
// the last two need nothing from one another's answers before they are sent,
// so each trio and pair goes as one pipelined batch (pgx.Batch): BEGIN with
// the two locking reads (the opening), then the write with the COMMIT.
//
// When writes queued while this group ran (chain, and under load they always
// have), they become the next group at once and its opening rides in this
// group's COMMIT batch: the committer then starts that group with its
// transaction already begun and its rows already locked, and each group under
// load costs one round trip. Another node waiting for the head row queued its
// lock before this opening was sent, so it is granted first: nodes still take
// turns.
//
// The statements, their order and their locks are exactly as before, so what
// another node sees is unchanged: the head row is still the first lock, a
// release still commits with its audit record, and nothing is cached between
// transactions. Only the waiting is gone, which on a loaded machine is mostly
// waiting to be scheduled (docs/BENCHMARKS.md).
//
// The transaction is begun by hand on a connection held for it (wtx.tx is the
// *sql.Conn), so that the statements an fn issues in between (rare on the
// release path: none) run inside it as before.
func (c *committer) tryPipelined(group []*writeReq, chain bool) (failed int, err error) {
	ctx := context.Background()
	pre := c.next
	c.next = nil
	var t *pgTxn
	if pre != nil && pre.w != nil {
		t = pre
	} else {
		conn, err := c.s.wdb.Conn(ctx)
		if err != nil {
			return -1, fmt.Errorf("begin: %w", Redact(err))
		}
		t = &pgTxn{conn: conn}
	}
	// The connection goes back to the pool unless the next group's
	// transaction was begun on it.
	defer func() {
		if c.next == nil || c.next.conn != t.conn {
			t.release()
		}
	}()

	if t.w == nil {
		// Round trip one: the opening on its own.
		err := onPgx(t.conn, func(pc *pgx.Conn) error {
			if pc.PgConn().TxStatus() != 'I' {
				t.broken = true
				return errors.New("connection already in a transaction")
			}
			b := &pgx.Batch{}
			read := t.queueOpening(b, c.s, group)
			br := pc.SendBatch(ctx, b)
			if err := read(br); err != nil {
				br.Close()
				return err
			}
			return br.Close()
		})
		if err != nil {
			return -1, errors.Join(Redact(err), t.rollback())
		}
	}
	w := t.w

	failedAt, wrote := runGroup(group, w)
	if failedAt >= 0 {
		return failedAt, t.rollback()
	}
	if !wrote {
		return -1, t.rollback()
	}

	// The write, the COMMIT and perhaps the next group's opening. A write too
	// large for one statement goes on its own first, as on SQLite.
	q, args, ok := w.flushStatement()
	if !ok {
		if err := w.flushSeparately(); err != nil {
			return -1, errors.Join(err, t.rollback())
		}
	}
	var next []*writeReq
	if chain {
		next = c.take()
	}
	var (
		committed bool
		opened    *pgTxn
		openErr   error
	)
	err = onPgx(t.conn, func(pc *pgx.Conn) error {
		b := &pgx.Batch{}
		if ok {
			b.Queue(c.s.q(q), args...)
		}
		b.Queue("COMMIT")
		var readNext func(pgx.BatchResults) error
		if next != nil {
			opened = &pgTxn{conn: t.conn}
			readNext = opened.queueOpening(b, c.s, next)
		}
		br := pc.SendBatch(ctx, b)
		if ok {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return fmt.Errorf("write envelopes and audit records: %w", err)
			}
		}
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return fmt.Errorf("commit: %w", err)
		}
		if tag.String() == "ROLLBACK" {
			br.Close()
			return errors.New("commit: the transaction was rolled back")
		}
		committed = true
		if readNext != nil {
			openErr = readNext(br)
		}
		return br.Close()
	})
	if next != nil {
		// The next group was taken from the queue: whatever happened here,
		// the committer runs it next, on the transaction begun for it if that
		// went well, or from the start.
		c.next = &pgTxn{group: next}
		if committed && err == nil && openErr == nil {
			opened.group = next
			c.next = opened
			c.chained.Add(1)
		}
	}
	if !committed {
		// After a failed write the transaction is aborted and the COMMIT was
		// skipped: roll it back. After a failed COMMIT there is nothing open
		// and the ROLLBACK only warns.
		return -1, errors.Join(Redact(err), t.rollback())
	}
	if ok {
		w.flushed()
	}
	if c.next != nil && c.next.w == nil && (openErr != nil || err != nil) {
		// This group committed, but the next one's opening failed (or its
		// results could not be read): end what it began; the next group
		// starts again from the beginning.
		// A failed ROLLBACK marks the connection broken, and it is dropped.
		t.rollback()
	}
	return -1, nil
}

// pgTxn is a transaction the pipelined commit began on conn for a group, with
// the audit head and the group's envelopes read and locked (w). A pgTxn with
// no w is a group taken from the queue whose transaction is yet to begin.
type pgTxn struct {
	conn   *sql.Conn
	group  []*writeReq
	w      *wtx
	broken bool
}

// queueOpening queues on b the statements that begin t's transaction for
// group: BEGIN, lock the audit head, read and lock the group's envelopes. The
// read it returns takes their results from the batch and sets t.w.
func (t *pgTxn) queueOpening(b *pgx.Batch, s *Store, group []*writeReq) (read func(pgx.BatchResults) error) {
	w := &wtx{s: s, tx: t.conn, ctx: context.Background(), envs: map[envelope.ID]*envState{}}
	var ids [][]byte
	for _, r := range group {
		if r.about != nil {
			if _, ok := w.envs[*r.about]; !ok {
				w.envs[*r.about] = &envState{}
				ids = append(ids, r.about[:])
			}
		}
	}
	// In id order, so that two nodes' groups lock rows in one order.
	slices.SortFunc(ids, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	b.Queue("BEGIN")
	b.Queue("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
	if len(ids) > 0 {
		b.Queue("SELECT id, data FROM envelopes WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
	}
	return func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		var seq int64
		var hash []byte
		if err := br.QueryRow().Scan(&seq, &hash); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
		if len(ids) > 0 {
			rows, _ := br.Query()
			for rows.Next() {
				var id, data []byte
				if err := rows.Scan(&id, &data); err != nil {
					rows.Close()
					return fmt.Errorf("read envelopes: %w", err)
				}
				if st := w.envs[envelope.ID(id)]; len(id) == len(envelope.ID{}) && st != nil {
					st.data = data
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read envelopes: %w", err)
			}
		}
		w.setHead(seq, hash)
		t.w = w
		return nil
	}
}

// rollback ends whatever transaction is open on t's connection. A
// transaction left open (a failed ROLLBACK) must never be joined by the next
// group's BEGIN: broken marks the connection to be dropped, not pooled.
func (t *pgTxn) rollback() error {
	t.w = nil
	if _, err := t.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.broken = true
		return fmt.Errorf("rollback: %w", Redact(err))
	}
	return nil
}

// release gives t's connection back to the pool, or closes it if broken.
func (t *pgTxn) release() {
	if t.broken {
		t.conn.Raw(func(dc any) error {
			dc.(*stdlib.Conn).Conn().Close(context.Background())
			return nil
		})
	}
	t.conn.Close()
}

// onPgx runs fn on conn's pgx connection, which conn holds for this goroutine
// alone.
func onPgx(conn *sql.Conn, fn func(*pgx.Conn) error) error {
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sqlstore: not a pgx connection: %T", dc)
		}
		return fn(sc.Conn())
	})
}

// setHead records the audit head as the transaction locked it.
func (w *wtx) setHead(seq int64, hash []byte) {
	w.head = nil
	if seq > 0 {
		w.head = &keyserver.AuditRecord{Seq: uint64(seq), Hash: hash}
	}
}
