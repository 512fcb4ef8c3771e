// Package testmsg holds the messages that every round-trip test in the project
// seals and opens: chunk boundaries, the 10 MB limit, and bytes that are not UTF-8
// or not text at all.
package testmsg

import (
	"bytes"
	"math/rand/v2"
)

// Message is a named test payload.
type Message struct {
	Name  string
	Bytes []byte
}

// All returns the messages. Random parts come from a fixed seed, so failures repeat.
func All() []Message {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	latin1 := []byte("From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"Patient: Fran\xe7ois M\xfcller, \xa9 2026\r\n")
	var mime bytes.Buffer
	mime.WriteString("From: alice@hospital.example\r\nTo: bob@patient.example\r\nSubject: scan\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Scan attached \u2013 gr\u00fc\u00dfe.\r\n--b\r\nContent-Type: application/octet-stream; name=scan.bin\r\n" +
		"Content-Transfer-Encoding: binary\r\nContent-Disposition: attachment; filename=scan.bin\r\n\r\n")
	mime.Write(random(300 << 10))
	mime.WriteString("\r\n--b--\r\n")
	return []Message{
		{"empty", []byte{}},
		{"one-byte", []byte{'x'}},
		{"64KiB", random(64 << 10)},
		{"64KiB+1", random(64<<10 + 1)},
		{"10MB", random(10 << 20)},
		{"8bit-latin1", latin1},
		{"binary-attachment", mime.Bytes()},
		{"control-bytes", []byte("\x00\r\r\x00\n\xff\xfe no final newline")},
	}
}
