package keyserver_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/internal/loopfs"
	"github.com/waxseal/waxseal/keyserver/client"
)

// TestFullDiskSaysSo: with the database on a full (real, loop-mounted)
// filesystem, registering envelopes is refused as 507 out_of_storage, which the
// gateway's client recognises, the metric counts it, and once there is space
// again the same process registers and releases without a restart.
func TestFullDiskSaysSo(t *testing.T) {
	dir := loopfs.Mount(t, 16)
	e := newEnvAt(t, dir, nil)
	before := e.seal("registered before the disk filled", time.Time{}, "bob@patient.example")[0]

	free := loopfs.Fill(t, dir)
	pending, msg := registrations(t, e, strings.Repeat("lab results ", 40000), "carol@patient.example")
	regs := []client.Registration{pending[0].reg}
	carol := sealed{file: pending[0].file, serverKey: pending[0].reg.ServerKey, msg: msg}
	err := client.New(e.srv.URL, gatewayToken, nil).RegisterEnvelopes(t.Context(), regs)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusInsufficientStorage || apiErr.Code != "out_of_storage" || !errors.Is(err, client.ErrOutOfStorage) {
		t.Fatalf("registration on a full disk: %v, want 507 out_of_storage", err)
	}
	if !apiErr.Temporary() {
		t.Error("out of storage is not temporary")
	}
	var metrics strings.Builder
	if err := e.svc.WriteMetrics(t.Context(), &metrics); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics.String(), "waxseal_storage_full_total 1\n") {
		t.Errorf("metrics lack the full disk:\n%s", metrics.String())
	}
	if !strings.Contains(e.logs.String(), "no space left on device") {
		t.Error("the log does not say why")
	}

	free()
	if err := client.New(e.srv.URL, gatewayToken, nil).RegisterEnvelopes(t.Context(), regs); err != nil {
		t.Fatalf("registration once there is space again: %v", err)
	}
	b := e.browser()
	b.register(carol, "Carol", "P")
	if got := b.open(carol); string(got) != string(msg) {
		t.Error("the envelope registered after recovery does not open")
	}
	b2 := e.browser()
	b2.register(before, "Bob", "P")
	if got := b2.open(before); string(got) != string(before.msg) {
		t.Error("the envelope registered before the disk filled does not open")
	}
}

type pendingReg struct {
	reg  client.Registration
	file *envelope.File
}

// registrations seals msg for each recipient without registering it.
func registrations(t *testing.T, e *env, msg string, recipients ...string) ([]pendingReg, []byte) {
	t.Helper()
	p, ct := envelope.EncryptPayload([]byte(msg))
	var out []pendingReg
	for _, r := range recipients {
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "Dr. Alice <alice@hospital.example>",
			To: r, Subject: "Results", Created: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pendingReg{reg: client.Registration{Envelope: en, ServerKey: keys.Server, Ciphertext: ct},
			file: &envelope.File{Envelope: *en, EnvKey: keys.Env, Ciphertext: ct}})
	}
	return out, []byte(msg)
}
