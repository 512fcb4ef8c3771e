package message

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkParseAttachment reads a message like a scanned document sent securely: a
// short text and a 10 MB base64 attachment. Run it under GOOS=js too (make bench):
// in the browser it is most of the time between decrypting and showing.
func BenchmarkParseAttachment(b *testing.B) {
	data := make([]byte, 10<<20)
	r := rand.NewChaCha8([32]byte{})
	r.Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	var lines strings.Builder
	for len(enc) > 76 {
		lines.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	lines.WriteString(enc + "\r\n")
	raw := []byte(strings.Join([]string{"From: a@hospital.example", "To: bob@patient.example", "Subject: scan",
		"MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "", "See the scan.",
		"--b", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64",
		"Content-Disposition: attachment; filename=scan.bin", "", lines.String() + "--b--", ""}, "\r\n"))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		m, err := Parse(raw, Options{})
		if err != nil || len(m.Attachments) != 1 || len(m.Attachments[0].Data) != len(data) {
			b.Fatalf("Parse: %v", err)
		}
	}
}
