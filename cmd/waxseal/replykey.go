package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/server"
)

// cmdReplyKey is `waxseal admin reply-key rotate --config FILE`: it appends a new
// reply key pair to the reply key file and makes its public half the config's
// reply_public_key. The older private keys stay in the file, so replies sealed
// to them before the rotation still open; an operator deletes their lines once
// no such reply is pending. Servers read the new key when restarted.
func cmdReplyKey(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usagef("reply-key: the command is: reply-key rotate --config FILE")
	}
	fs := newFlagSet("admin reply-key rotate", "admin reply-key rotate --config FILE", stderr)
	cfgPath := fs.String("config", "", "the waxseal.toml to update (required)")
	positional, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	if *cfgPath == "" {
		return usagef("--config is required")
	}
	fc, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	keyFile := fc.path(fc.ReplyKeyFile)
	kp, err := reply.AddKey(keyFile)
	if err != nil {
		return err
	}
	pub := reply.EncodeKey(kp.Public)
	if err := setTopLevelKey(*cfgPath, "reply_public_key", pub); err != nil {
		return fmt.Errorf("the new key is in %s but the config was not updated: %w", keyFile, err)
	}
	keys, err := reply.LoadKeys(keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reply_public_key: %s\nreply_keys: %d in %s\n", pub, len(keys), keyFile)
	return nil
}

// setTopLevelKey sets `name = "value"` in a TOML file, replacing the line that
// sets it or adding one before the first table, and replaces the file
// atomically. It edits the text so the file's comments survive.
func setTopLevelKey(path, name, value string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	line := name + " = " + strconv.Quote(value)
	lines := strings.Split(string(data), "\n")
	done := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			lines = append(lines[:i], append([]string{line}, lines[i:]...)...)
			done = true
			break
		}
		if k, _, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == name {
			lines[i] = line
			done = true
			break
		}
	}
	if !done {
		lines = append(lines, line)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".waxseal-config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(lines, "\n")); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// openReplyDeliverer delivers recipients' secure replies when this gateway holds
// the reply private keys (reply_key_file, which `waxseal init` writes): it
// leases them from the key server, opens them, and sends them on. Its ledger
// lives beside the spool (SPOOL-replies).
func openReplyDeliverer(fc *fileConfig, g *server.Gateway, ks *client.Client, spoolDir string, poll time.Duration, log *slog.Logger) (*server.ReplyDeliverer, error) {
	keyFile := fc.path(fc.ReplyKeyFile)
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		log.Warn("no reply key file: secure replies are not delivered by this gateway", "file", keyFile)
		return nil, nil
	}
	keys, err := reply.LoadKeys(keyFile)
	if err != nil {
		return nil, err
	}
	return g.NewReplyDeliverer(server.ReplyConfig{
		Source: server.NewRemoteReplies(ks), Keys: keys, Forward: fc.Gateway.Forward,
		LedgerDir: filepath.Clean(spoolDir) + "-replies", Interval: poll,
	})
}

// replyForward is the gateway's forward policy, which the key server's page
// needs too: the [gateway] section's, when the file has one.
func (c *fileConfig) replyForward() string {
	if c.Gateway != nil && c.Gateway.Forward != "" {
		return c.Gateway.Forward
	}
	return server.ForwardOrganisation
}

// forwardDomains are the addresses the forward policy "organisation" allows,
// the gateway's internal_domains (the key server defaults to org_domains).
func (c *fileConfig) forwardDomains() []string {
	if c.Gateway != nil {
		return c.Gateway.InternalDomains
	}
	return nil
}

// replyPublicKey is reply_public_key, or nil when the installation has none.
func (c *fileConfig) replyPublicKey() (*[32]byte, error) {
	if c.ReplyPublicKey == "" {
		return nil, nil
	}
	k, err := reply.DecodeKey(c.ReplyPublicKey)
	if err != nil {
		return nil, fmt.Errorf("reply_public_key: %w", err)
	}
	return &k, nil
}
