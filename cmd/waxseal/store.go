package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

// storeConfig is the [store] section: which database the key server keeps its
// records in. Without it, bbolt in data_dir, as before.
type storeConfig struct {
	// Driver is "bolt" (the default), "postgres" or "sqlite".
	Driver string `toml:"driver"`
	// DSN is the PostgreSQL connection string, or the SQLite file (relative to
	// this file; default data_dir/waxseal.sqlite). Keep a password out of the
	// file: put the DSN in dsn_file, or in WAXSEAL_STORE_DSN. Never logged.
	DSN     string `toml:"dsn,omitempty"`
	DSNFile string `toml:"dsn_file,omitempty"`
	// Migrate applies pending schema migrations at start-up; without it the
	// server refuses an out-of-date schema (run `waxseal migrate`).
	Migrate bool `toml:"migrate,omitempty"`
	// MaxConns caps each node's pool of connections for reads (the group
	// commit has one more of its own); default max(4, CPUs) on PostgreSQL,
	// where more backends than cores to run them lengthen every commit
	// (docs/BENCHMARKS.md), and 16 on SQLite.
	MaxConns int `toml:"max_conns,omitempty"`
	// Node names this key server node in its metrics and logs; default the
	// host name on PostgreSQL (where several nodes share the database), none
	// otherwise.
	Node string `toml:"node,omitempty"`
	// NodeHold keeps the posted-envelope hold ([limits] posted_hold_mb) in each
	// node's memory on PostgreSQL too. Off by default there: the page that
	// fetches a held envelope may reach another node, which does not hold it,
	// so pages carry the posted fields instead. Turn it on only behind a load
	// balancer that keeps each client on one node (sticky sessions).
	NodeHold bool `toml:"node_hold,omitempty"`
}

// storeEnvDSN overrides [store] dsn and dsn_file.
const storeEnvDSN = "WAXSEAL_STORE_DSN"

// storeTarget is a configured store resolved: its driver and DSN (or path).
type storeTarget struct {
	driver   string
	dsn      string
	migrate  bool
	maxConns int
}

// storeTarget resolves [store], reading dsn_file and the environment.
func (c *fileConfig) storeTarget() (storeTarget, error) {
	sc := storeConfig{}
	if c.Store != nil {
		sc = *c.Store
	}
	t := storeTarget{driver: sc.Driver, dsn: sc.DSN, migrate: sc.Migrate, maxConns: sc.MaxConns}
	if t.driver == "" {
		t.driver = "bolt"
	}
	if sc.DSNFile != "" {
		data, err := os.ReadFile(c.path(sc.DSNFile))
		if err != nil {
			return t, fmt.Errorf("[store] dsn_file: %w", err)
		}
		t.dsn = strings.TrimSpace(string(data))
	}
	if env := os.Getenv(storeEnvDSN); env != "" && t.driver != "bolt" {
		t.dsn = env
	}
	switch t.driver {
	case "bolt":
		t.dsn = c.dbPath()
	case "sqlite":
		if t.dsn == "" {
			t.dsn = filepath.Join(c.path(c.DataDir), "waxseal.sqlite")
		} else if !strings.HasPrefix(t.dsn, "file:") {
			t.dsn = c.path(t.dsn)
		}
	case "postgres":
		if t.dsn == "" {
			return t, fmt.Errorf("[store] driver postgres needs a dsn (dsn_file, dsn or %s)", storeEnvDSN)
		}
	default:
		return t, fmt.Errorf("[store] driver %q: want bolt, postgres or sqlite", t.driver)
	}
	return t, nil
}

