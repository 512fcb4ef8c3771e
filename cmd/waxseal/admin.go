package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

const adminSynopsis = `admin --keyserver URL --token TOKEN <command> [args]

commands:
  envelopes [--sender A] [--recipient B] [--since T] [--until T] [--limit N]
  show ID
  revoke ID [ID ...]           destroy the server keys (irreversible)
  lock --reason TEXT ID [ID ...]
  revoke|lock [--reason TEXT] [--sender A] [--recipient B] [--since T] [--until T] [--dry-run]
                               every envelope of a sender, of a recipient or sent in a
                               time range (one at least); counts first, --dry-run only counts
  unlock ID [ID ...]
  expire ID [ID ...]           destroy the keys now, as at expiry
  expiry --at TIME|never ID [ID ...]
  accounts [delete|disable|enable|end-sessions ID]
  accounts remove-signin password|passkeys ID
                               the person then signs in with an emailed code and sets up anew
  admins [remove ID]           the administrators; remove one's rights (never the last's)
  stats [--days N]             sealed, opened, revoked, expired, refused per day; outbox; refusals
  invite EMAIL                 a one-time link to enrol EMAIL (at an org domain) as an administrator
  audit export                 the audit log, every record
  audit search [--since T] [--until T] [--action A] [--actor X] [--envelope ID] [--account ID] [--limit N]
  audit verify                 check the audit chain (on the server)
  audit verify --file F        check an exported audit log
  audit verify --config F      check the database of a stopped key server
  sweep [--page N]             run the expiry sweep now: destroy the keys of every envelope past
                               its expiry, N a request (default 500), with progress
  backup FILE                  a hot, consistent copy of a running key server's bbolt store, verified

admin check-assets URL         compare what the key server at URL serves to browsers
                               (scripts, styles, decryptor) with this binary's; no token
admin reply-key rotate --config F  add a reply key pair; older keys still open pending replies

envelopes, accounts, admins, stats, sweep and audit export|search print a table (or a
sentence) on a terminal and JSON lines otherwise, or with --json (scripts: rely on the JSON
lines). Progress goes to stderr on a terminal.

The token may also come from WAXSEAL_TOKEN (keeps it off the process list).`

func cmdAdmin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check-assets" {
		return cmdCheckAssets(ctx, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "reply-key" {
		return cmdReplyKey(args[1:], stdout, stderr)
	}
	fs := newFlagSet("admin", adminSynopsis, stderr)
	ksURL := fs.String("keyserver", "", "key server origin")
	token := fs.String("token", "", "admin token (or WAXSEAL_TOKEN)")
	asJSON := fs.Bool("json", false, "print JSON lines, also on a terminal")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp // fs.Parse printed the usage
		}
		return usagef("%v", err)
	}
	*token = orEnv(*token, "WAXSEAL_TOKEN")
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("which admin command? (envelopes, show, revoke, lock, unlock, expire, expiry, accounts, admins, stats, invite, audit)")
	}
	sub, rest := rest[0], rest[1:]
	rest, jsonAfter := takeJSONFlag(rest)
	out := adminOutput{w: stdout, table: !*asJSON && !jsonAfter && isTerminal(stdout)}
	// Offline audit verification needs no server.
	if sub == "audit" && len(rest) > 0 && rest[0] == "verify" {
		if done, err := verifyAuditOffline(ctx, rest[1:], stdout, stderr); done {
			return err
		}
	}
	if *ksURL == "" || *token == "" {
		return usagef("--keyserver and --token (or WAXSEAL_TOKEN) are required")
	}
	origin, err := adminOrigin(*ksURL)
	if err != nil {
		return err
	}
	c := client.New(origin, *token, nil)
	return explainAdminError(origin, "", adminCommand(ctx, c, origin, sub, rest, out, stderr))
}

// adminOutput is where an admin command prints, and whether as a table (a
// person at a terminal) or JSON lines.
type adminOutput struct {
	w     io.Writer
	table bool
}

// takeJSONFlag removes --json from a command's arguments (it may follow the
// command as well as precede it), reporting whether it was there.
func takeJSONFlag(args []string) ([]string, bool) {
	var rest []string
	found := false
	for _, a := range args {
		if a == "--json" || a == "-json" {
			found = true
			continue
		}
		rest = append(rest, a)
	}
	return rest, found
}

