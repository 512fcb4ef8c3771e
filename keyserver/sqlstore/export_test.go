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
