package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/waxseal/waxseal/assets"
)

// cmdVersion prints what this binary is: its module version, the revision it
// was built from, and the SHA-256 of the decryptor it embeds (and so serves), to
// compare with a reproducible build of the same revision (docs/THREAT_MODEL.md).
func cmdVersion(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usagef("version takes no arguments")
	}
	version, revision, modified := "(unknown)", "(unknown)", ""
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (with uncommitted changes)"
				}
			}
		}
	}
	fmt.Fprintf(stdout, "waxseal %s\nrevision %s%s\n%s\n", version, revision, modified, goVersion)
	set, err := assets.Load()
	if err != nil {
		return fmt.Errorf("embedded assets: %w", err)
	}
	if a := set.Get("waxseal.wasm"); a != nil {
		sum := sha256.Sum256(a.Raw())
		fmt.Fprintf(stdout, "decryptor waxseal.wasm sha256 %s\n", hex.EncodeToString(sum[:]))
	} else {
		fmt.Fprintf(stdout, "decryptor not built in (built without make wasm)\n")
	}
	return nil
}
