package policy

import (
	"strings"
	"testing"
)

func TestContentChecks(t *testing.T) {
	for d, want := range map[string]bool{
		"123456789": true, "078051120": true, "000123456": false, "666123456": false, "900123456": false,
		"999999999": false, "123004567": false, "123450000": false, "665999999": true, "899999999": true,
	} {
		if got := validSSN([]byte(d)); got != want {
			t.Errorf("validSSN(%s) = %v", d, got)
		}
	}
	for d, want := range map[string]bool{
		"1234567893": true, "1987654328": true, "2000000002": true,
		"1234567890": false, "3234567893": false, "0234567893": false, "123456789": false,
	} {
		if got := validNPI([]byte(d)); got != want {
			t.Errorf("validNPI(%s) = %v", d, got)
		}
	}
}

func TestContentScan(t *testing.T) {
	rules, err := NewContentRules([]ContentRule{
		{Name: "MRN", Kind: KindRegex, Pattern: `MR[0-9]{7}\b`, Keywords: []string{"MRN"}, Near: 20},
		{Name: "NPI", Kind: KindNPI},
		{Name: "SSN", Kind: KindSSN, Action: ActionSealAndNotify},
	}, 4096)
	if err != nil {
		t.Fatal(err)
	}
	plain := func(body string) []byte { return []byte("Subject: x\r\nContent-Type: text/plain\r\n\r\n" + body) }
	cases := []struct {
		name, subject string
		msg           []byte
		want          string // rule, "" none
	}{
		{"SSN in the subject", "SSN 123-45-6789", plain("hi"), "SSN"},
		{"the rule first in the configuration wins", "", plain("SSN 123-45-6789, NPI 1234567893, MRN MR1234567"), "MRN"},
		{"NPI before SSN in the configuration", "", plain("SSN 123-45-6789, NPI 1234567893"), "NPI"},
		{"keyword too far", "", plain("MRN" + strings.Repeat(" ", 30) + "MR1234567"), ""},
		{"keyword near", "", plain("mrn: MR1234567"), "MRN"},
		{"inside a word", "", plain("ID123-45-6789 and x1234567893"), ""},
		{"decimals", "", plain("1.234567893 and 123-45-6789.5"), ""},
		{"HTML tags between the parts", "", []byte("Content-Type: text/html\r\n\r\n<p>SSN 123-<b>45</b>-6789</p>"), "SSN"},
		{"HTML entity", "", []byte("Content-Type: text/html\r\n\r\nNPI&nbsp;1234567893"), "NPI"},
		{"script is no text", "", []byte("Content-Type: text/html\r\n\r\n<script>var a='123-45-6789'</script>ok"), ""},
		{"base64 text attachment", "", []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
			"--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=a.csv\r\nContent-Transfer-Encoding: base64\r\n\r\nU1NOLDEyMy00NS02Nzg5DQo=\r\n--b--\r\n"), "SSN"},
		{"binary attachment is not read", "", []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n123-45-6789\r\n--b--\r\n"), ""},
		{"latin-1 text", "", []byte("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nN=FAmero 123-45-=\r\n6789"), "SSN"},
		{"beyond the scan bound", "", plain(strings.Repeat("a ", 2048) + "123-45-6789"), ""},
	}
	for _, c := range cases {
		m := rules.Scan(c.subject, c.msg)
		got := ""
		if m != nil {
			got = m.Rule
			if m.Notify != (got == "SSN") {
				t.Errorf("%s: notify %v for %s", c.name, m.Notify, got)
			}
		}
		if got != c.want {
			t.Errorf("%s: rule %q, want %q", c.name, got, c.want)
		}
	}
	if r, err := NewContentRules(nil, 0); r != nil || err != nil || r.Scan("SSN 123-45-6789", nil) != nil {
		t.Error("no rules must scan nothing")
	}
	for _, bad := range [][]ContentRule{
		{{Name: "", Kind: KindSSN}},
		{{Name: "a", Kind: "credit card"}},
		{{Name: "a", Kind: KindSSN, Action: "drop"}},
		{{Name: "a", Kind: KindRegex, Pattern: "("}},
		{{Name: "a", Kind: KindRegex}},
		{{Name: "a", Kind: KindSSN, Pattern: "x"}},
		{{Name: "a", Kind: KindSSN}, {Name: "a", Kind: KindNPI}},
	} {
		if _, err := NewContentRules(bad, 0); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
