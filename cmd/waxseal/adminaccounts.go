package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/waxseal/waxseal/keyserver/client"
)

// adminAccounts: accounts, and an action on one.
func adminAccounts(ctx context.Context, c *client.Client, rest []string, out adminOutput) error {
	enc := json.NewEncoder(out.w)
	switch {
	case len(rest) == 0:
		accs, err := c.Accounts(ctx)
		if err != nil {
			return err
		}
		return printAccounts(out.w, out.table, accs)
	case len(rest) == 2 && rest[0] == "delete":
		return c.DeleteAccount(ctx, rest[1])
	case len(rest) == 2 && (rest[0] == "disable" || rest[0] == "enable" || rest[0] == "end-sessions"):
		v, err := c.AccountAction(ctx, rest[1], rest[0])
		if err != nil {
			return err
		}
		return enc.Encode(v)
	case len(rest) == 3 && rest[0] == "remove-signin" && (rest[1] == "password" || rest[1] == "passkeys"):
		v, err := c.RemoveSignIn(ctx, rest[2], rest[1])
		if err != nil {
			return err
		}
		return enc.Encode(v)
	}
	return usagef("accounts [delete|disable|enable|end-sessions ID | remove-signin password|passkeys ID]")
}

// adminAdmins: the administrators, or removing one.
func adminAdmins(ctx context.Context, c *client.Client, rest []string, out adminOutput) error {
	switch {
	case len(rest) == 0:
		accs, err := c.Administrators(ctx)
		if err != nil {
			return err
		}
		return printAccounts(out.w, out.table, accs)
	case len(rest) == 2 && rest[0] == "remove":
		v, err := c.RemoveAdministrator(ctx, rest[1])
		if err != nil {
			return err
		}
		return json.NewEncoder(out.w).Encode(v)
	}
	return usagef("admins [remove ID]")
}

// adminStats prints the dashboard: a table of days, then the outbox and the
// refusals, on a terminal; one JSON object otherwise.
func adminStats(ctx context.Context, c *client.Client, args []string, out adminOutput) error {
	days := 14
	switch {
	case len(args) == 2 && (args[0] == "--days" || args[0] == "-days"):
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return usagef("--days: want a number, got %q", args[1])
		}
		days = n
	case len(args) != 0:
		return usagef("stats [--days N]")
	}
	st, err := c.Stats(ctx, days)
	if err != nil {
		return err
	}
	if !out.table {
		return json.NewEncoder(out.w).Encode(st)
	}
	// FAILED is refused openings (key.deny); UNDELIVERED and QUEUED are the
	// gateway's delivery reports.
	t := newTable(out.w, "DAY", "SEALED", "OPENED", "REVOKED", "EXPIRED", "FAILED", "UNDELIVERED", "QUEUED")
	for _, d := range st.Days {
		t.row(d.Day, strconv.Itoa(d.Sealed), strconv.Itoa(d.Opened), strconv.Itoa(d.Revoked), strconv.Itoa(d.Expired), strconv.Itoa(d.Failed),
			strconv.Itoa(d.Undelivered), strconv.Itoa(d.Queued))
	}
	if err := t.flush(); err != nil {
		return err
	}
	var denials []string
	for reason, n := range st.Denials {
		denials = append(denials, fmt.Sprintf("%s %d", reason, n))
	}
	if len(denials) == 0 {
		denials = []string{"none"}
	}
	_, err = fmt.Fprintf(out.w, "\noutbox: %d waiting\nstill queued for delivery: %d\nrefused releases: %s\n", st.OutboxDepth, st.StillQueued, strings.Join(denials, ", "))
	return err
}

// adminAuditSearch prints the audit records a search selects, page by page to
// the end (or --limit records).
func adminAuditSearch(ctx context.Context, c *client.Client, args []string, out adminOutput, stderr io.Writer) error {
	fs := newFlagSet("admin audit search", "admin … audit search [--since T] [--until T] [--action A] [--actor X] [--envelope ID] [--account ID] [--limit N]", stderr)
	q := url.Values{}
	names := []string{"since", "until", "action", "actor", "envelope", "account"}
	vals := map[string]*string{}
	for _, n := range names {
		vals[n] = fs.String(n, "", "only records with this "+n)
	}
	limit := fs.Int("limit", 0, "at most this many records (0: all)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, n := range names {
		if v := *vals[n]; v != "" {
			if n == "since" || n == "until" {
				if _, err := time.Parse(time.RFC3339, v); err != nil {
					return usagef("--%s: want an RFC 3339 time, got %q", n, v)
				}
			}
			q.Set(n, v)
		}
	}
	var at *auditTable
	if out.table {
		at = newAuditTable(out.w)
	}
	printed := 0
	for {
		page, err := c.AuditSearch(ctx, q)
		if err != nil {
			return err
		}
		for _, raw := range page.Records {
			if *limit > 0 && printed == *limit {
				break
			}
			w := out.w
			if at != nil {
				w = at
			}
			if _, err := w.Write(append(raw, '\n')); err != nil {
				return err
			}
			printed++
		}
		if page.Next == 0 || (*limit > 0 && printed == *limit) {
			break
		}
		q.Set("from", strconv.FormatUint(page.Next, 10))
	}
	if at != nil {
		return at.close()
	}
	return nil
}
