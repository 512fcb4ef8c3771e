package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/waxseal/waxseal/brand"
)

// fileConfig is waxseal.toml. Paths in it are relative to the file's directory, so a
// directory made by `waxseal init` can be moved as a whole.
type fileConfig struct {
	PublicURL     string   `toml:"public_url"`
	Listen        string   `toml:"listen"`
	DataDir       string   `toml:"data_dir"`
	MasterKeyFile string   `toml:"master_key_file"`
	OrgDomains    []string `toml:"org_domains"`
	TrustProxy    bool     `toml:"trust_proxy"`
	// DefaultLanguage is the organisation's language for people whose browser
	// asks for none offered (default "en"); TimeZone the zone of times in
	// mail (IANA name, default UTC). Languages are added or overridden with
	// data_dir/locales/LANG.toml (docs/DEPLOY.md).
	DefaultLanguage string `toml:"default_language"`
	TimeZone        string `toml:"time_zone"`
	Tokens          struct {
		Gateway []string `toml:"gateway"`
		Admin   []string `toml:"admin"`
	} `toml:"tokens"`
	Mail mailConfig `toml:"mail"`
	// Store is the [store] section (store.go); nil: bbolt in data_dir.
	Store  *storeConfig `toml:"store,omitempty"`
	Limits struct {
		CodeTTL        duration `toml:"code_ttl"`
		SessionIdle    duration `toml:"session_idle"`
		SessionMax     duration `toml:"session_max"`
		AccountMaxIdle duration `toml:"account_max_idle"`
		SweepInterval  duration `toml:"sweep_interval"`
		// PostedHoldMB bounds the memory for envelopes posted by securedoc.html
		// files until their page fetches them (0: 64; -1: off, pages carry them).
		PostedHoldMB int64 `toml:"posted_hold_mb"`
		// PostsInFlight, PostMBInFlight and PostsPerClient bound the securedoc.html
		// posts read at once, in total and per client (0: 16, 80 and 2).
		PostsInFlight  int   `toml:"posts_in_flight"`
		PostMBInFlight int64 `toml:"post_mb_in_flight"`
		PostsPerClient int   `toml:"posts_per_client"`
	} `toml:"limits"`
	// Gateway configures the sending gateway (gateway.go); nil when the file
	// has no [gateway] section.
	Gateway *gatewayConfig `toml:"gateway"`

	// ReplyKeyFile holds the reply private keys (envelope/reply: one a line,
	// oldest first); only the gateway reads it. ReplyPublicKey is the newest
	// one's public half, which the page seals replies to.
	ReplyKeyFile   string `toml:"reply_key_file"`
	ReplyPublicKey string `toml:"reply_public_key"`

	// Brand is the [brand] section (brand.go): the organisation's name, logo,
	// colour, help desk and the one sender of system mail.
	Brand brand.Config `toml:"brand,omitempty"`

	dir         string // where the file is
	brand       *brand.Brand
	brandLoaded bool
}

type mailConfig struct {
	From         string   `toml:"from,omitempty"` // superseded by [brand] mail_from
	Mode         string   `toml:"mode"`           // "dir" or "smtp"
	Dir          string   `toml:"dir"`
	SMTPHost     string   `toml:"smtp_host"`
	SMTPPort     int      `toml:"smtp_port"`
	SMTPTLS      string   `toml:"smtp_tls"` // none, starttls, tls
	SMTPUsername string   `toml:"smtp_username"`
	SMTPPassword string   `toml:"smtp_password"`
	Interval     duration `toml:"interval"`
}

// duration reads "10m", "12h" from TOML.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func (d duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func loadConfig(path string) (*fileConfig, error) {
	var c fileConfig
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, fmt.Errorf("config %s: unknown setting %q", path, undecoded[0].String())
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(abs)
	if c.PublicURL == "" {
		return nil, fmt.Errorf("config %s: public_url is required", path)
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = "master.key"
	}
	if c.ReplyKeyFile == "" {
		c.ReplyKeyFile = "reply.key"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Mail.Mode == "" {
		c.Mail.Mode = "dir"
	}
	if c.Mail.Dir == "" {
		c.Mail.Dir = "mail"
	}
	if c.Mail.SMTPTLS == "" {
		c.Mail.SMTPTLS = "starttls"
	}
	return &c, nil
}

// path resolves a path from the file relative to the file's directory.
func (c *fileConfig) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *fileConfig) dbPath() string { return filepath.Join(c.path(c.DataDir), "waxseal.db") }

// writeConfig writes c, then extra (commented sections the encoder cannot write).
func writeConfig(path string, c *fileConfig, extra string) error {
	var buf bytes.Buffer
	buf.WriteString("# waxseal configuration (docs/DEPLOY.md). Paths are relative to this file.\n")
	buf.WriteString("# Tokens are stored as hashes; `waxseal init` printed the tokens themselves once.\n\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	buf.WriteString(extra)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create config: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	return f.Close()
}
