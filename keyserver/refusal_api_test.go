package keyserver_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestRefusalOverAPIInSpanish: the API answers a refusal with its own
// sentence in the requester's language, under its unchanged code.
func TestRefusalOverAPIInSpanish(t *testing.T) {
	e := newEnv(t)
	s := e.seal("m", time.Time{}, "bob@patient.example")[0]
	id := s.file.Header.ID.String()
	b := e.browser()
	b.lang = "es"
	b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Paciente"})
	good := e.lastCode("bob@patient.example")
	wrong := "000000"
	if good == wrong {
		wrong = "000001"
	}
	st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": wrong})
	if st != http.StatusBadRequest || out["error"] != "bad_code" || out["message"] != "Ese código no es correcto. Le quedan 4 intentos." {
		t.Errorf("wrong code in Spanish: %d %v", st, out)
	}
	keys := []string{}
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "error,message" {
		t.Errorf("body fields %v", keys)
	}
}
