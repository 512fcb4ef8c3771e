package keyserver

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/locale"
)

// TestEveryAuditActionHasAName reads the key server's source: every audit
// action it defines is named in the catalogs, so that no action reaches the
// console as a bare code.
func TestEveryAuditActionHasAName(t *testing.T) {
	def := regexp.MustCompile(`(Action[A-Za-z]+)\s+AuditAction\s*=\s*"([a-z._]+)"`)
	files, _ := filepath.Glob("*.go")
	n := 0
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range def.FindAllStringSubmatch(string(src), -1) {
			n++
			if _, ok := auditActionNames[AuditAction(m[2])]; !ok {
				t.Errorf("%s: %s (%q) has no name in auditActionNames", p, m[1], m[2])
			}
		}
	}
	if n < 30 || n != len(auditActionNames) {
		t.Errorf("found %d actions in the source, %d named: the scan is broken or a name is left over", n, len(auditActionNames))
	}
}

// TestSayAudit: the details the key server writes, in each language; what it
// does not know (a typed lock reason, a next hop's words) is left as written.
func TestSayAudit(t *testing.T) {
	c, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	es, de := c.Get("es"), c.Get("de")
	for _, x := range []struct {
		ev             AuditEvent
		action, detail string
		l              *locale.Locale
	}{
		{AuditEvent{Action: ActionEnvelopeRegister, Detail: "sender alice@hospital.example recipient bob@patient.example"},
			"Mensaje cifrado", "de alice@hospital.example para bob@patient.example", es},
		{AuditEvent{Action: ActionSignIn, Detail: "passkey"}, "Angemeldet", "mit einem Passkey", de},
		{AuditEvent{Action: ActionCodeFail, Detail: "register"}, "Código incorrecto", "código de registro", es},
		{AuditEvent{Action: ActionSignInFail, Detail: "locked for this client"}, "Inicio de sesión fallido", "bloqueado para este cliente tras demasiados fallos", es},
		{AuditEvent{Action: ActionKeyDeny, Detail: "not_yours"}, "Öffnen abgelehnt", "angemeldet als jemand anderes als der Empfänger", de},
		{AuditEvent{Action: ActionAccountSessionsEnd, Detail: "1 sessions"}, "Sesiones cerradas", "1 sesión", es},
		{AuditEvent{Action: ActionAccountSessionsEnd, Detail: "3 sessions"}, "Sitzungen beendet", "3 Sitzungen", de},
		{AuditEvent{Action: ActionPasskeyRemove, Detail: "2 passkeys, by an administrator"}, "Llave de acceso eliminada", "2 llaves de acceso, por un administrador", es},
		{AuditEvent{Action: ActionAccountPasswordRemove, Detail: "by an administrator"}, "Passwort entfernt", "durch einen Administrator", de},
		{AuditEvent{Action: ActionAccountExpire, Detail: "unused since 2026-01-31"}, "Cuenta caducada", "sin uso desde 2026-01-31", es},
		{AuditEvent{Action: ActionStoreBackup, Detail: "1048576 bytes"}, "Sicherung erstellt", "1048576 Bytes", de},
		{AuditEvent{Action: ActionEnvelopeRevoke, Detail: "bulk"}, "Mensaje revocado", "acción masiva", es},
		{AuditEvent{Action: ActionEnvelopeExpire, Detail: "expiry reached"}, "Nachricht abgelaufen", "Ablaufdatum erreicht", de},
		{AuditEvent{Action: ActionEnvelopeExpire, Detail: "expiry reached; swept by hand by admin"}, "Mensaje caducado", "fecha de caducidad alcanzada; caducado a mano por admin", es},
		{AuditEvent{Action: ActionEnvelopeDelivery, Detail: "delivered"}, "Entrega", "entregado", es},
		{AuditEvent{Action: ActionEnvelopeDelivery, Detail: "refused: 550 5.1.1 no such user"}, "Zustellung", "abgewiesen: 550 5.1.1 no such user", de},
		{AuditEvent{Action: ActionReplyStore, Detail: "forward, 2048 bytes, to carol@clinic.example"}, "Respuesta enviada", "reenvío, 2048 bytes, para carol@clinic.example", es},
		{AuditEvent{Action: ActionReplyStore, Detail: "all, 1 bytes"}, "Antwort gesendet", "Antwort an alle, 1 Byte", de},
		{AuditEvent{Action: ActionReplyDeny, Detail: "copy: revoked"}, "Respuesta denegada", "la copia del destinatario: el mensaje fue revocado", es},
		{AuditEvent{Action: ActionReplyDeny, Detail: "expired"}, "Antwort abgelehnt", "die Nachricht ist abgelaufen", de},
		{AuditEvent{Action: ActionReplyDeny, Detail: "forward_not_allowed, to x@elsewhere.example"}, "Respuesta denegada", "no se permite reenviar, para x@elsewhere.example", es},
		{AuditEvent{Action: ActionReplyDeliver, Detail: "reply"}, "Antwort zugestellt", "Antwort", de},
		{AuditEvent{Action: ActionReplyDrop, Detail: "3 replies, envelope gone"}, "Respuestas eliminadas", "3 respuestas: el mensaje ya no existe", es},
		{AuditEvent{Action: ActionReplyFail, Detail: "550 no such user"}, "Antwort nicht zugestellt", "", de},
		// Not a phrase of the key server's: as written.
		{AuditEvent{Action: ActionEnvelopeLock, Detail: "wrong patient"}, "Mensaje bloqueado", "", es},
		{AuditEvent{Action: ActionPasskeyAdd, Detail: "locked"}, "Passkey hinzugefügt", "", de},
		{AuditEvent{Action: ActionEnvelopeLock, Detail: "bulk"}, "Mensaje bloqueado", "", es}, // a typed reason, not the bulk revoke's word
		{AuditEvent{Action: ActionEnvelopeLock, Detail: "3 sessions"}, "Mensaje bloqueado", "", es},
		{AuditEvent{Action: "future.action", Detail: "bulk"}, "", "", es},
	} {
		got := SayAudit(x.l, x.ev)
		if got.Action != x.action || got.Detail != x.detail {
			t.Errorf("%s %q in %s: %+v, want %q, %q", x.ev.Action, x.ev.Detail, x.l.Code(), got, x.action, x.detail)
		}
	}
}
