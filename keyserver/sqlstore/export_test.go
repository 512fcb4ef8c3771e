package sqlstore

import "context"

// ExecInWrite runs query as a write of its own, in a group commit's
// transaction: a statement the database refuses aborts that transaction.
func (s *Store) ExecInWrite(ctx context.Context, query string) error {
	return s.write(ctx, func(w *wtx) error {
		_, err := w.exec(query)
		return err
	})
}

// WriteHeld is a write whose fn tells started it runs and then waits for
// release: the committer is inside a group while it waits.
func (s *Store) WriteHeld(ctx context.Context, started chan<- struct{}, release <-chan struct{}) error {
	return s.write(ctx, func(w *wtx) error {
		started <- struct{}{}
		<-release
		_, err := w.exec("SELECT 1")
		return err
	})
}

// Queued is the number of writes waiting for the committer.
func (s *Store) Queued() int {
	s.committer.mu.Lock()
	defer s.committer.mu.Unlock()
	return len(s.committer.queue)
}

// Chained is the number of groups whose transaction began with the previous
// group's commit.
func (s *Store) Chained() int64 { return s.committer.chained.Load() }