// adminCommand runs one admin command against the key server at origin.
func adminCommand(ctx context.Context, c *client.Client, origin, sub string, rest []string, out adminOutput, stderr io.Writer) error {
	stdout := out.w
	enc := json.NewEncoder(stdout)
	switch sub {
	case "envelopes":
		return adminEnvelopes(ctx, c, rest, out, stderr)
	case "show":
		if len(rest) != 1 {
			return usagef("show takes one envelope id")
		}
		v, err := c.Envelope(ctx, rest[0])
		if err != nil {
			return explainAdminError(origin, rest[0], err)
		}
		return enc.Encode(v)
	case "revoke", "unlock", "expire", "lock", "expiry":
		return adminManage(ctx, c, origin, sub, rest, out, stderr)
	case "accounts":
		return adminAccounts(ctx, c, rest, out)
	case "admins":
		return adminAdmins(ctx, c, rest, out)
	case "stats":
		return adminStats(ctx, c, rest, out)
	case "invite":
		// An invite enrols only the address it names: one without would let its
		// holder claim any address.
		if len(rest) != 1 {
			return usagef("invite takes the address of the person invited: invite EMAIL")
		}
		inv, err := c.InviteAdmin(ctx, rest[0])
		if err != nil {
			return err
		}
		return enc.Encode(inv)
	case "sweep":
		return adminSweep(ctx, c, rest, out, stderr)
	case "backup":
		if len(rest) != 1 {
			return usagef("backup takes one file name")
		}
		return adminBackup(ctx, c, rest[0], stdout)
	case "audit":
		if len(rest) == 1 && rest[0] == "export" {
			if !out.table {
				return c.ExportAudit(ctx, stdout)
			}
			t := newAuditTable(stdout)
			if err := c.ExportAudit(ctx, t); err != nil {
				return err
			}
			return t.close()
		}
		if len(rest) > 0 && rest[0] == "search" {
			return adminAuditSearch(ctx, c, rest[1:], out, stderr)
		}
		if len(rest) == 1 && rest[0] == "verify" {
			st, err := c.VerifyAudit(ctx)
			if err != nil {
				return err
			}
			return reportAudit(stdout, st.Records, st.Head, st.OK, st.Error)
		}
		return usagef("audit export | audit search [flags] | audit verify [--file F | --config F]")
	}
	return usagef("unknown admin command %q", sub)
}

func adminEnvelopes(ctx context.Context, c *client.Client, args []string, out adminOutput, stderr io.Writer) error {
	fs := newFlagSet("admin envelopes", "admin … envelopes [--sender A] [--recipient B] [--since T] [--until T] [--state S] [--subject WORDS] [--limit N]", stderr)
	var q api.EnvelopeQuery
	fs.StringVar(&q.Sender, "sender", "", "only envelopes from this sender")
	fs.StringVar(&q.Recipient, "recipient", "", "only envelopes to this recipient")
	since := fs.String("since", "", "created at or after (RFC 3339)")
	until := fs.String("until", "", "created before (RFC 3339)")
	fs.StringVar(&q.State, "state", "", "only envelopes in this state: active, locked, revoked, expired, opened, unopened; or by delivery: delivered, queued, refused")
	fs.StringVar(&q.Subject, "subject", "", "only envelopes whose subject holds these words (any case)")
	fs.IntVar(&q.Limit, "limit", 0, "at most this many (newest first)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	for s, t := range map[*string]*time.Time{since: &q.Since, until: &q.Until} {
		if *s != "" {
			v, err := time.Parse(time.RFC3339, *s)
			if err != nil {
				return usagef("want an RFC 3339 time, got %q", *s)
			}
			*t = v
		}
	}
	views, err := c.Envelopes(ctx, q)
	if err != nil {
		return err
	}
	return printEnvelopes(out.w, out.table, views)
}

func adminManage(ctx context.Context, c *client.Client, origin, action string, args []string, out adminOutput, stderr io.Writer) error {
	enc := json.NewEncoder(out.w)
	bulk := action == "revoke" || action == "lock"
	synopsis := "admin … " + action + " [flags] ID [ID ...]"
	if bulk {
		synopsis += "\n       waxseal admin … " + action + " [flags] [--sender A] [--recipient B] [--since T] [--until T] [--dry-run]"
	}
	fs := newFlagSet("admin "+action, synopsis, stderr)
	reason := fs.String("reason", "", "with lock: the reason the recipient is shown")
	at := fs.String("at", "", "with expiry: RFC 3339 time, or never")
	var sel api.BulkRequest
	var since, until string
	var dryRun bool
	if bulk {
		fs.StringVar(&sel.Sender, "sender", "", "every envelope from this sender")
		fs.StringVar(&sel.Recipient, "recipient", "", "every envelope to this recipient")
		fs.StringVar(&since, "since", "", "every envelope created at or after (RFC 3339)")
		fs.StringVar(&until, "until", "", "every envelope created before (RFC 3339)")
		fs.BoolVar(&dryRun, "dry-run", false, "count the envelopes, change nothing")
	}
	ids, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	selecting := sel.Sender != "" || sel.Recipient != "" || since != "" || until != ""
	switch {
	case selecting && len(ids) > 0:
		return usagef("%s takes envelope ids or --sender/--recipient/--since/--until, not both", action)
	case dryRun && !selecting:
		return usagef("--dry-run goes with --sender, --recipient, --since or --until")
	case len(ids) == 0 && !selecting:
		return usagef("%s needs at least one envelope id", action)
	}
	arg := ""
	switch action {
	case "lock":
		if strings.TrimSpace(*reason) == "" {
			return usagef("lock needs --reason TEXT: the recipient is shown why the message is locked")
		}
		arg = *reason
	case "expiry":
		if *at == "" {
			return usagef("expiry needs --at TIME or --at never")
		}
		if *at != "never" {
			if _, err := time.Parse(time.RFC3339, *at); err != nil {
				return usagef("--at: want an RFC 3339 time or never")
			}
			arg = *at
		}
	}
	if selecting {
		for s, t := range map[string]*time.Time{since: &sel.Since, until: &sel.Until} {
			if s != "" {
				v, err := time.Parse(time.RFC3339, s)
				if err != nil {
					return usagef("want an RFC 3339 time, got %q", s)
				}
				*t = v
			}
		}
		sel.Action, sel.Reason, sel.DryRun = action, arg, dryRun
		return adminBulk(ctx, c, sel, out.w, out.table, stderr)
	}
	// Each id is done and reported on its own, so one bad id does not hide the rest.
	var failed int
	for _, id := range ids {
		v, err := c.Manage(ctx, action, id, arg)
		if err != nil {
			if unreachable(err) {
				// The same for every id: say it once.
				return explainAdminError(origin, id, err)
			}
			fmt.Fprintf(stderr, "waxseal admin %s: %v\n", action, explainAdminError(origin, id, err))
			failed++
			continue
		}
		enc.Encode(v)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d envelopes not changed", failed, len(ids))
	}
	return nil
}

