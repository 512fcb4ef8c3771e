package boltstore

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// writeVersion1 makes a version 1 file at path holding recs: the store writes
// them in version 1's index layout (viewsByAddress), then its sender and
// recipient buckets take version 1's names and the file version 1's number.
func writeVersion1(t *testing.T, path string, recs []keyserver.EnvelopeRecord) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.viewLayout = viewsByAddress
	for batch := range slices.Chunk(recs, 10000) {
		var envs []keyserver.NewEnvelope
		for _, r := range batch {
			envs = append(envs, keyserver.NewEnvelope{Record: r})
		}
		if err := s.PutEnvelopes(t.Context(), envs, nil); err != nil {
			t.Fatal(err)
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, m := range [][2][]byte{{bucketEnvBySender, bucketEnvBySenderV1}, {bucketEnvByRecipient, bucketEnvByRecipientV1}} {
			old, err := tx.CreateBucket(m[1])
			if err != nil {
				return err
			}
			if err := tx.Bucket(m[0]).ForEach(func(k, _ []byte) error { return old.Put(k, nil) }); err != nil {
				return err
			}
			if err := tx.DeleteBucket(m[0]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// overDays is n envelopes from 4 senders to 9 recipients, about one every 7
// hours over n*7 hours, some before 1970.
func overDays(n int) []keyserver.EnvelopeRecord {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []keyserver.EnvelopeRecord
	for i := range n {
		created := start.Add(time.Duration(i) * 7 * time.Hour)
		if i%50 == 0 {
			created = time.Date(1969, 12, 31, 23, 0, i, 0, time.UTC)
		}
		recs = append(recs, keyserver.EnvelopeRecord{
			ID: envelope.NewID(), Sender: fmt.Sprintf("s%d@hospital.example", i%4), Recipient: fmt.Sprintf("p%d@example.org", i%9),
			Subject: "s", Created: created, WrappedKey: []byte("w"), KeyCheck: []byte("c"),
		})
	}
	return recs
}

// listings are the queries the migration test compares before and after.
func listings() []keyserver.EnvelopeQuery {
	var qs []keyserver.EnvelopeQuery
	for i := range 4 {
		qs = append(qs, keyserver.EnvelopeQuery{Sender: fmt.Sprintf("s%d@hospital.example", i)})
	}
	for i := range 9 {
		qs = append(qs,
			keyserver.EnvelopeQuery{Recipient: fmt.Sprintf("p%d@example.org", i)},
			keyserver.EnvelopeQuery{Recipient: fmt.Sprintf("p%d@example.org", i), Sender: fmt.Sprintf("s%d@hospital.example", i%4)})
	}
	return append(qs,
		keyserver.EnvelopeQuery{Sender: "s1@hospital.example", Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		keyserver.EnvelopeQuery{Recipient: "p2@example.org", Limit: 5})
}

func listAll(t *testing.T, s *Store) [][]envelope.ID {
	t.Helper()
	var out [][]envelope.ID
	for _, q := range listings() {
		recs, err := s.ListEnvelopes(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []envelope.ID
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		out = append(out, ids)
	}
	return out
}

// TestMigrateVersion1 opens a version 1 file: its sender and recipient indexes
// are rewritten by day, in several chunks, and every listing is what it was.
func TestMigrateVersion1(t *testing.T) {
	defer func(n int) { migrateChunk = n }(migrateChunk)
	migrateChunk = 37 // 400 entries an index: 11 chunks

	recs := overDays(400)
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, recs)

	// What version 2 lists for the same envelopes, registered afresh.
	fresh := registerAfresh(t, recs)
	want := listAll(t, fresh)

	var logged bytes.Buffer
	s, err := Open(path, Options{Migrate: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logged.String(), "index_entries=800") || !strings.Contains(logged.String(), "layout migrated") {
		t.Errorf("migration log:\n%s\nwant the 800 entries and its end", logged.String())
	}
	got := listAll(t, s)
	for i, q := range listings() {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("after migrating, ListEnvelopes(%+v) = %d envelopes, want %d", q, len(got[i]), len(want[i]))
		}
	}
	if n := len(got[0]) + len(got[1]) + len(got[2]) + len(got[3]); n != len(recs) {
		t.Errorf("the senders' listings hold %d envelopes, want %d", n, len(recs))
	}
	// The indexes are the ones version 2 writes, key for key.
	for _, b := range [][]byte{bucketEnvBySender, bucketEnvByRecipient} {
		if got, want := bucketKeys(t, s, b), bucketKeys(t, fresh, b); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("bucket %s after migrating: %d keys differ from version 2's own %d", b, len(got), len(want))
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyVersion); string(v) != LayoutVersion {
			t.Errorf("version %q after migrating, want %q", v, LayoutVersion)
		}
		for _, b := range [][]byte{bucketEnvBySenderV1, bucketEnvByRecipientV1} {
			if tx.Bucket(b) != nil {
				t.Errorf("bucket %s is still there after migrating", b)
			}
		}
		for _, b := range [][]byte{bucketEnvBySender, bucketEnvByRecipient} {
			if n := tx.Bucket(b).Stats().KeyN; n != len(recs) {
				t.Errorf("bucket %s holds %d keys, want %d", b, n, len(recs))
			}
		}
		return nil
	})
}

// registerAfresh is a new store with recs registered in it: what version 2
// writes for them.
func registerAfresh(t *testing.T, recs []keyserver.EnvelopeRecord) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "v2.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var envs []keyserver.NewEnvelope
	for _, r := range recs {
		e := keyserver.NewEnvelope{Record: r}
		if r.HasPayload {
			e.Payload = []byte("ciphertext")
		}
		envs = append(envs, e)
	}
	if err := s.PutEnvelopes(t.Context(), envs, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func bucketKeys(t *testing.T, s *Store, name []byte) [][]byte {
	t.Helper()
	var keys [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestMigrateVersion1CutShort: a migration that stopped before its last
// transaction left the file at version 1 with partial new buckets; the next
// open starts again and ends with each key once.
func TestMigrateVersion1CutShort(t *testing.T) {
	recs := overDays(120)
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, recs)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketEnvBySender)
		if err != nil {
			return err
		}
		// Half copied, and a key no envelope has.
		for k := range 60 {
			if err := b.Put(fmt.Appendf(nil, "partial %d", k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketEnvBySender).Stats().KeyN; n != len(recs) {
			t.Errorf("sender index holds %d keys after a migration started again, want %d", n, len(recs))
		}
		return nil
	})
}

// TestMigrateVersion1Refuses: a version 1 index key that is not address, time
// and id stops the migration with an error naming it, and leaves the file at
// version 1 with its old index whole.
func TestMigrateVersion1Refuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, overDays(10))
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte{0, 3, 'a', 'b'}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEnvByRecipientV1).Put(bad, nil) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{Migrate: true})
	if err == nil || !strings.Contains(err.Error(), "migrate layout version 1 to 2") || !strings.Contains(err.Error(), fmt.Sprintf("%x", bad)) {
		t.Fatalf("Open of a version 1 file with a malformed index key: %v; want a migration error naming the key", err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyVersion); !bytes.Equal(v, []byte("1")) {
			t.Errorf("version %q after a refused migration, want 1", v)
		}
		if n := tx.Bucket(bucketEnvByRecipientV1).Stats().KeyN; n != 11 {
			t.Errorf("old recipient index holds %d keys after a refused migration, want 11", n)
		}
		return nil
	})
}

