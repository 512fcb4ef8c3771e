// Command workerassets writes the key server's static files for a Cloudflare
// Worker's static assets: each under its hashed name in DIR/static/, a
// _headers file giving them a year of immutable caching, and the list of them
// (assets.Static, JSON) that the Worker reads to name them in its pages
// (`make worker`; docs/DEPLOY.md). It runs natively, on the files this
// checkout's `make wasm` embedded, so the names and integrity values are the
// ones `waxseal serve` uses.
//
//	go run ./internal/tools/workerassets -dir build/worker/assets -list build/worker/static.json
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/waxseal/waxseal/assets"
)

// headers are the static files' response headers (Cloudflare's _headers
// format): assets.Set.ServeHTTP's caching, and the security headers the key
// server sends on everything that is not a page (httpapi's securityHeaders;
// a deployed Worker is on https, so HSTS too).
const headers = `/static/*
  Cache-Control: public, max-age=31536000, immutable
  X-Content-Type-Options: nosniff
  Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; base-uri 'none'
  Referrer-Policy: no-referrer
  Cross-Origin-Opener-Policy: same-origin
  Strict-Transport-Security: max-age=63072000; includeSubDomains
`

func main() {
	dir := flag.String("dir", "", "the static assets directory to write (emptied first)")
	list := flag.String("list", "", "where to write the list of files, JSON")
	flag.Parse()
	if *dir == "" || *list == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: workerassets -dir DIR -list FILE")
		os.Exit(2)
	}
	if err := write(*dir, *list); err != nil {
		fmt.Fprintln(os.Stderr, "workerassets:", err)
		os.Exit(1)
	}
}

func write(dir, list string) error {
	set, err := assets.Load()
	if err != nil {
		return err
	}
	if !set.HasDecryptor() {
		return errors.New("the decryptor is not in this build: run `make wasm` first")
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o755); err != nil {
		return err
	}
	for _, a := range set.All() {
		if err := os.WriteFile(filepath.Join(dir, "static", path.Base(a.URL)), a.Raw(), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "_headers"), []byte(headers), 0o644); err != nil {
		return err
	}
	b, err := json.MarshalIndent(set.Statics(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(list, append(b, '\n'), 0o644)
}
