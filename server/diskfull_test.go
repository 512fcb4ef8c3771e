package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/internal/loopfs"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

// TestKeyServerOutOfStorage: a key server whose disk (a real, loop-mounted
// filesystem) is full makes the gateway answer 451 4.3.1 naming it, nothing is
// relayed, and once there is space the same key server takes the message.
func TestKeyServerOutOfStorage(t *testing.T) {
	dir := loopfs.Mount(t, 16)
	svc, st, err := newKeyServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	e := startGateway(t, gwOptions{registrar: client.New(srv.URL, gatewayToken, nil)})

	free := loopfs.Fill(t, dir)
	se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results"))
	if se == nil || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) || !strings.Contains(se.Message, "key server out of storage") {
		t.Fatalf("DATA answered %v, want 451 4.3.1 key server out of storage", se)
	}
	if got := e.hop.received(); len(got) != 0 {
		t.Errorf("relayed %d messages with the key server's disk full", len(got))
	}
	free()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatalf("DATA once the key server has space: %v", se)
	}
}
