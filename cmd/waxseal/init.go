package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/keyserver"
)

func cmdInit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", "init --dir DIR --public-url URL [--listen ADDR] [--org-domain DOMAIN ...] [--admin EMAIL]", stderr)
	dir := fs.String("dir", "", "directory to create the configuration in (required)")
	publicURL := fs.String("public-url", "", "the key server's public origin, such as https://keys.example.org (required)")
	listen := fs.String("listen", "127.0.0.1:8080", "address the key server listens on")
	var orgDomains listFlag
	fs.Var(&orgDomains, "org-domain", "the organisation's own mail domain (repeat); its people are senders")
	storeDSN := fs.String("store", "", "the store: bolt (default), sqlite, sqlite:PATH, or a PostgreSQL URL postgres://… (kept in store.dsn, mode 0600)")
	adminEmail := fs.String("admin", "", "the first administrator's address, at an --org-domain: prints a one-time link to enrol their passkey")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	if *dir == "" || *publicURL == "" {
		return usagef("--dir and --public-url are required")
	}
	origin, err := envelope.Origin(*publicURL)
	if err != nil {
		return usagef("--public-url: %v", err)
	}
	if *adminEmail != "" {
		// Checked before anything is created: an invite enrols only the address it
		// names, and only one at the organisation's own domains.
		if _, err := keyserver.CheckAdminAddress(*adminEmail, orgDomains); err != nil {
			var ke *keyserver.Error
			if errors.As(err, &ke) {
				return usagef("--admin: %s", ke.Message)
			}
			return usagef("--admin: %v", err)
		}
	}
	store, dsn, err := parseStoreFlag(*storeDSN)
	if err != nil {
		return err
	}
	cfgPath, gatewayToken, adminToken, err := initDir(*dir, origin, *listen, orgDomains, "")
	if err != nil {
		return err
	}
	if store != nil {
		if err := configureStore(ctx, cfgPath, store, dsn); err != nil {
			return err
		}
	}
	link := ""
	if *adminEmail != "" {
		if link, err = inviteFirstAdmin(ctx, cfgPath, *adminEmail); err != nil {
			return err
		}
	}
	// Scripts read these lines; the tokens are shown this once and stored only hashed.
	fmt.Fprintf(stdout, "config: %s\n", cfgPath)
	fmt.Fprintf(stdout, "gateway_token: %s\n", gatewayToken)
	fmt.Fprintf(stdout, "admin_token: %s\n", adminToken)
	if link != "" {
		fmt.Fprintf(stdout, "admin_enrolment: %s\n", link)
	}
	return nil
}