// adminOrigin checks --keyserver before anything is sent: a bare host name would
// otherwise fail as Go's "unsupported protocol scheme".
func adminOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", usagef("--keyserver %q: use a URL such as https://keys.example.org", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// unreachable reports whether err means no answer came from the key server at all.
func unreachable(err error) bool {
	var apiErr *client.APIError
	var urlErr *url.Error
	return !errors.As(err, &apiErr) && errors.As(err, &urlErr)
}

// explainAdminError words the key server's refusals for an administrator: the
// server's messages are written for recipients ("Check that you used the whole
// link"). id, when not empty, is the envelope the call was about.
func explainAdminError(origin, id string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *client.APIError
	var urlErr *url.Error
	switch {
	case errors.As(err, &apiErr):
		subject := ""
		if id != "" {
			subject = id + ": "
		}
		switch {
		case apiErr.Code == keyserver.ErrUnknownEnvelope.Code:
			return fmt.Errorf("%sno such envelope at %s", subject, origin)
		case apiErr.Code == "bad_token":
			return fmt.Errorf("%s refused the admin token (check --token or WAXSEAL_TOKEN)", origin)
		}
		return fmt.Errorf("%s%s refused: %s (%d %s)", subject, origin, apiErr.Message, apiErr.Status, apiErr.Code)
	case errors.As(err, &urlErr):
		return fmt.Errorf("cannot reach the key server at %s: %v", origin, urlErr.Err)
	}
	return err
}

// verifyAuditOffline handles `audit verify --file F` and `--config F`; done is false
// when neither flag is given, so the server is asked instead.
func verifyAuditOffline(ctx context.Context, args []string, stdout, stderr io.Writer) (done bool, err error) {
	fs := newFlagSet("admin audit verify", "admin audit verify [--file EXPORT.jsonl | --config waxseal.toml]", stderr)
	file := fs.String("file", "", "an exported audit log (JSON lines)")
	cfgPath := fs.String("config", "", "the config of a stopped key server, to check its database")
	if _, err := parseFlags(fs, args); err != nil {
		return true, err
	}
	switch {
	case *file != "":
		f, err := os.Open(*file)
		if err != nil {
			return true, err
		}
		defer f.Close()
		var v keyserver.AuditVerifier
		var head []byte
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		p := newProgress(stderr, "records checked", 0)
		for sc.Scan() {
			if v.Count%10000 == 0 && v.Count > 0 {
				p.set(int(v.Count))
			}
			var r keyserver.AuditRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				p.done()
				return true, reportAudit(stdout, v.Count, fmt.Sprintf("%x", head), false, fmt.Sprintf("line %d: %v", v.Count+1, err))
			}
			if err := v.Check(r); err != nil {
				p.done()
				return true, reportAudit(stdout, v.Count, fmt.Sprintf("%x", head), false, err.Error())
			}
			head = r.Hash
		}
		p.done()
		if err := sc.Err(); err != nil {
			return true, err
		}
		return true, reportAudit(stdout, v.Count, fmt.Sprintf("%x", head), true, "")
	case *cfgPath != "":
		fc, err := loadConfig(*cfgPath)
		if err != nil {
			return true, err
		}
		st, err := openStore(ctx, fc, false, nil)
		if err != nil {
			return true, fmt.Errorf("open database (is the key server still running?): %w", err)
		}
		defer st.Close()
		n, head, verr := keyserver.VerifyAudit(ctx, st)
		msg := ""
		if verr != nil {
			msg = verr.Error()
		}
		return true, reportAudit(stdout, n, head, verr == nil, msg)
	}
	return false, nil
}

// reportAudit prints the verdict as JSON and fails the command when the chain is
// broken.
func reportAudit(w io.Writer, records uint64, head string, ok bool, problem string) error {
	verdict := map[string]any{"ok": ok, "records": records, "head": head}
	if problem != "" {
		verdict["error"] = problem
	}
	json.NewEncoder(w).Encode(verdict)
	if !ok {
		return fmt.Errorf("audit log is NOT intact: %s", problem)
	}
	return nil
}
