package keyserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Backuper is a Store that writes a consistent copy of itself while in use
// (boltstore: its file, from one read transaction). SQL stores are backed up
// with the database's own tools (docs/DEPLOY.md).
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// ErrNoBackup refuses a backup of a store that cannot take one itself.
var ErrNoBackup = &Error{http.StatusNotImplemented, "backup_unsupported",
	"This store is backed up with its database's own tools (pg_dump, sqlite3 .backup); see docs/DEPLOY.md.", 0}

// Backup writes a hot, consistent backup of the store to w, for an
// administrator, and records it in the audit log once written. A failure part
// way leaves w holding a truncated file: the caller must check what it got
// (waxseal admin backup opens it and verifies its audit chain).
func (s *Service) Backup(ctx context.Context, p Principal, w io.Writer) (int64, error) {
	if err := s.requireAdmin(p); err != nil {
		return 0, err
	}
	b, ok := s.store.(Backuper)
	if !ok {
		return 0, ErrNoBackup
	}
	n, err := b.Backup(ctx, w)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	s.audit(ctx, AuditEvent{Time: s.now(), Actor: p.actor(), Action: "store.backup", ClientIP: p.IP, Detail: fmt.Sprintf("%d bytes", n)})
	return n, nil
}
