package keyserver_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

func TestChangeAccount(t *testing.T) {
	stored := func() keyserver.Account {
		return keyserver.Account{ID: "a1", Email: "ann@example.org", Role: keyserver.RoleAdmin,
			Credentials: []keyserver.Credential{{ID: []byte{1, 2, 3}}}}
	}
	refused := errors.New("no")
	for _, tc := range []struct {
		name      string
		fn        func(*keyserver.Account) ([]keyserver.AuditEvent, error)
		err       string
		leftAdmin bool
	}{
		{"fn refuses", func(*keyserver.Account) ([]keyserver.AuditEvent, error) { return nil, refused }, "no", false},
		{"email changed", func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
			a.Email = "eve@example.org"
			return nil, nil
		},
			"update account a1: fn changed the id or email", false},
		{"id changed", func(a *keyserver.Account) ([]keyserver.AuditEvent, error) { a.ID = "a2"; return nil, nil },
			"update account a1: fn changed the id or email", false},
		{"role taken", func(a *keyserver.Account) ([]keyserver.AuditEvent, error) { a.Role = ""; return nil, nil }, "", true},
		{"credential id changed in place", func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
			a.Credentials[0].ID[0] = 9
			return []keyserver.AuditEvent{{Action: "x"}}, nil
		}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := keyserver.ChangeAccount(stored(), tc.fn)
			if got := ""; err != nil {
				got = err.Error()
				if got != tc.err {
					t.Fatalf("error %q, want %q", got, tc.err)
				}
				return
			}
			if tc.err != "" {
				t.Fatalf("no error, want %q", tc.err)
			}
			if ch.LeftAdmin != tc.leftAdmin {
				t.Errorf("LeftAdmin %v, want %v", ch.LeftAdmin, tc.leftAdmin)
			}
			if string(ch.Before[0].ID) != "\x01\x02\x03" {
				t.Errorf("the credentials before fn changed with it: %x", ch.Before[0].ID)
			}
			if strings.Contains(tc.name, "credential") && (ch.Account.Credentials[0].ID[0] != 9 || len(ch.Events) != 1) {
				t.Errorf("fn's change or events lost: %+v", ch)
			}
		})
	}
}
