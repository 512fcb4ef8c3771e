package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/waxseal/waxseal/assets"
)

// checkPages are the pages whose scripts, styles and decryptor are checked: the
// home page, the open page (any id: its shell is the same) and the console.
var checkPages = []string{"/", "/open/00000000000000000000000000000000", "/account", "/sent", "/admin"}

var (
	scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>`)
	linkTag   = regexp.MustCompile(`(?is)<link\b([^>]*)>`)
	attrRE    = regexp.MustCompile(`(?is)\b([a-z-]+)\s*=\s*"([^"]*)"`)
)

// cmdCheckAssets fetches what the key server at base serves to browsers (its
// pages' scripts and styles, and the decryptor) and compares it byte for byte
// with what this binary would serve. It prints one line per file and fails if
// anything differs: the key server serves the code that decrypts, so this is
// how an organisation's monitoring sees it was not changed.
func cmdCheckAssets(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("usage: waxseal admin check-assets URL")
	}
	base, err := url.Parse(strings.TrimRight(args[0], "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usagef("check-assets: %q is not an http(s) URL", args[0])
	}
	set, err := assets.Load()
	if err != nil {
		return fmt.Errorf("embedded assets: %w", err)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableCompression: true}}
	get := func(p, encoding string) ([]byte, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+p, nil)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Accept-Encoding", encoding)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, "", err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, "", fmt.Errorf("%s", resp.Status)
		}
		return b, resp.Header.Get("Content-Encoding"), nil
	}
	bad := 0
	report := func(ok bool, format string, a ...any) {
		status := "ok      "
		if !ok {
			status = "MISMATCH"
			bad++
		}
		fmt.Fprintf(stdout, "%s %s\n", status, fmt.Sprintf(format, a...))
	}

	// Every static file, in every encoding a browser may get it in.
	for _, a := range set.All() {
		want := sha256.Sum256(a.Raw())
		for _, enc := range []string{"identity", "gzip", "br"} {
			b, got, err := get(a.URL, enc)
			if err != nil {
				report(false, "%s (%s): %s: %v", a.Name, enc, a.URL, err)
				continue
			}
			if served := cmp.Or(got, "identity"); served != enc {
				enc += ", served " + served // no such form of this file: what else came
			}
			switch {
			case got == "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err == nil {
					b, err = io.ReadAll(zr)
				}
				if err != nil {
					report(false, "%s (%s): %s: undecodable gzip: %v", a.Name, enc, a.URL, err)
					continue
				}
			case got == "br":
				// Decoded, not compared as compressed: a CDN (a Worker's static
				// assets) compresses with its own encoder.
				b, err = io.ReadAll(io.LimitReader(brotli.NewReader(bytes.NewReader(b)), 64<<20))
				if err != nil {
					report(false, "%s (%s): %s: undecodable brotli: %v", a.Name, enc, a.URL, err)
					continue
				}
			case got != "":
				report(false, "%s (%s): %s: unexpected Content-Encoding %q", a.Name, enc, a.URL, got)
				continue
			}
			sum := sha256.Sum256(b)
			if sum != want {
				report(false, "%s (%s): %s: served sha256 %s, this binary's %s", a.Name, enc, a.URL, hex.EncodeToString(sum[:]), hex.EncodeToString(want[:]))
				continue
			}
			report(true, "%s (%s): %s sha256 %s", a.Name, enc, a.URL, hex.EncodeToString(sum[:]))
		}
	}

	// The pages load only those files, with this binary's integrity values, and
	// no script of their own.
	for _, p := range checkPages {
		page, _, err := get(p, "identity")
		if err != nil {
			report(false, "page %s: %v", p, err)
			continue
		}
		refs, problems := pageReferences(string(page))
		for _, pr := range problems {
			report(false, "page %s: %s", p, pr)
		}
		for _, r := range refs {
			a := set.ByURL(r.url)
			switch {
			case a == nil:
				report(false, "page %s loads %s, which this binary does not serve", p, r.url)
			case r.integrity != a.Integrity:
				report(false, "page %s loads %s with integrity %q, this binary's is %q", p, r.url, r.integrity, a.Integrity)
			default:
				report(true, "page %s loads %s", p, a.Name)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of the files and references checked differ from this binary's", bad)
	}
	return nil
}

type pageRef struct{ url, integrity string }

// pageReferences lists the scripts, stylesheets and decryptor a page loads, and
// what it holds that no page of this binary does (an inline script).
func pageReferences(page string) (refs []pageRef, problems []string) {
	attrs := func(s string) map[string]string {
		m := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
			m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		return m
	}
	for _, m := range scriptTag.FindAllStringSubmatch(page, -1) {
		at := attrs(m[1])
		if at["src"] == "" {
			problems = append(problems, "an inline script")
			continue
		}
		refs = append(refs, pageRef{at["src"], at["integrity"]})
	}
	for _, m := range linkTag.FindAllStringSubmatch(page, -1) {
		if at := attrs(m[1]); at["href"] != "" {
			refs = append(refs, pageRef{at["href"], at["integrity"]})
		}
	}
	for _, m := range regexp.MustCompile(`(?is)<body\b([^>]*)>`).FindAllStringSubmatch(page, -1) {
		if at := attrs(m[1]); at["data-wasm"] != "" {
			refs = append(refs, pageRef{at["data-wasm"], at["data-wasm-integrity"]})
		}
	}
	return refs, problems
}
