//go:build js && wasm

package main

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"

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
