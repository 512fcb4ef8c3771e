package keyserver_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

// TestDeliveryAPI: the gateway's reports need its token, are refused whole
// when one is malformed, and show in the envelope view with the detail made
// one short printable line; the clock of a gateway ahead counts as now.
func TestDeliveryAPI(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	s := e.seal("hello", time.Time{}, "bob@patient.example")[0]
	id := s.file.Envelope.Header.ID.String()
	gw := client.New(e.srv.URL, gatewayToken, nil)
	at := e.clock.Now()

	var ae *client.APIError
	if _, err := client.New(e.srv.URL, "wrong", nil).ReportDeliveries(ctx, []api.DeliveryReport{{ID: id, State: "delivered", At: at}}); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("report without the gateway token: %v", err)
	}
	for _, bad := range []api.DeliveryReport{{ID: id, State: "bounced", At: at}, {ID: "nope", State: "queued", At: at}, {ID: id, State: "queued"}} {
		_, err := gw.ReportDeliveries(ctx, []api.DeliveryReport{{ID: id, State: "queued", At: at}, bad})
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("report %+v: %v, want 400", bad, err)
		}
	}
	if v, err := e.admin().Envelope(ctx, id); err != nil || v.Delivery != nil {
		t.Fatalf("after refused batches: %+v (%v), want no delivery", v.Delivery, err)
	}

	long := "550 5.7.1 \x1b[2J<b>refused</b>\u202e\r\n  " + strings.Repeat("x", 400)
	res, err := gw.ReportDeliveries(ctx, []api.DeliveryReport{{ID: id, State: "refused", Detail: long, At: at.Add(time.Hour)}})
	if err != nil || res.Changed != 1 {
		t.Fatalf("report: %+v, %v", res, err)
	}
	v, err := e.admin().Envelope(ctx, id)
	if err != nil || v.Delivery == nil {
		t.Fatalf("view: %+v (%v)", v, err)
	}
	want := "550 5.7.1 [2J<b>refused</b> " + strings.Repeat("x", keyserver.MaxDeliveryDetail-len("550 5.7.1 [2J<b>refused</b> ")) + "…"
	if v.Delivery.State != "refused" || v.Delivery.Detail != want || !v.Delivery.At.Equal(at) {
		t.Errorf("delivery %+v,\nwant refused %q at %v (the gateway's future time made now)", v.Delivery, want, at)
	}
	// The same report again changes nothing.
	if res, err := gw.ReportDeliveries(ctx, []api.DeliveryReport{{ID: id, State: "refused", Detail: long, At: at}}); err != nil || res.Changed != 0 {
		t.Errorf("repeated report: %+v, %v", res, err)
	}
}

func TestDeliveryDetail(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"  250 ok  ":                "250 ok",
		"451 a\r\n451 b":            "451 a 451 b",
		"a\u202eb\u2066c\x00d\x7fe": "abc d e",
		"\ufffd550":                 "550",
	} {
		if got := keyserver.DeliveryDetail(in); got != want {
			t.Errorf("DeliveryDetail(%q) = %q, want %q", in, got, want)
		}
	}
}