// TestMigrateVersion1NeedsConsent: without Options.Migrate a version 1 file is
// refused, with the way to migrate it, and left as it was.
func TestMigrateVersion1NeedsConsent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, overDays(10))
	_, err := Open(path, Options{})
	want := "open " + path + ": layout older than this build's: version 1, this build needs 2: run `waxseal migrate`, which copies the file aside first (or set [store] migrate = true)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrLayoutOld) {
		t.Fatalf("Open of a version 1 file without Migrate: %v\nwant %s", err, want)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyVersion); !bytes.Equal(v, []byte("1")) {
			t.Errorf("version %q after a refused open, want 1", v)
		}
		if tx.Bucket(bucketEnvBySender) != nil {
			t.Errorf("a refused open created bucket %s", bucketEnvBySender)
		}
		return nil
	})
}

// openLayout1 gunzips testdata/layout1.db.gz (a file the version 1 build wrote)
// to a temporary path.
func openLayout1(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/layout1.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "layout1.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateLayout1File migrates the file the version 1 build wrote: every
// sender's and recipient's listing, whole, by range and paged, is what the
// envelopes themselves say it is (the created index, which the migration does
// not touch, lists them all), and the audit chain still verifies.
func TestMigrateLayout1File(t *testing.T) {
	ctx := t.Context()
	path := openLayout1(t)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrLayoutOld) {
		t.Fatalf("Open without Migrate: %v, want ErrLayoutOld", err)
	}
	s, err := Open(path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.ListEnvelopes(ctx, keyserver.EnvelopeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 120 {
		t.Fatalf("%d envelopes in the version 1 file, want 120", len(all))
	}
	expect := func(q keyserver.EnvelopeQuery) []envelope.ID {
		var ids []envelope.ID
		for _, r := range all { // newest first, as ListEnvelopes
			if (q.Sender == "" || r.Sender == q.Sender) && (q.Recipient == "" || r.Recipient == q.Recipient) &&
				(q.Since.IsZero() || !r.Created.Before(q.Since)) && (q.Until.IsZero() || r.Created.Before(q.Until)) &&
				(q.Limit == 0 || len(ids) < q.Limit) {
				ids = append(ids, r.ID)
			}
		}
		return ids
	}
	list := func(q keyserver.EnvelopeQuery) []envelope.ID {
		recs, err := s.ListEnvelopes(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []envelope.ID
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	week := keyserver.EnvelopeQuery{Since: time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC)}
	var qs []keyserver.EnvelopeQuery
	for i := range 5 {
		sender := fmt.Sprintf("clinician%d@hospital.example", i)
		q := week
		q.Sender = sender
		qs = append(qs, keyserver.EnvelopeQuery{Sender: sender}, q, keyserver.EnvelopeQuery{Sender: sender, Limit: 3})
	}
	for i := range 12 {
		recipient := fmt.Sprintf("patient%d@example.org", i)
		qs = append(qs, keyserver.EnvelopeQuery{Recipient: recipient},
			keyserver.EnvelopeQuery{Recipient: recipient, Sender: fmt.Sprintf("clinician%d@hospital.example", i%5)})
	}
	total := 0
	for _, q := range qs {
		got, want := list(q), expect(q)
		if !slices.Equal(got, want) {
			t.Errorf("ListEnvelopes(%+v): %d envelopes, want %d", q, len(got), len(want))
		}
		if q.Sender != "" && q.Recipient == "" && q.Since.IsZero() && q.Limit == 0 {
			total += len(got)
		}
	}
	if total != len(all) {
		t.Errorf("the senders' listings hold %d envelopes, want %d", total, len(all))
	}
	// Paged through, a recipient's listing is its whole one.
	q := keyserver.EnvelopeQuery{Recipient: "patient3@example.org", Limit: 2}
	var paged []envelope.ID
	for {
		recs, err := s.ListEnvelopes(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			paged = append(paged, r.ID)
		}
		if len(recs) < q.Limit {
			break
		}
		last := recs[len(recs)-1]
		q.After = &keyserver.EnvelopeCursor{Created: last.Created, ID: last.ID}
	}
	if want := expect(keyserver.EnvelopeQuery{Recipient: "patient3@example.org"}); !slices.Equal(paged, want) || len(want) == 0 {
		t.Errorf("patient3 paged by 2: %d envelopes, want %d", len(paged), len(want))
	}
	// And the indexes are those version 2 writes for these envelopes, key for key.
	fresh := registerAfresh(t, all)
	for _, b := range [][]byte{bucketEnvBySender, bucketEnvByRecipient} {
		if got, want := bucketKeys(t, s, b), bucketKeys(t, fresh, b); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("bucket %s after migrating: %d keys differ from version 2's own %d", b, len(got), len(want))
		}
	}
	if n, _, err := keyserver.VerifyAudit(ctx, s); err != nil || n != 120 {
		t.Errorf("audit chain after migrating: %d records, %v; want 120, verified", n, err)
	}
}

// TestMigrateAgainAfterACopy: a migration stopped after its copy aside (and a
// truncated copy at that name, as a crash while copying leaves under
// .partial, or an admin's restore leaves) starts again: the copy is made anew,
// whole, and the file migrates.
func TestMigrateAgainAfterACopy(t *testing.T) {
	recs := overDays(120)
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, recs)
	backup := path + ".before"
	if err := os.WriteFile(backup, []byte("a copy cut short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup+".partial", []byte("a partial copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	migrated, err := Migrate(t.Context(), path, Options{MigrateBackup: backup, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil || !migrated {
		t.Fatalf("Migrate with an earlier copy there: %v, %v", migrated, err)
	}
	if !strings.Contains(logged.String(), "replaced one an earlier, unfinished migration left") {
		t.Errorf("log does not say the copy was replaced:\n%s", logged.String())
	}
	if _, err := os.Stat(backup + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.partial left behind: %v", backup, err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v, %v; want mode 0600", fi, err)
	}
	// The copy is the version 1 file whole; the file is version 2.
	if _, err := Open(backup, Options{}); !errors.Is(err, ErrLayoutOld) {
		t.Fatalf("the copy opens as %v; want a version 1 file", err)
	}
	old, err := Open(backup, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listAll(t, s), listAll(t, old); fmt.Sprint(got) != fmt.Sprint(want) || len(got[0]) == 0 {
		t.Errorf("the migrated file and its copy list differently")
	}
	s.Close()
	old.Close()
	if migrated, err := Migrate(t.Context(), path, Options{}); err != nil || migrated {
		t.Errorf("Migrate of a version 2 file: %v, %v; want nothing to do", migrated, err)
	}
}

// TestMigrateStopped: a migration whose context ends stops between
// transactions with the file still at version 1, and the next one finishes.
func TestMigrateStopped(t *testing.T) {
	defer func(n int) { migrateChunk = n }(migrateChunk)
	migrateChunk = 7
	path := filepath.Join(t.TempDir(), "v1.db")
	writeVersion1(t, path, overDays(60))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Migrate(ctx, path, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Migrate with its context ended: %v, want context.Canceled", err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrLayoutOld) {
		t.Fatalf("after a stopped migration the file opens as %v; want version 1", err)
	}
	if migrated, err := Migrate(t.Context(), path, Options{}); err != nil || !migrated {
		t.Fatalf("Migrate after a stopped one: %v, %v", migrated, err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := listAll(t, s); len(got[0])+len(got[1])+len(got[2])+len(got[3]) != 60 {
		t.Errorf("senders' listings after the migration: %d envelopes, want 60", len(got[0])+len(got[1])+len(got[2])+len(got[3]))
	}
}

// TestMigrateRefuses: Migrate creates no file where there is none, says when
// another process holds the file, and refuses a file without a layout version.
func TestMigrateRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.db")
	if _, err := Migrate(t.Context(), missing, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Migrate of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Migrate created %s", missing)
	}
	path := filepath.Join(dir, "held.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(t.Context(), path, Options{Timeout: 20 * time.Millisecond}); !errors.Is(err, ErrInUse) {
		t.Errorf("Migrate of a file a store holds: %v, want ErrInUse", err)
	}
	s.Close()
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Migrate(t.Context(), other, Options{}); err == nil || !strings.Contains(err.Error(), `layout version "", this build reads "2"`) {
		t.Errorf("Migrate of a bbolt file that is not a key server's: %v", err)
	}
}