// openStore opens the configured store. migrate forces pending migrations to
// be applied (waxseal migrate, init); otherwise [store] migrate decides. log
// (nil: slog's default) reports a bbolt layout migration.
func openStore(ctx context.Context, fc *fileConfig, migrate bool, log *slog.Logger) (keyserver.Store, error) {
	t, err := fc.storeTarget()
	if err != nil {
		return nil, err
	}
	if t.driver == "bolt" {
		if err := os.MkdirAll(fc.path(fc.DataDir), 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		return boltstore.Open(t.dsn, boltstore.Options{Migrate: migrate || t.migrate, MigrateBackup: boltBackupPath(t.dsn), Logger: log})
	}
	if t.driver == "sqlite" {
		if err := os.MkdirAll(filepath.Dir(strings.TrimPrefix(t.dsn, "file:")), 0o700); err != nil {
			return nil, fmt.Errorf("sqlite dir: %w", err)
		}
	}
	return sqlstore.Open(ctx, sqlstore.Driver(t.driver), t.dsn, sqlstore.Options{Migrate: migrate || t.migrate, MaxOpenConns: t.maxConns})
}

// cmdMigrate brings a store's schema (SQL) or layout (bbolt) up to this
// build's version.
func cmdMigrate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate --config DIR/waxseal.toml", stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	fc, err := parseConfigFlags(fs, cfgPath, args)
	if err != nil {
		return err
	}
	t, err := fc.storeTarget()
	if err != nil {
		return err
	}
	if t.driver == "bolt" {
		return migrateBolt(ctx, t.dsn, stdout)
	}
	st, err := sqlstore.Open(ctx, sqlstore.Driver(t.driver), t.dsn, sqlstore.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "store: %s, schema version %d\n", redactedTarget(t), v)
	return nil
}

// migrateBolt migrates the bbolt file at path if its layout is older than this
// build's (the key server stopped: it holds the file's lock).
func migrateBolt(ctx context.Context, path string, stdout io.Writer) error {
	backup := boltBackupPath(path)
	migrated, err := boltstore.Migrate(ctx, path, boltstore.Options{MigrateBackup: backup})
	if errors.Is(err, boltstore.ErrInUse) {
		return fmt.Errorf("%w: stop the key server, then migrate", err)
	}
	if err != nil {
		return err
	}
	if migrated {
		fmt.Fprintf(stdout, "store: bolt %s, layout migrated to version %s (the file before: %s)\n", path, boltstore.LayoutVersion, backup)
	} else {
		fmt.Fprintf(stdout, "store: bolt %s, layout version %s (up to date)\n", path, boltstore.LayoutVersion)
	}
	return nil
}

// boltBackupPath is where a layout migration copies the bbolt file at path
// first: the migration is one way (an older build refuses the migrated file),
// so the copy is the way back.
func boltBackupPath(path string) string {
	return path + ".before-layout-" + boltstore.LayoutVersion
}

// cmdStore is `waxseal store copy`.
func cmdStore(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return usagef("usage: waxseal store copy --from CONFIG --to CONFIG")
	}
	fs := newFlagSet("store copy", "store copy --from CONFIG --to CONFIG", stderr)
	from := fs.String("from", "", "configuration of the installation to copy (its key server stopped)")
	to := fs.String("to", "", "configuration naming the empty SQL store to copy into")
	positional, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	if *from == "" || *to == "" {
		return usagef("--from and --to are required")
	}
	fromCfg, err := loadConfig(*from)
	if err != nil {
		return err
	}
	toCfg, err := loadConfig(*to)
	if err != nil {
		return err
	}
	src, err := openStore(ctx, fromCfg, false, nil)
	if err != nil {
		return fmt.Errorf("open source (is its key server stopped?): %w", err)
	}
	defer src.Close()
	dstStore, err := openStore(ctx, toCfg, true, nil)
	if err != nil {
		return fmt.Errorf("open destination: %w", err)
	}
	defer dstStore.Close()
	dst, ok := dstStore.(*sqlstore.Store)
	if !ok {
		return usagef("--to must configure a SQL store ([store] driver = \"postgres\" or \"sqlite\")")
	}
	stats, err := copyStore(ctx, src, dst, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied: %d envelopes, %d shared ciphertexts, %d accounts, %d outbox mails, %d replies, %d thread hashes, %d audit records; audit head %s verified\n",
		stats.envelopes, stats.ciphertexts, stats.accounts, stats.mails, stats.replies, stats.threads, stats.audit, stats.head)
	return nil
}

type copyStats struct {
	envelopes, ciphertexts, accounts, mails, replies, threads int
	audit                                                     uint64
	head                                                      string
}

