package keyserver_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

// storeOnly hides everything but the Store methods: a store that cannot take a
// backup itself, as the SQL stores.
type storeOnly struct{ keyserver.Store }

func TestBackupUnsupportedStore(t *testing.T) {
	e := newEnvOver(t, func(s keyserver.Store) keyserver.Store { return storeOnly{s} })
	var buf bytes.Buffer
	err := e.admin().Backup(t.Context(), &buf)
	if err == nil || !strings.Contains(err.Error(), "backup_unsupported") && !strings.Contains(err.Error(), "own tools") {
		t.Fatalf("backup of a store without Backup: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("a refused backup wrote %d bytes", buf.Len())
	}
}
