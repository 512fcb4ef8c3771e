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

// tryPipelined is try on PostgreSQL in two round trips instead of five. A
// group commit's statements used to go one at a time, each waiting for its
// answer: BEGIN, lock the audit head, read (and lock) the group's envelopes,
// write everything, COMMIT. The first three and the last two need nothing from
// one another's answers before they are sent, so each trio and pair goes as
// one pipelined batch (pgx.Batch): BEGIN with the two locking reads, then the
// write with the COMMIT. The statements, their order and their locks are
// exactly as before, so what another node sees is unchanged: the head row is
// still the first lock, a release still commits with its audit record, and
// nothing is cached between transactions. Only the waiting is gone, which on a
// loaded machine is mostly waiting to be scheduled (docs/BENCHMARKS.md).
//
// The transaction is begun by hand on a connection held for it (wtx.tx is the
// *sql.Conn), so that the statements an fn issues in between (rare on the
// release path: none) run inside it as before.
func (c *committer) tryPipelined(group []*writeReq) (failed int, err error) {
	s := c.s
	ctx := context.Background()
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return -1, fmt.Errorf("begin: %w", Redact(err))
	}
	// A transaction left open on the connection (a failed ROLLBACK) must never
	// be joined by the next group's BEGIN: broken marks the connection bad,
	// and database/sql then drops it instead of pooling it.
	broken := false
	defer func() {
		if broken {
			conn.Raw(func(dc any) error {
				dc.(*stdlib.Conn).Conn().Close(ctx)
				return nil
			})
		}
		conn.Close()
	}()
	rollback := func() error {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			broken = true
			return fmt.Errorf("rollback: %w", Redact(err))
		}
		return nil
	}

	var ids [][]byte
	w := &wtx{s: s, tx: conn, ctx: ctx, envs: map[envelope.ID]*envState{}}
	for _, r := range group {
		if r.about != nil {
			if _, ok := w.envs[*r.about]; !ok {
				w.envs[*r.about] = &envState{}
				ids = append(ids, r.about[:])
			}
		}
	}
	slices.SortFunc(ids, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })

	// Round trip one: begin, lock the head, read and lock the envelopes.
	var seq int64
	var hash []byte
	err = onPgx(conn, func(pc *pgx.Conn) error {
		if pc.PgConn().TxStatus() != 'I' {
			broken = true
			return errors.New("connection already in a transaction")
		}
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
		if len(ids) > 0 {
			// In id order, so that two nodes' groups lock rows in one order.
			b.Queue("SELECT id, data FROM envelopes WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
		}
		br := pc.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("begin: %w", err)
		}
		if err := br.QueryRow().Scan(&seq, &hash); err != nil {
			br.Close()
			return fmt.Errorf("lock audit head: %w", err)
		}
		if len(ids) > 0 {
			rows, _ := br.Query()
			for rows.Next() {
				var id, data []byte
				if err := rows.Scan(&id, &data); err != nil {
					rows.Close()
					br.Close()
					return fmt.Errorf("read envelopes: %w", err)
				}
				if st := w.envs[envelope.ID(id)]; len(id) == len(envelope.ID{}) && st != nil {
					st.data = data
				}
			}
			if err := rows.Err(); err != nil {
				br.Close()
				return fmt.Errorf("read envelopes: %w", err)
			}
		}
		return br.Close()
	})
	if err != nil {
		return -1, errors.Join(Redact(err), rollback())
	}
	w.setHead(seq, hash)

	failedAt, wrote := runGroup(group, w)
	if failedAt >= 0 {
		return failedAt, rollback()
	}
	if !wrote {
		return -1, rollback()
	}

	// Round trip two: the write and the COMMIT. A write too large for one
	// statement goes on its own first, as on SQLite.
	q, args, ok := w.flushStatement()
	if !ok {
		if err := w.flushSeparately(); err != nil {
			return -1, errors.Join(err, rollback())
		}
	}
	err = onPgx(conn, func(pc *pgx.Conn) error {
		b := &pgx.Batch{}
		if ok {
			b.Queue(s.q(q), args...)
		}
		b.Queue("COMMIT")
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
		return br.Close()
	})
	if err != nil {
		// After a failed write the transaction is aborted and the COMMIT was
		// skipped: roll it back. After a failed COMMIT there is nothing open
		// and the ROLLBACK only warns.
		return -1, errors.Join(Redact(err), rollback())
	}
	if ok {
		w.flushed()
	}
	return -1, nil
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
