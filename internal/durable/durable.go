// Package durable holds what makes a file written by rename survive a crash
// beyond the file's own fsync: the directory's.
package durable

import (
	"fmt"
	"os"
)

// SyncDir fsyncs dir, so that the files created, renamed or removed in it stay
// so after a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
