package message

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestAddresses(t *testing.T) {
	a := func(name, email string) Address { return Address{name, email} }
	tests := []struct {
		in   string
		want []Address
	}{
		{"alice@example.com", []Address{a("", "alice@example.com")}},
		{"Alice Liddell <alice@example.com>", []Address{a("Alice Liddell", "alice@example.com")}},
		{`"Liddell, Alice" <alice@example.com>, bob@example.com`, []Address{a("Liddell, Alice", "alice@example.com"), a("", "bob@example.com")}},
		// An unquoted comma separates mailboxes; joined again, the two read as the header did.
		{"Liddell, Alice <alice@example.com>", []Address{a("Liddell", ""), a("Alice", "alice@example.com")}},
		{"foo, Bar <bar@x.org>", []Address{a("foo", ""), a("Bar", "bar@x.org")}},
		{"foo, bar@x.org", []Address{a("foo", ""), a("", "bar@x.org")}},
		{"alice@example.com (Alice Liddell)", []Address{a("Alice Liddell", "alice@example.com")}},
		{"<alice@example.com> (Alice)", []Address{a("Alice", "alice@example.com")}},
		{"=?utf-8?B?w4lsb2RpZQ==?= <elodie@example.fr>", []Address{a("Élodie", "elodie@example.fr")}},
		{`"=?utf-8?q?Jos=C3=A9?=" <jose@example.es>`, []Address{a("José", "jose@example.es")}},
		{"=?utf-8?q?Anna?= =?utf-8?q?_Karenina?= <anna@example.ru>", []Address{a("Anna Karenina", "anna@example.ru")}},
		{"undisclosed-recipients:;", nil},
		{"Team: a@example.com, B <b@example.com>;, c@example.com", []Address{a("", "a@example.com"), a("B", "b@example.com"), a("", "c@example.com")}},
		{`"john doe"@example.com`, []Address{a("", `"john doe"@example.com`)}},
		{"John Doe john@example.com", []Address{a("John Doe", "john@example.com")}},
		{"<mailto:x@example.com>", []Address{a("", "x@example.com")}},
		{"<@relay.example:user@example.com>", []Address{a("", "user@example.com")}},
		{"MAILER-DAEMON <>", []Address{a("MAILER-DAEMON", "")}},
		{"not an address", []Address{a("not an address", "")}},
		{"Broken <not an address>, ok@example.com", []Address{a("Broken <not an address>", ""), a("", "ok@example.com")}},
		{"Unclosed <a@example.com", []Address{a("Unclosed", "a@example.com")}},
		{`"unclosed quote <a@example.com>`, []Address{a(`"unclosed quote <a@example.com>`, "")}},
		{"a@example.com,,, ,b@example.com", []Address{a("", "a@example.com"), a("", "b@example.com")}},
		{"john @ example.org (John)", []Address{a("John", "john@example.org")}},
		{"Jane Doe jane@ example.org", []Address{a("Jane Doe", "jane@example.org")}},
	}
	p := &parser{}
	for _, tt := range tests {
		got := p.parseAddressList(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: [%d] = %q, want %q", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestDates(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Tue, 14 Nov 2023 09:12:44 +0000", "2023-11-14T09:12:44Z"},
		{"14 Nov 2023 09:12:44 -0500", "2023-11-14T14:12:44Z"},
		{"Tue, 14 Nov 2023 09:12:44 +0100 (CET)", "2023-11-14T08:12:44Z"},
		{"Tue,14 Nov 2023 9:12 GMT", "2023-11-14T09:12:00Z"},
		{"Tue, 14 Nov 23 09:12:44 EST", "2023-11-14T14:12:44Z"},
		{"Tue, 14 Nov 98 09:12:44 PDT", "1998-11-14T16:12:44Z"},
		{"Tue, 14 Nov 2023 09:12:44", "2023-11-14T09:12:44Z"},
		{"Tue, 14 Nov 2023 09:12:44 XYZ", "2023-11-14T09:12:44Z"},
		{"Tue, 14 Nov 2023 09:12:44 +01:00", "2023-11-14T08:12:44Z"},
		{"Tue Nov 14 09:12:44 2023", "2023-11-14T09:12:44Z"},
		{"Wed, 31 Dec 2016 23:59:60 +0000", "2016-12-31T23:59:59Z"},
		{"29 Feb 2024 00:00:00 +0000", "2024-02-29T00:00:00Z"},
		{"29 Feb 2100 00:00:00 +0000", ""},
		{"29 Feb 2000 23:30:00 -0100", "2000-03-01T00:30:00Z"},
		{"1 Jan 0 00:00:00 +0000", "2000-01-01T00:00:00Z"},
		{"1 Jan 1970 00:00:00 +0100", "1969-12-31T23:00:00Z"},
		{"1 Jan 1600 00:00:00 +0000", "1600-01-01T00:00:00Z"},
		{"31 Dec 9999 23:59:59 +0000", "9999-12-31T23:59:59Z"},
		{"31 Feb 2023 10:00:00 +0000", ""},
		{"yesterday", ""},
		{"Tue, 14 Nov 2023 25:00:00 +0000", ""},
		{"", ""},
	}
	for _, tt := range tests {
		ms, ok := parseDate(tt.in)
		got := ""
		if ok {
			got = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		}
		if got != tt.want {
			t.Errorf("parseDate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodedWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"=?utf-8?q?caf=C3=A9?=", "café"},
		{"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},
		{"=?UTF-8?Q?a?=  \t =?UTF-8?Q?_b?= c", "a b c"},
		{"x =?utf-8?q?y?= z", "x y z"},
		{"=?utf-8?b?4p?= =?utf-8?b?gqw=?=", "€"}, // a character split between two words
		{"=?utf-8?B?4oKs?=", "€"},
		{"=?utf-8*en?q?hi?=", "hi"},
		{"=?iso-8859-1?q?=E9?=", "é"},
		{"Re:=?utf-8?q?x?=", "Re:x"},
		{"=?utf-8?x?bad?=", "=?utf-8?x?bad?="},
		{"=?utf-8?q?unterminated", "=?utf-8?q?unterminated"},
		{"=??q?empty charset?=", "=??q?empty charset?="},
		{"=?utf-8?q?with space?=", "with space"},
		{"=?utf-8?q?=FF?=", "\uFFFD"},
		{"100% =?", "100% =?"},
	}
	p := &parser{}
	for _, tt := range tests {
		if got := p.decodeWords(tt.in); got != tt.want {
			t.Errorf("decodeWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	tests := []struct {
		in    string
		first string
		want  map[string]string
	}{
		{`text/plain; charset="utf-8"; format=flowed`, "text/plain", map[string]string{"charset": "utf-8", "format": "flowed"}},
		{`Multipart/Mixed;BOUNDARY="a;b\"c"`, "multipart/mixed", map[string]string{"boundary": `a;b"c`}},
		{`attachment; filename=my file.pdf; size=3`, "attachment", map[string]string{"filename": "my file.pdf", "size": "3"}},
		{`attachment; filename="unclosed`, "attachment", map[string]string{"filename": "unclosed"}},
		{`inline;; ;filename="a.png" ; ;`, "inline", map[string]string{"filename": "a.png"}},
		{`attachment; filename="plain.txt"; filename*=utf-8''%C3%A9.txt`, "attachment", map[string]string{"filename": "é.txt"}},
		{`attachment; filename*1="b"; filename*0="a"; filename*2*=%63`, "attachment", map[string]string{"filename": "abc"}},
		{`attachment; filename*=''%41%zz`, "attachment", map[string]string{"filename": "A%zz"}},
		{`attachment; filename*=%41`, "attachment", map[string]string{"filename": "A"}},
		{`text/plain (a comment)`, "text/plain", map[string]string{}},
		{`text/plain; noequals; a=1`, "text/plain", map[string]string{"a": "1"}},
		{`text/plain; a=1; A=2`, "text/plain", map[string]string{"a": "1"}},
		// A backslash escapes only a special character, so a Windows path keeps
		// its separators (and cleanFilename keeps the last element).
		{`attachment; filename="C:\Users\bob\report.pdf"`, "attachment", map[string]string{"filename": `C:\Users\bob\report.pdf`}},
	}
	p := &parser{}
	for _, tt := range tests {
		first, params := p.parseValue(tt.in)
		if first != tt.first || len(params) != len(tt.want) {
			t.Errorf("parseValue(%q) = %q %q, want %q %q", tt.in, first, params, tt.first, tt.want)
			continue
		}
		for k, v := range tt.want {
			if params[k] != v {
				t.Errorf("parseValue(%q)[%q] = %q, want %q", tt.in, k, params[k], v)
			}
		}
	}
}

func TestQuotedPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"caf=C3=A9", "café"},
		{"soft=\nbreak\n", "softbreak\n"},
		{"soft=  \r\nbreak\r\n", "softbreak\r\n"},
		{"trailing   \nspace", "trailing\nspace"},
		{"lower=c3=a9", "loweré"},
		{"bad=ZZ=4", "bad=ZZ=4"},
		{"a=\n", "a"},
		{"=", ""},
		{"x=3D=\n", "x="},
	}
	for _, tt := range tests {
		if got := string(decodeQP([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeQP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBase64(t *testing.T) {
	tests := []struct {
		in, want string
		bad      int
	}{
		{"aGVsbG8=", "hello", 0},
		{"aGVs\r\nbG8", "hello", 0},
		{"aGVsbG8=aGVsbG8=", "hellohello", 0},
		{"aGVs*bG8=", "hello", 1},
		{"aGVsbG8=a", "hello", 1},
		{"aGV\x00sbG8=", "hello", 1},
	}
	for _, tt := range tests {
		got, bad, _, _ := decodeBase64([]byte(tt.in))
		if string(got) != tt.want || bad != tt.bad {
			t.Errorf("decodeBase64(%q) = %q, %d bad; want %q, %d", tt.in, got, bad, tt.want, tt.bad)
		}
	}
}

func TestUnflow(t *testing.T) {
	tests := []struct {
		in    string
		delsp bool
		want  string
	}{
		{"a \nb\n", false, "a b\n"},
		{"a \nb\n", true, "ab\n"},
		{"> a \n> b\nc\n", false, "> a b\nc\n"},
		{">> a \n> b\n", false, ">> a \n> b\n"},
		{" >stuffed\n", false, ">stuffed\n"},
		{"-- \nsig\n", false, "-- \nsig\n"},
		{"open \n", false, "open \n"},
		{"no newline", false, "no newline"},
	}
	for _, tt := range tests {
		if got := unflow(tt.in, tt.delsp); got != tt.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", tt.in, tt.delsp, got, tt.want)
		}
	}
}

func TestSplitHeader(t *testing.T) {
	tests := []struct {
		in           string
		fields       int
		body         string
		unterminated bool
	}{
		{"A: 1\nB: 2\n\nbody", 2, "body", false},
		{"A: 1\n folded\nB : 2\r\n\r\nbody", 2, "body", false},
		{"A: 1\nnot a header\nmore", 1, "not a header\nmore", true},
		{"not a header: really? yes\n", 0, "not a header: really? yes\n", false},
		{" leading space\n", 0, " leading space\n", false},
		{" leading space\n  and more\nA: 1\nB: 2\n\nbody", 2, "body", false},
		{" leading space\n\nA: 1\n", 0, " leading space\n\nA: 1\n", false},
		{"\nbody", 0, "body", false},
		{":novalue\n", 0, ":novalue\n", false},
		{"A:\n", 1, "", false},
	}
	for _, tt := range tests {
		h, body, u, _ := splitHeader([]byte(tt.in))
		if len(h) != tt.fields || string(body) != tt.body || u != tt.unterminated {
			t.Errorf("splitHeader(%q) = %d fields, body %q, unterminated %v; want %d, %q, %v",
				tt.in, len(h), body, u, tt.fields, tt.body, tt.unterminated)
		}
	}
	h, _, _, _ := splitHeader([]byte("Subject: a\n b\n\tc\nX-Latin: caf\xe9\n\n"))
	if got := h.get("subject"); got != "a b\tc" {
		t.Errorf("unfolded Subject = %q", got)
	}
	if got := h.get("x-latin"); got != "café" {
		t.Errorf("Latin-1 header = %q", got)
	}
	// A CR alone in a header line reads as a blank, as net/textproto reads it.
	h, _, _, _ = splitHeader([]byte("Subject: a\rb\r\n\r\n"))
	if got := h.get("subject"); got != "a b" {
		t.Errorf("Subject with a lone CR = %q", got)
	}
}

func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		body          string
		parts         []string
		found, closed bool
	}{
		{"pre\n--b\none\n--b\ntwo\n--b--\nepilogue", []string{"one", "two"}, true, true},
		{"--b \r\none\r\n--b--  \r\n", []string{"one"}, true, true},
		{"--b\n--bb\n--b\nx\n--b--", []string{"--bb", "x"}, true, true},
		// Other characters after a boundary (RFC 2046, section 5.1.1), but not
		// boundary characters, which would make it a longer boundary.
		{"--b\none\n--b--> x\nepilogue", []string{"one"}, true, true},
		{"--b>\none\n--b-->", []string{"one"}, true, true},
		{"--b\none\n--b--x\n--b--", []string{"one\n--b--x"}, true, true},
		{"--b\none\n--b-- x\n", []string{"one\n--b-- x\n"}, true, false},
		{"--b\none", []string{"one"}, true, false},
		{"x--b\n", nil, false, false},
		{"--b--\n", nil, true, true},
		{"--b\n\n--b--", []string{""}, true, true},
		{"--b", []string{""}, true, false},
	}
	for _, tt := range tests {
		parts, found, closed := splitMultipart([]byte(tt.body), "b", 100)
		var got []string
		for _, p := range parts {
			got = append(got, string(p))
		}
		if strings.Join(got, "|") != strings.Join(tt.parts, "|") || len(got) != len(tt.parts) || found != tt.found || closed != tt.closed {
			t.Errorf("splitMultipart(%q) = %q %v %v, want %q %v %v", tt.body, got, found, closed, tt.parts, tt.found, tt.closed)
		}
	}
}

// TestAdversarialInputs feeds inputs built to make a careless parser quadratic. The
// time bound is a tripwire for that (a quadratic parser takes hours at this size),
// not a speed measurement: it is seconds where a linear parse takes milliseconds.
func TestAdversarialInputs(t *testing.T) {
	n := 1 << 20
	if runtime.GOOS == "js" {
		n /= 4
	}
	r := strings.Repeat
	long := r("a", 10000)
	inputs := map[string]string{
		"spaces before a colon":       "A" + r(" ", n) + "x\n\nbody",
		"unterminated encoded words":  "Subject: " + r("=?a?q?", n/6) + "\n\n",
		"encoded word starts":         "Subject: " + r("=?", n/2) + "\n\n",
		"adjacent quoted strings":     "To: " + r(`"a"`, n/3) + "\n\n",
		"adjacent atoms and comments": "To: " + r("a(b)", n/4) + "\n\n",
		"angle brackets":              "To: " + r("<", n) + "\n\n",
		"open comments":               "To: " + r("(", n) + "\nDate: " + r("(", n) + "\n\n",
		"commas":                      "To: " + r(",x", n/2) + "\n\n",
		"colons":                      "To: " + r(":", n) + "\n\n",
		"parameters":                  "Content-Type: text/plain" + r(";a", n/2) + "\n\n",
		"RFC 2231 segments":           "Content-Type: text/plain" + r(";name*9*=%41", n/12) + "\n\n",
		"long boundary, no newline":   "Content-Type: multipart/mixed; boundary=" + long + "\n\n" + r("a", n),
		"long boundary, near misses":  "Content-Type: multipart/mixed; boundary=" + long + "x\n\n" + r("\n--"+long+"y", n/len(long)),
		"many empty parts":            "Content-Type: multipart/mixed; boundary=b\n\n" + r("--b\n", n/4),
		"folded lines":                "Subject: x\n" + r(" y\n", n/3) + "\n",
		"header lines":                r("A: b\n", n/5) + "\n",
		"quoted-printable equals":     "Content-Transfer-Encoding: quoted-printable\n\n" + r("=", n),
		"base64 garbage":              "Content-Transfer-Encoding: base64\n\n" + r("!", n),
		"flowed":                      "Content-Type: text/plain; format=flowed\n\n" + r(">", n/2) + r("a \n", n/6),
		"nested rfc822":               "Content-Type: multipart/digest; boundary=b\n\n" + r("--b\n\nSubject: x\n\n", n/16),
	}
	for name, in := range inputs {
		start := time.Now()
		if _, err := parse([]byte(in), Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		d := time.Since(start)
		if d > 100*time.Millisecond {
			t.Logf("%s: %v", name, d)
		}
		if d > 3*time.Second {
			t.Errorf("%s: %v for %d bytes", name, d, len(in))
		}
	}
}
