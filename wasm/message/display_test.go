package message

import (
	"strings"
	"testing"
)

// These messages show the defects found when wasm/message was compared with a
// reference reader on real-world mail: each is written to show one of them.

// An antivirus banner, a disclaimer or a mailing-list footer is a text/plain part
// beside the HTML body. It must be shown with the HTML, in its place.
const bannerBesideHTML = `From: Clinic <clinic@hospital.example>
To: Bob <bob@patient.example>
Subject: Results
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/plain; charset=utf-8

Your results are normal.
--alt
Content-Type: text/html; charset=utf-8

<p>Your results are <b>normal</b>.</p>
--alt--
--outer
Content-Type: text/plain; charset=utf-8

Scanned by ClamAV <no threats> & safe
--outer
Content-Type: text/plain; charset=utf-8; name="notes.txt"
Content-Disposition: inline; filename="notes.txt"

Take one tablet daily.
--outer--
`

func TestTextBesideHTML(t *testing.T) {
	m, err := Parse([]byte(bannerBesideHTML), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.eq("HTML", m.HTML, "<p>Your results are <b>normal</b>.</p>\n"+
		textBlockStart+"Scanned by ClamAV &lt;no threats&gt; &amp; safe\n"+textBlockEnd+"\n"+
		textBlockStart+"Take one tablet daily.\n"+textBlockEnd)
	c.eq("Text", m.Text, "Your results are normal.\nScanned by ClamAV <no threats> & safe\nTake one tablet daily.\n")
	// The inline file is shown and is also offered as the file it is.
	c.atts(1)
	a := c.att(0, "notes.txt", "text/plain", "", true)
	c.eq("notes.txt", string(a.Data), "Take one tablet daily.")
	c.noProblems()
}

// A text part marked inline keeps being shown when it has a file name (RFC 2183,
// section 2.1); only "attachment" makes it a file alone.
func TestInlineTextWithFilename(t *testing.T) {
	m, err := Parse([]byte(`Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain
Content-Disposition: inline; filename=report.txt

All values in range.
--b
Content-Type: text/plain
Content-Disposition: attachment; filename=raw.txt

raw data
--b--
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.eq("Text", m.Text, "All values in range.\n")
	c.eq("HTML", m.HTML, "")
	c.atts(2)
	c.att(0, "report.txt", "text/plain", "", true)
	c.att(1, "raw.txt", "text/plain", "", false)
}

// Characters outside the base64 alphabet are ignored (RFC 2045, section 6.8),
// also when they are more than 1% of a short body.
func TestBase64StrayCharacter(t *testing.T) {
	m, err := Parse([]byte("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8s*IFdvcmxkIQ==\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.eq("Text", m.Text, "Hello, World!\n")
	// Prose labelled base64 is still shown as it is.
	m, err = Parse([]byte("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nThis is not base64 at all.\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c = check{t: t, m: m}
	c.eq("Text", m.Text, "This is not base64 at all.\n")
	c.problem("bad base64, shown as is")
}

// A close delimiter followed by other characters ends the multipart (RFC 2046,
// section 5.1.1): the last attachment must not take in the epilogue.
func TestCloseBoundaryWithTrailer(t *testing.T) {
	m, err := Parse([]byte(`Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

body
--b
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=data.bin
Content-Transfer-Encoding: base64

AAECAw==
--b--> x
This epilogue is not part of the attachment.
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.eq("Text", m.Text, "body\n")
	c.atts(1)
	a := c.att(0, "data.bin", "application/octet-stream", "", false)
	c.eq("data.bin", string(a.Data), "\x00\x01\x02\x03")
	c.noProblems()
}

// A header whose first line is indented keeps its fields; the stray line is
// dropped and reported.
func TestIndentedFirstHeaderLine(t *testing.T) {
	m, err := Parse([]byte(" stray continuation\nFrom: Clinic <clinic@hospital.example>\nSubject: Results\nContent-Type: text/html\n\n<p>hi</p>\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.addrs("From", m.From, Address{"Clinic", "clinic@hospital.example"})
	c.eq("Subject", m.Subject, "Results")
	c.eq("HTML", m.HTML, "<p>hi</p>\n")
	c.problem("header starts with an indented line, which was skipped")
}

// An address without @ is one mailbox; it does not take the next one with it.
func TestAddressWithoutAt(t *testing.T) {
	m, err := Parse([]byte("From: a@hospital.example\nTo: foo, Bar <bar@x.org>\n\nhi\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.addrs("To", m.To, Address{"foo", ""}, Address{"Bar", "bar@x.org"})
}

// Text in a legacy CJK encoding without a charset label cannot be read right;
// the message says so instead of showing Latin-1 silently.
func TestUnlabelledLegacyText(t *testing.T) {
	sjis := "\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd" // こんにちは in Shift_JIS
	for _, ct := range []string{"", "Content-Type: text/plain\n", "Content-Type: text/plain; charset=us-ascii\n", "Content-Type: text/html\n"} {
		m, err := Parse([]byte("Subject: x\n"+ct+"\n"+sjis+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !m.CharsetGuessed {
			t.Errorf("%q: CharsetGuessed is false", ct)
		}
	}
	// An 8-bit subject in a legacy encoding, without encoded words.
	m, err := Parse([]byte("Subject: "+sjis+"\n\nbody\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.CharsetGuessed {
		t.Error("8-bit Subject: CharsetGuessed is false")
	}
	for _, raw := range []string{
		"Subject: x\n\nplain ASCII\n",
		"Subject: x\n\nUTF-8 without a label: caf\u00e9\n",
		"Subject: caf\u00e9 (UTF-8 in the header, RFC 6532)\n\nbody\n",
		"Subject: x\nContent-Type: text/plain; charset=shift_jis\n\n" + sjis + "\n",
		"Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9\n",
	} {
		m, err := Parse([]byte(raw), Options{Charset: func(string, []byte) (string, error) { return "decoded", nil }})
		if err != nil {
			t.Fatal(err)
		}
		if m.CharsetGuessed {
			t.Errorf("%q: CharsetGuessed is true", raw)
		}
	}
}

// Over the size limit, the escaped copies of text parts in the HTML view count
// too, and what is kept stays within the limit.
func TestTextBesideHTMLLimit(t *testing.T) {
	for _, limit := range []int64{60, 120, 200, 400} {
		m, err := Parse([]byte(bannerBesideHTML), Options{MaxBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		kept := int64(len(m.Text) + len(m.HTML))
		for _, a := range m.Attachments {
			kept += int64(len(a.Data))
		}
		if kept > limit {
			t.Errorf("limit %d: kept %d bytes", limit, kept)
		}
		if !strings.HasPrefix(m.HTML, "<p>") && m.HTML != "" {
			t.Errorf("limit %d: HTML = %q", limit, m.HTML)
		}
	}
}
