// Command waxseal seals, opens and inspects waxseal envelopes, runs the key server,
// and administers it.
//
// Usage:
//
//	waxseal seal [--offline | --token TOKEN] --keyserver URL --from ADDR --to ADDR [--to ADDR ...] --out DIR < message.eml
//	waxseal open --server-key KEY FILE.html > message.eml
//	waxseal inspect FILE.html
//	waxseal init --dir DIR --public-url URL
//	waxseal keyserver --config DIR/waxseal.toml [--listen ADDR]
//	waxseal gateway --config DIR/waxseal.toml
//	waxseal policy --config DIR/waxseal.toml --from ADDR --to ADDR [--to ADDR ...] --subject S
//	waxseal serve --config DIR/waxseal.toml | --dev --dir DIR [--sample MESSAGE.eml]
//	waxseal migrate --config DIR/waxseal.toml
//	waxseal store copy --from DIR/waxseal.toml --to DIR2/waxseal.toml
//	waxseal admin --keyserver URL --token TOKEN revoke|lock|unlock|expire|envelopes|accounts|audit …
//	waxseal admin check-assets URL
//	waxseal version
//
// Errors are one line on standard error; the exit status is 1 for a failure and 2
// for a usage mistake.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks mistakes in how waxseal was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: waxseal <command> [flags]

commands:
  seal       seal a message (standard input) into one envelope per recipient
  open       open an envelope with its server key, writing the original message
  inspect    print an envelope's header (no secrets)
  init       create a configuration, master key and tokens
  keyserver  run the key server
  gateway    run the SMTP sending gateway
  policy     show what the gateway would do with a message, per recipient (dry run)
  serve      run everything in one process (--dev: a ready-made local installation)
  admin      revoke, lock, unlock, expire; list envelopes and accounts; audit;
             check-assets: compare a key server's scripts and decryptor with this binary's;
             backup: a hot copy of a bbolt store
  migrate    bring the store's schema (SQL) or layout (bbolt) up to date
  store      copy a whole installation into another store (store copy)
  version    this binary's version, revision and decryptor hash

Run "waxseal <command> -h" for a command's flags.
`

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "seal":
		err = cmdSeal(ctx, rest, stdin, stdout, stderr)
	case "open":
		err = cmdOpen(ctx, rest, stdin, stdout, stderr)
	case "inspect":
		err = cmdInspect(ctx, rest, stdin, stdout, stderr)
	case "init":
		err = cmdInit(ctx, rest, stdin, stdout, stderr)
	case "keyserver":
		err = cmdKeyserver(ctx, rest, stdin, stdout, stderr)
	case "gateway":
		err = cmdGateway(ctx, rest, stdin, stdout, stderr)
	case "policy":
		err = cmdPolicy(ctx, rest, stdin, stdout, stderr)
	case "serve":
		err = cmdServe(ctx, rest, stdin, stdout, stderr)
	case "admin":
		err = cmdAdmin(ctx, rest, stdin, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, rest, stdin, stdout, stderr)
	case "store":
		err = cmdStore(ctx, rest, stdin, stdout, stderr)
	case "version":
		err = cmdVersion(ctx, rest, stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usagef("unknown command %q (try: waxseal help)", cmd)
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	// One line, whatever the error wraps.
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(stderr, "waxseal %s: %s\n", cmd, msg)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
