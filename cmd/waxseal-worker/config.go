//go:build js && wasm

package main

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/keyserver"
)

// configFromEnv reads the key server's configuration from the Worker's
// environment through get.
func configFromEnv(get func(string) string) (keyserver.Config, error) {
	var cfg keyserver.Config
	cfg.PublicURL = get("WAXSEAL_PUBLIC_URL")
	if cfg.PublicURL == "" {
		return cfg, fmt.Errorf("WAXSEAL_PUBLIC_URL is not set")
	}
	key := strings.TrimSpace(get("WAXSEAL_MASTER_KEY"))
	if key == "" {
		return cfg, fmt.Errorf("WAXSEAL_MASTER_KEY is not set (wrangler secret put WAXSEAL_MASTER_KEY)")
	}
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(b) != keyserver.MasterKeySize {
		return cfg, fmt.Errorf("WAXSEAL_MASTER_KEY: want %d bytes in base64", keyserver.MasterKeySize)
	}
	copy(cfg.MasterKey[:], b)
	cfg.GatewayTokens = list(get("WAXSEAL_GATEWAY_TOKENS"))
	cfg.AdminTokens = list(get("WAXSEAL_ADMIN_TOKENS"))
	// The one sender of system mail: the gateway's [brand] mail_from, as
	// "Name <addr>" (docs/DEPLOY.md); default noreply at the public host.
	if from := strings.TrimSpace(get("WAXSEAL_MAIL_FROM")); from != "" {
		a, err := mail.ParseAddress(from)
		if err != nil {
			return cfg, fmt.Errorf("WAXSEAL_MAIL_FROM %q: %w", from, err)
		}
		cfg.MailFrom = a.String()
	}
	// The organisation's name, colour, logo and help desk on the pages and in
	// the mails: [brand] as JSON, the logo as a data: URL (brand.FromJSON).
	if text := strings.TrimSpace(get("WAXSEAL_BRAND")); text != "" {
		b, err := brand.FromJSON(text)
		if err != nil {
			return cfg, fmt.Errorf("WAXSEAL_BRAND: %w", err)
		}
		cfg.Brand = b
		if b != nil && b.Sender != nil {
			if cfg.MailFrom != "" && cfg.MailFrom != b.Sender.String() {
				return cfg, fmt.Errorf("WAXSEAL_MAIL_FROM %s and WAXSEAL_BRAND's mail_from %s name two senders of system mail: set one", cfg.MailFrom, b.Sender)
			}
			cfg.MailFrom = b.Sender.String()
		}
	}
	return cfg, nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
