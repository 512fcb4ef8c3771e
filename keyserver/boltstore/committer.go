package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// committer is a group commit: one goroutine runs every write transaction. Writers
// queue their fn and wait; the committer takes everything queued (up to max), runs
// it all in one transaction, along with whatever queues while it does, commits it
// with one fsync, answers every writer, and at once starts on whatever queued
// meanwhile. No timer for the writes someone waits for: a lone one commits
// immediately, and under load a commit holds about as many writes as there are
// writers, since they all queue during the previous commit's fsync. Only writes
// nobody waits for (enqueue) wait, for company, up to lazyCommit.
//
// One goroutine owning every write transaction is also what lets the audit chain's
// end be remembered from one commit to the next (see Store.auditHead).
//
// In a group, an fn's refusal is its own outcome and the others commit. An fn that
// fails otherwise (an error or a panic) rolls the transaction back: the others are
// redone without it, and it then runs once more alone, in a transaction of its own,
// whose outcome is final (a panic is raised again in its caller). So a failure
// never loses or fails another write, and never leaves its own partial changes in
// the file; fn may run more than once, as the Store interface allows. Even an fn
// calling runtime.Goexit, which ends the committer's goroutine, only fails its own
// write: a new goroutine redoes the others.
type committer struct {
	s   *Store
	max int

	mu      sync.Mutex
	wake    sync.Cond // signalled when there may be a commit to start (ready)
	queue   []*writeReq
	waited  int         // the writes in queue whose writers wait (do)
	due     bool        // an enqueued write has waited lazyCommit for company
	timer   *time.Timer // pending while enqueued writes wait for company
	closed  bool
	stopped chan struct{}

	// inHand is every write taken from the queue for the group in hand, and
	// running the one whose fn is running; both the committer goroutine's own.
	// Should an fn end that goroutine (runtime.Goexit), they tell its
	// replacement what to answer and what to redo.
	inHand  []*writeReq
	running *writeReq
}

// writeReq is one write, queued or in the committer's hands.
type writeReq struct {
	ctx    context.Context
	fn     func(*bolt.Tx) error
	waited bool // by its writer (do), not enqueued

	// The committer's own, until it closes done.
	err      error // the write's outcome
	panicked *fnPanic
	answered bool
	// refused is the refusal (or ctx error) of fn's last run in the group in
	// hand; failed is its error or panic, if it failed.
	refused error
	failed  error

	done chan struct{}
}

// fnPanic is a panic recovered from fn in the committer's goroutine, raised again
// in the writer's. It carries the committer's stack, which has fn's frames, since
// the writer's has not.
type fnPanic struct {
	value any
	stack []byte
}

func (p *fnPanic) Error() string {
	return fmt.Sprintf("%v [recovered in the store's committer]\n\n%s", p.value, p.stack)
}

// Unwrap returns the value fn panicked with, if it is an error.
func (p *fnPanic) Unwrap() error {
	err, _ := p.value.(error)
	return err
}

func (c *committer) start(s *Store, max int) {
	c.s, c.max = s, max
	c.wake.L = &c.mu
	c.stopped = make(chan struct{})
	go c.run()
}

// do queues fn and waits for its outcome.
func (c *committer) do(ctx context.Context, fn func(*bolt.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, waited: true, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return berrors.ErrDatabaseNotOpen
	}
	c.queue = append(c.queue, r)
	c.waited++
	if c.waited == 1 {
		c.wake.Signal()
	}
	c.mu.Unlock()

	<-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// lazyCommit is how long an enqueued write waits for a write someone waits for,
// to share its commit, before it is committed alone.
const lazyCommit = 100 * time.Millisecond

// enqueue queues fn and returns without waiting: fn runs, and commits, before
// any write queued after it (or in the same transaction). Nobody receives its
// outcome, not even a panic: a failed fn (or commit) leaves nothing behind,
// which the writes after it can see. ctx is checked only here, since the
// caller does not wait.
//
// Nothing waits for it, so it does not start a commit of its own: it joins the
// next one, which a write that is waited for starts (an uploaded ciphertext, the
// registration sent right after it: one fsync, where two back to back would keep
// the registration waiting for both), or commits alone after lazyCommit.
func (c *committer) enqueue(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: context.Background(), fn: fn, done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return berrors.ErrDatabaseNotOpen
	}
	c.queue = append(c.queue, r)
	if c.timer == nil {
		c.timer = time.AfterFunc(lazyCommit, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.timer = nil
			c.due = len(c.queue) > 0 // not if a commit took them meanwhile
			c.wake.Signal()
		})
	}
	return nil
}

// ready reports whether to start a commit: a queued write is waited for, or
// the enqueued ones have waited long enough, or the store is closing. c.mu must
// be held.
func (c *committer) ready() bool {
	return c.closed || len(c.queue) > 0 && (c.waited > 0 || c.due)
}