// inviteFirstAdmin stores a one-time enrolment link for the first administrator
// in the new installation's database, before any server runs: administrators
// sign in to the web pages only with a passkey, and this link makes the first.
func inviteFirstAdmin(ctx context.Context, cfgPath, email string) (string, error) {
	fc, err := loadConfig(cfgPath)
	if err != nil {
		return "", err
	}
	st, err := openStore(ctx, fc, true, nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	inv, token, err := keyserver.NewAdminInvite(email, "waxseal init", fc.OrgDomains, time.Now())
	if err != nil {
		return "", err
	}
	err = st.PutInvite(ctx, inv, []keyserver.AuditEvent{{Time: inv.Created, Actor: "waxseal init", Action: "admin.invite", Detail: inv.Email}})
	if err != nil {
		return "", fmt.Errorf("store the administrator invite: %w", err)
	}
	return keyserver.EnrolmentURL(fc.PublicURL, token), nil
}

// initDir creates a configuration directory: config file, master key, reply key
// pair (private half in reply.key, public half in the config), data and mail
// directories, and two fresh tokens, which it returns (they are stored hashed).
//
// brandText is the [brand] section to write; "" writes the commented one.
func initDir(dir, origin, listen string, orgDomains []string, brandText string) (cfgPath, gatewayToken, adminToken string, err error) {
	cfgPath = filepath.Join(dir, "waxseal.toml")
	if _, err := os.Stat(cfgPath); err == nil {
		return "", "", "", fmt.Errorf("%s already exists: not overwriting it", cfgPath)
	}
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "mail")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", "", "", fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := keyserver.WriteMasterKey(filepath.Join(dir, "master.key")); err != nil {
		return "", "", "", err
	}
	replyKey, err := reply.AddKey(filepath.Join(dir, "reply.key"))
	if err != nil {
		return "", "", "", err
	}
	gatewayToken, adminToken = keyserver.NewAPIToken(), keyserver.NewAPIToken()
	c := &fileConfig{PublicURL: origin, Listen: listen, DataDir: "data", MasterKeyFile: "master.key", OrgDomains: orgDomains,
		ReplyKeyFile: "reply.key", ReplyPublicKey: reply.EncodeKey(replyKey.Public)}
	c.Tokens.Gateway = []string{keyserver.HashToken(gatewayToken)}
	c.Tokens.Admin = []string{keyserver.HashToken(adminToken)}
	c.Mail = mailConfig{Mode: "dir", Dir: "mail", SMTPPort: 25, SMTPTLS: "starttls",
		Interval: duration{5 * time.Second}}
	// The defaults, written out so an operator sees what can be tuned.
	c.Limits.CodeTTL = duration{10 * time.Minute}
	c.Limits.SessionIdle = duration{30 * time.Minute}
	c.Limits.SessionMax = duration{12 * time.Hour}
	c.Limits.AccountMaxIdle = duration{365 * 24 * time.Hour}
	c.Limits.SweepInterval = duration{time.Minute}
	c.Limits.PostedHoldMB = 64
	c.Limits.PostsInFlight = 16
	c.Limits.PostMBInFlight = 80
	c.Limits.PostsPerClient = 2
	// The gateway needs the token itself, which the [tokens] hashes cannot give
	// it: it reads this file (delete it where no gateway runs).
	if err := os.WriteFile(filepath.Join(dir, "gateway.token"), []byte(gatewayToken+"\n"), 0o600); err != nil {
		return "", "", "", fmt.Errorf("write gateway token: %w", err)
	}
	if brandText == "" {
		brandText = brandSection(origin, orgDomains)
	}
	if err := writeConfig(cfgPath, c, brandText+gatewaySection(orgDomains)); err != nil {
		return "", "", "", err
	}
	return cfgPath, gatewayToken, adminToken, nil
}

// parseStoreFlag reads init's --store: nil for bolt, else the [store] section
// and the DSN to keep in store.dsn (empty for SQLite in the data directory).
func parseStoreFlag(v string) (*storeConfig, string, error) {
	switch {
	case v == "" || v == "bolt":
		return nil, "", nil
	case v == "sqlite":
		return &storeConfig{Driver: "sqlite", Migrate: true}, "", nil
	case strings.HasPrefix(v, "sqlite:"):
		return &storeConfig{Driver: "sqlite", DSN: strings.TrimPrefix(v, "sqlite:"), Migrate: true}, "", nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		return &storeConfig{Driver: "postgres", DSNFile: "store.dsn"}, v, nil
	}
	return nil, "", usagef("--store: want bolt, sqlite, sqlite:PATH or postgres://…")
}

// configureStore writes the [store] section (and store.dsn) of a new
// installation and creates the store's schema.
func configureStore(ctx context.Context, cfgPath string, sc *storeConfig, dsn string) error {
	if err := writeStoreSection(cfgPath, sc, dsn); err != nil {
		return err
	}
	fc, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, fc, true, nil)
	if err != nil {
		return fmt.Errorf("create the store's schema: %w", err)
	}
	return st.Close()
}

// writeStoreSection appends [store] to the config file, and writes the DSN, if
// any, to its own file beside it.
func writeStoreSection(cfgPath string, sc *storeConfig, dsn string) error {
	dir := filepath.Dir(cfgPath)
	if dsn != "" {
		if err := os.WriteFile(filepath.Join(dir, sc.DSNFile), []byte(dsn+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", sc.DSNFile, err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n# Where the key server keeps its records (docs/DEPLOY.md).\n[store]\ndriver = %q\n", sc.Driver)
	if sc.DSN != "" {
		fmt.Fprintf(&b, "dsn = %q\n", sc.DSN)
	}
	if sc.DSNFile != "" {
		fmt.Fprintf(&b, "dsn_file = %q\n", sc.DSNFile)
	}
	fmt.Fprintf(&b, "migrate = %t\n", sc.Migrate)
	f, err := os.OpenFile(cfgPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
