package keyserver

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/waxseal/waxseal/keyserver/api"
)

// Backuper is a Store that writes a consistent copy of itself while in use
// (boltstore: its file, from one read transaction). SQL stores are backed up
// with the database's own tools (docs/DEPLOY.md).
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// ErrNoBackup refuses a backup of a store that cannot take one itself.
var ErrNoBackup = (&Error{http.StatusNotImplemented, api.CodeBackupUnsupported,
	"This store is backed up with its database's own tools (pg_dump, sqlite3 .backup); see docs/DEPLOY.md.", 0, nil}).With("refusal.no_backup")

// CanBackup refuses a backup before anything is written: the caller is not an
// administrator, or the store cannot take one itself.
func (s *Service) CanBackup(caller Caller) error {
	if err := s.requireAdmin(caller); err != nil {
		return err
	}
	if _, ok := s.store.(Backuper); !ok {
		return ErrNoBackup
	}
	return nil
}

// Backup writes a hot, consistent backup of the store to w, for an
// administrator, and records it in the audit log once written. A failure part
// way leaves w holding a truncated file: the caller must check what it got
// (waxseal admin backup opens it and verifies its audit chain).
func (s *Service) Backup(ctx context.Context, caller Caller, w io.Writer) (int64, error) {
	if err := s.CanBackup(caller); err != nil {
		return 0, err
	}
	b := s.store.(Backuper)
	n, err := b.Backup(ctx, w)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	s.audit(ctx, AuditEvent{Time: s.now(), Actor: caller.actor(), Action: ActionStoreBackup, ClientIP: caller.IP, Detail: fmt.Sprintf("%d bytes", n)})
	return n, nil
}