// stop refuses new writes, lets the committer commit those queued, and waits for
// it to finish.
func (c *committer) stop() {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop() // closing commits what is queued
		c.timer = nil
	}
	c.wake.Signal()
	c.mu.Unlock()
	<-c.stopped
}

// errGoexit answers a write whose fn called runtime.Goexit (as t.FailNow does),
// which ends the committer's goroutine: nothing can stop it.
var errGoexit = errors.New("write: fn called runtime.Goexit")

func (c *committer) run() {
	exited := false
	defer func() {
		if exited {
			close(c.stopped)
			return
		}
		// The fn running called runtime.Goexit, and try has rolled back. The
		// others of the group go back to the head of the queue, to be redone by
		// a new committer goroutine.
		var redo []*writeReq
		for _, r := range c.inHand {
			switch {
			case r == nil || r.answered:
			case r == c.running:
				answer(r, errGoexit)
			default:
				redo = append(redo, r)
			}
		}
		clear(c.inHand)
		c.inHand = c.inHand[:0]
		c.running = nil
		c.s.committedHead = chainEnd{}
		c.mu.Lock()
		c.queue = append(redo, c.queue...)
		for _, r := range redo {
			if r.waited {
				c.waited++
			}
		}
		c.due = len(redo) > 0 // they were on their way to a commit already
		c.mu.Unlock()
		go c.run()
	}()
	for {
		c.mu.Lock()
		for !c.ready() {
			c.wake.Wait()
		}
		if len(c.queue) == 0 {
			c.mu.Unlock()
			exited = true
			return
		}
		group := c.take(nil)
		c.mu.Unlock()

		c.commit(group)
		clear(c.inHand) // let the answered requests go
		c.inHand = c.inHand[:0]
	}
}

// take moves queued writes onto group, up to max in all, and returns it. c.mu
// must be held.
func (c *committer) take(group []*writeReq) []*writeReq {
	n := min(len(c.queue), c.max-len(group))
	for _, r := range c.queue[:n] {
		if r.waited {
			c.waited--
		}
	}
	group = append(group, c.queue[:n]...)
	c.inHand = append(c.inHand, c.queue[:n]...)
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	if rest == 0 {
		c.due = false
	}
	return group
}

// commit commits group, and the writes that queue while its fns run, and answers
// each of them.
func (c *committer) commit(group []*writeReq) {
	var alone []*writeReq
	for len(group) > 0 {
		var i int
		var err error
		group, i, err = c.try(group, len(alone) == 0)
		if i < 0 {
			for _, r := range group {
				answer(r, err)
			}
			break
		}
		r := group[i]
		if len(group) == 1 {
			answer(r, r.failed) // it ran alone: that is final
			break
		}
		// Redo the others without r, then give r a transaction of its own, so
		// that its failure is its own and not something the others caused.
		alone = append(alone, r)
		group = slices.Delete(group, i, i+1)
	}
	for _, r := range alone {
		_, i, err := c.try([]*writeReq{r}, false)
		if i >= 0 {
			err = r.failed
		}
		answer(r, err)
	}
}

// answer sends r its outcome: err if the transaction failed, else fn's failure or
// refusal, if any.
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
	r.answered = true
	close(r.done)
}

// try runs group's fns in one write transaction and commits it. If more is set,
// the writes that queue meanwhile join the group, which try returns, until none
// are left: they would otherwise wait for the commit and then for one more. If an
// fn fails, try rolls back and returns its index, with its failure in its failed
// field; otherwise it returns -1 and the transaction's error. It only rolls back,
// saving an fsync, when every fn refused.
func (c *committer) try(group []*writeReq, more bool) (_ []*writeReq, failed int, err error) {
	s := c.s
	tx, err := s.db.Begin(true)
	if err != nil {
		return group, -1, err
	}
	defer func() {
		if tx.DB() != nil { // still open: an fn called runtime.Goexit
			tx.Rollback()
		}
	}()
	s.txHead = s.committedHead
	wrote := false
	for i := 0; ; i++ {
		if i == len(group) {
			if !more || len(group) >= c.max {
				break
			}
			c.mu.Lock()
			group = c.take(group)
			c.mu.Unlock()
			if i == len(group) {
				break
			}
		}
		r := group[i]
		r.refused, r.failed = nil, nil
		if err := r.ctx.Err(); err != nil {
			r.refused = err
			continue
		}
		c.running = r
		err := call(r.fn, tx)
		c.running = nil
		if ref, ok := err.(refusal); ok {
			r.refused = ref.err
			continue
		}
		if err != nil {
			r.failed = err
			tx.Rollback()
			return group, i, nil
		}
		wrote = true
	}
	if !wrote {
		return group, -1, tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		// The file may or may not hold the transaction: read the chain's end
		// from it again.
		s.committedHead = chainEnd{}
		return group, -1, err
	}
	s.committedHead = s.txHead
	return group, -1, nil
}

// call runs fn, turning a panic into an *fnPanic.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &fnPanic{value: v, stack: debug.Stack()}
		}
	}()
	return fn(tx)
}