// copyStore copies everything a key server needs to carry on, from src into the
// empty dst, in one transaction, then verifies the copy: the audit chain from
// end to end against the source's head, and every envelope and account read
// back equal. Secure replies (pending ones are mail not yet delivered) and the
// thread hashes of sticky threads are copied too. Sessions, emailed codes,
// WebAuthn ceremonies and invites are not: they live minutes or hours (people
// sign in again, invites are made again), a copied session would be one more
// place a signed-in browser is valid from, and the Store interface offers no way
// to list them. Nor are rate limit and lockout counts: they start afresh.
// Uploaded ciphertexts no registration references yet are not copied either:
// the gateway retries what failed.
func copyStore(ctx context.Context, src keyserver.Store, dst *sqlstore.Store, progress io.Writer) (copyStats, error) {
	var st copyStats
	srcCount, srcHead, err := keyserver.VerifyAudit(ctx, src)
	if err != nil {
		return st, fmt.Errorf("source audit chain: %w", err)
	}
	envs, err := src.ListEnvelopes(ctx, keyserver.EnvelopeQuery{})
	if err != nil {
		return st, err
	}
	accounts, err := src.ListAccounts(ctx)
	if err != nil {
		return st, err
	}
	mails, err := src.DueMail(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	if err != nil {
		return st, err
	}
	var replies []keyserver.StoredReply
	for _, r := range envs {
		rs, err := src.RepliesOf(ctx, r.ID)
		if err != nil {
			return st, err
		}
		replies = append(replies, rs...)
	}
	type threadHash struct {
		hash    []byte
		expires time.Time
	}
	var threads []threadHash
	lister, ok := src.(keyserver.ThreadHashLister)
	if !ok {
		return st, errors.New("the source store cannot list its thread hashes")
	}
	if err := lister.ThreadHashes(ctx, func(h []byte, exp time.Time) error {
		threads = append(threads, threadHash{h, exp})
		return nil
	}); err != nil {
		return st, err
	}
	report := func(what string, done, total int) {
		if done == total || done%1000 == 0 {
			fmt.Fprintf(progress, "%s: %d/%d\n", what, done, total)
		}
	}
	err = dst.Import(ctx, func(im *sqlstore.Importer) error {
		// Shared ciphertexts first, with the references the envelopes hold.
		refs := map[string]int{}
		var order []string
		for _, r := range envs {
			if len(r.Ciphertext) > 0 && r.HasPayload {
				if refs[string(r.Ciphertext)] == 0 {
					order = append(order, string(r.Ciphertext))
				}
				refs[string(r.Ciphertext)]++
			}
		}
		now := time.Now()
		for i, sum := range order {
			var key [32]byte
			copy(key[:], sum)
			data, err := src.Ciphertext(ctx, key)
			if err != nil {
				return err
			}
			if err := im.Ciphertext([]byte(sum), data, refs[sum], now); err != nil {
				return err
			}
			st.ciphertexts++
			report("shared ciphertexts", i+1, len(order))
		}
		for i := len(envs) - 1; i >= 0; i-- { // oldest first
			r := envs[i]
			var payload []byte
			if r.HasPayload {
				p, err := src.Payload(ctx, r.ID)
				if err != nil {
					return err
				}
				payload = p
				if len(r.Ciphertext) > 0 {
					var key [32]byte
					copy(key[:], r.Ciphertext)
					ct, err := src.Ciphertext(ctx, key)
					if err != nil {
						return err
					}
					payload = p[:len(p)-len(ct)] // the head only
				}
			}
			if err := im.Envelope(r, payload); err != nil {
				return err
			}
			st.envelopes++
			report("envelopes", st.envelopes, len(envs))
		}
		for _, a := range accounts {
			if err := im.Account(a); err != nil {
				return err
			}
			st.accounts++
		}
		report("accounts", st.accounts, len(accounts))
		for _, m := range mails {
			if err := im.Mail(m); err != nil {
				return err
			}
			st.mails++
		}
		report("outbox mails", st.mails, len(mails))
		for _, r := range replies {
			if err := im.Reply(r); err != nil {
				return err
			}
			st.replies++
		}
		report("replies", st.replies, len(replies))
		for _, t := range threads {
			if err := im.ThreadHash(t.hash, t.expires); err != nil {
				return err
			}
			st.threads++
		}
		report("thread hashes", st.threads, len(threads))
		return src.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) {
			if err := im.Audit(r); err != nil {
				return false, err
			}
			st.audit++
			if st.audit%10000 == 0 || st.audit == srcCount {
				fmt.Fprintf(progress, "audit records: %d/%d\n", st.audit, srcCount)
			}
			return true, nil
		})
	})
	if err != nil {
		return st, fmt.Errorf("copy: %w", err)
	}
	// Verify what was committed, read back through the destination.
	n, head, err := keyserver.VerifyAudit(ctx, dst)
	if err != nil {
		return st, fmt.Errorf("verify copy: audit chain: %w", err)
	}
	if n != srcCount || head != srcHead {
		return st, fmt.Errorf("verify copy: audit chain of %d records ending %s, the source's has %d ending %s", n, head, srcCount, srcHead)
	}
	for _, r := range envs {
		got, err := dst.Envelope(ctx, r.ID)
		if err != nil {
			return st, fmt.Errorf("verify copy: %w", err)
		}
		if !sameJSON(got, r) {
			return st, fmt.Errorf("verify copy: envelope %s differs", r.ID)
		}
		if r.HasPayload {
			a, errA := src.Payload(ctx, r.ID)
			b, errB := dst.Payload(ctx, r.ID)
			if errA != nil || errB != nil || string(a) != string(b) {
				return st, fmt.Errorf("verify copy: payload of %s differs", r.ID)
			}
		}
	}
	for _, a := range accounts {
		got, err := dst.Account(ctx, a.ID)
		if err != nil || !sameJSON(got, a) {
			return st, fmt.Errorf("verify copy: account %s differs", a.ID)
		}
	}
	for _, r := range replies {
		got, err := dst.RepliesOf(ctx, r.Envelope)
		if err != nil {
			return st, fmt.Errorf("verify copy: %w", err)
		}
		if !slices.ContainsFunc(got, func(g keyserver.StoredReply) bool { return sameJSON(g, r) }) {
			return st, fmt.Errorf("verify copy: reply %s differs", r.ID)
		}
	}
	copied := map[string]time.Time{}
	if err := dst.ThreadHashes(ctx, func(h []byte, exp time.Time) error {
		copied[string(h)] = exp
		return nil
	}); err != nil {
		return st, fmt.Errorf("verify copy: %w", err)
	}
	for _, t := range threads {
		if exp, ok := copied[string(t.hash)]; !ok || !exp.Equal(t.expires) {
			return st, fmt.Errorf("verify copy: thread hash %x differs", t.hash)
		}
	}
	if len(copied) != len(threads) {
		return st, fmt.Errorf("verify copy: %d thread hashes, the source has %d", len(copied), len(threads))
	}
	st.head = head
	return st, nil
}

