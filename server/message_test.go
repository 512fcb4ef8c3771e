package server

import "testing"

func TestStripHeader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"From: a\r\nBcc: x@y,\r\n z@w\r\nTo: b\r\n\r\nBcc: in the body\r\n", "From: a\r\nTo: b\r\n\r\nBcc: in the body\r\n"},
		{"BCC: x\r\n\tmore\r\nSubject: s\r\n\r\nb", "Subject: s\r\n\r\nb"},
		{"From: a\nbcc: x\nTo: b\n\nbody", "From: a\nTo: b\n\nbody"},
		{"From: a\r\nX-Bcc: keep\r\n\r\nb", "From: a\r\nX-Bcc: keep\r\n\r\nb"},
		{"From: a\r\nTo: b\r\n\r\n", "From: a\r\nTo: b\r\n\r\n"},
		{"Bcc: only", ""},
	} {
		if got := string(stripHeader([]byte(c.in), "Bcc")); got != c.want {
			t.Errorf("stripHeader(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
