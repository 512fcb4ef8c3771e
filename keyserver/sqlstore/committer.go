package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/waxseal/waxseal/envelope"
)

// committer is a group commit, as boltstore's: one goroutine runs every write
// transaction of this process. Writers queue their fn and wait; the committer
// takes everything queued (up to max), runs it in one transaction, commits, and
// answers each writer, then starts at once on whatever queued meanwhile. A lone
// write commits immediately; under load a transaction holds about as many writes
// as there are writers, since they queue during the previous commit.
//
// An fn's refusal is its own outcome and the others commit. An fn that fails
// otherwise (an error, a panic, a statement the database refused, which on
// PostgreSQL aborts the transaction) rolls the transaction back: the others are
// redone without it, and it then runs once more alone, whose outcome is final.
// So one failure never fails another write.
type committer struct {
	s   *Store
	max int

	mu      sync.Mutex
	wake    sync.Cond
	queue   []*writeReq
	closed  bool
	stopped chan struct{}
}

type writeReq struct {
	ctx   context.Context
	fn    func(*wtx) error
	about *envelope.ID // the envelope fn updates, if any, read ahead for the group

	refused, failed error
	err             error
	panicked        *fnPanic
	done            chan struct{}
}

// fnPanic is a panic recovered from fn, raised again in the writer's goroutine
// with the committer's stack, which has fn's frames.
type fnPanic struct {
	value any
	stack []byte
}

func (p *fnPanic) Error() string {
	return fmt.Sprintf("%v [recovered in the store's committer]\n\n%s", p.value, p.stack)
}

var errClosed = errors.New("sqlstore: store closed")

func (c *committer) start(s *Store, max int) {
	c.s, c.max = s, max
	c.wake.L = &c.mu
	c.stopped = make(chan struct{})
	go c.run()
}

func (c *committer) do(ctx context.Context, about *envelope.ID, fn func(*wtx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, about: about, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.queue = append(c.queue, r)
	if len(c.queue) == 1 {
		c.wake.Signal()
	}
	c.mu.Unlock()
	<-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

func (c *committer) stop() {
	c.mu.Lock()
	c.closed = true
	c.wake.Signal()
	c.mu.Unlock()
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.wake.Wait()
		}
		if len(c.queue) == 0 {
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), c.max)
		group := slices.Clone(c.queue[:n])
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		c.commit(group)
	}
}

// commit commits group and answers each of its writes.
func (c *committer) commit(group []*writeReq) {
	var alone []*writeReq
	for len(group) > 0 {
		i, err := c.try(group)
		if i < 0 {
			for _, r := range group {
				answer(r, err)
			}
			break
		}
		r := group[i]
		if len(group) == 1 {
			answer(r, r.failed)
			break
		}
		alone = append(alone, r)
		group = slices.Delete(group, i, i+1)
	}
	for _, r := range alone {
		i, err := c.try([]*writeReq{r})
		if i >= 0 {
			err = r.failed
		}
		answer(r, err)
	}
}

func answer(r *writeReq, err error) {
	switch {
	case err != nil:
	case r.failed != nil:
		err = r.failed
	default:
		err = r.refused
	}
	if p, ok := err.(*fnPanic); ok {
		r.panicked = p
	}
	r.err = err
	close(r.done)
}

// try runs group's fns in one transaction and commits it. If an fn fails, try
// rolls back and returns its index, with its failure in its failed field;
// otherwise -1 and the transaction's error.
func (c *committer) try(group []*writeReq) (failed int, err error) {
	s := c.s
	if s.driver == Postgres {
		return c.tryPipelined(group)
	}
	// Statements run under a context of the committer's own: one writer giving
	// up must not abort the others' transaction.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("begin: %w", Redact(err))
	}
	w := &wtx{s: s, tx: tx, ctx: ctx}
	if err := w.lockHead(); err != nil {
		tx.Rollback()
		return -1, err
	}
	var about []envelope.ID
	for _, r := range group {
		if r.about != nil {
			about = append(about, *r.about)
		}
	}
	if len(about) > 1 {
		if err := w.prefetchEnvelopes(about); err != nil {
			tx.Rollback()
			return -1, err
		}
	}
	failedAt, wrote := runGroup(group, w)
	if failedAt >= 0 {
		tx.Rollback()
		return failedAt, nil
	}
	if !wrote {
		return -1, tx.Rollback()
	}
	if err := w.flush(); err != nil {
		tx.Rollback()
		return -1, err
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit: %w", err)
	}
	return -1, nil
}

func call(fn func(*wtx) error, w *wtx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &fnPanic{value: v, stack: debug.Stack()}
		}
	}()
	return fn(w)
}

// withTx is for the store's own maintenance (migrations): one transaction
// outside the committer.
func withTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// runGroup runs each request's fn in the group's transaction, in order. A
// cancelled request or a refusal leaves the others to go on; any other error
// stops the group at that request, whose index it returns (-1: none failed).
// wrote says whether some fn ran to completion.
func runGroup(group []*writeReq, w *wtx) (failed int, wrote bool) {
	for i, r := range group {
		r.refused, r.failed = nil, nil
		if err := r.ctx.Err(); err != nil {
			r.refused = err
			continue
		}
		err := call(r.fn, w)
		if ref, ok := err.(refusal); ok {
			r.refused = ref.err
			continue
		}
		if err != nil {
			r.failed = err
			return i, wrote
		}
		wrote = true
	}
	return -1, wrote
}