// redactedTarget describes a store for messages, without a DSN's password.
func redactedTarget(t storeTarget) string {
	if t.driver == "postgres" {
		if u, err := url.Parse(t.dsn); err == nil && u.Host != "" {
			return "postgres " + u.Redacted()
		}
		return "postgres (dsn redacted)"
	}
	return t.driver + " " + t.dsn
}

// sameJSON compares two records as their JSON, which is what the stores keep.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// adminBackup downloads a hot backup of the key server's bbolt store into
// file: written beside it, fsynced, opened and its audit chain verified, and
// only then renamed into place, so that file is never a truncated backup.
func adminBackup(ctx context.Context, c *client.Client, file string, stdout io.Writer) error {
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("%s exists: not overwriting it", file)
	}
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // it holds wrapped keys
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	err = c.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, head, err := verifyBoltBackup(ctx, tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"file": file, "audit_records": n, "audit_head": head})
}

// verifyBoltBackup opens a downloaded bbolt backup and verifies its audit
// chain. The backup of a key server whose build has an older layout (an
// upgrade under way) is checked on a migrated scratch copy, so that the backup
// stays a file that server can be restored from.
func verifyBoltBackup(ctx context.Context, path string) (uint64, string, error) {
	st, err := boltstore.Open(path, boltstore.Options{})
	if errors.Is(err, boltstore.ErrLayoutOld) {
		scratch := path + ".check"
		defer os.Remove(scratch)
		if err = copyFile(path, scratch); err == nil {
			st, err = boltstore.Open(scratch, boltstore.Options{Migrate: true, Logger: slog.New(slog.DiscardHandler)})
		}
	}
	if err != nil {
		return 0, "", fmt.Errorf("backup does not open: %w", err)
	}
	defer st.Close()
	n, head, err := keyserver.VerifyAudit(ctx, st)
	if err != nil {
		return 0, "", fmt.Errorf("backup's audit chain: %w", err)
	}
	return n, head, nil
}

// copyFile copies from to a new file to (mode 0600).
func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}
