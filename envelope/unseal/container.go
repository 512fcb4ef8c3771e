package unseal

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"

	"github.com/waxseal/waxseal/envelope/internal/detail"
)

// The container is read by exact byte strings (docs/FORMAT.md §7): its writer is
// the only producer, and a strict reader is small, fast on a 14 MB file, and easy
// to fuzz. Package envelope writes with the same constants.
const (
	FormStart = `<form id="waxseal" action="`
	// Fields are hidden inputs, not textareas: browsers parse a long attribute in
	// linear time, but a 14 MB textarea in quadratic time (30 s for 10 MB).
	FieldPrefix = `<input type="hidden" name="`
	FieldSuffix = `" value="`
	FieldEnd    = `">`
	// OnlineMagic starts an "open online" blob (docs/FORMAT.md §8).
	OnlineMagic = "waxseal-online-v1\n"
	// OnlineScript is the inline script of a file whose ciphertext is also
	// stored online (docs/FORMAT.md §7.5): with JavaScript, Open goes to the
	// open-online page (/e/ID, the same fragment) instead of posting the
	// ciphertext, which that page then fetches as binary. Without JavaScript
	// the form posts as ever.
	OnlineScript = `document.addEventListener("submit",function(e){e.preventDefault();location.href=e.target.action.replace("/open/","/e/")})`
)

// OnlineScriptLine is OnlineScript's element as the file carries it, right
// before the form; OnlineCSPLine is the meta element in the head that allows
// that script, and no other, by its hash.
var (
	OnlineScriptLine = "<script>" + OnlineScript + "</script>\r\n"
	OnlineCSPLine    = `<meta http-equiv="Content-Security-Policy" content="script-src 'sha256-` + onlineScriptHash + `'">` + "\r\n"
)

// onlineScriptHash is OnlineScript's SHA-256, base64, written out so that the
// decryptor does not link crypto/sha256 (about 90 KB brotli) for one constant;
// TestOnlineScriptHash checks it.
const onlineScriptHash = "Vc27khsPLFGXgkiPYEgGjy44g2edFpNnT8YssYzwhTk="

// online reports whether the page before the form carries both of §7.5's lines.
func online(page []byte) bool {
	return bytes.HasSuffix(page, []byte(OnlineScriptLine)) && bytes.Contains(page, []byte(OnlineCSPLine))
}

// ParseHTML parses a securedoc.html file, k_env included (from the form's action).
// It checks the structure and the header's form but no cryptography: Open does.
func ParseHTML(data []byte) (*File, error) {
	formAt := bytes.Index(data, []byte(FormStart))
	if formAt < 0 {
		return nil, ErrNotEnvelope
	}
	rest := data[formAt+len(FormStart):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, detail.Wrap(ErrMalformed, "form action is not terminated")
	}
	// The writer never puts a character reference in the action (its characters
	// are all URL-safe), so the reader need not decode any.
	action := string(rest[:end])
	rest = rest[end:]

	var fields [4][]byte
	for i, name := range [...]string{"version", "header", "key", "payload"} {
		v, after, err := field(rest, name)
		if err != nil {
			return nil, err
		}
		fields[i], rest = v, after
	}
	if v := string(bytes.TrimSpace(fields[0])); v != "1" {
		return nil, detail.Wrap(ErrUnsupportedVersion, detail.Quote(v, 20))
	}
	f, err := ParseForm(fields[1], fields[2], fields[3], Key{})
	if err != nil {
		return nil, err
	}
	base, frag, _ := strings.Cut(action, "#")
	if base != f.Header.OpenURL() {
		return nil, detail.Wrap(ErrMalformed, "form posts to ", detail.Quote(base, 120), ", but the header says ", detail.Quote(f.Header.OpenURL(), 200))
	}
	k, ok := strings.CutPrefix(frag, "k=")
	if !ok {
		return nil, detail.Wrap(ErrMalformed, "form action has no key fragment")
	}
	if f.EnvKey, err = ParseKey(k); err != nil {
		return nil, detail.Wrap(ErrMalformed, "form action: ", err.Error())
	}
	f.Online = online(data[:formAt])
	return f, nil
}

// field finds the next hidden input called name in data and returns its value and
// the data after it.
func field(data []byte, name string) (value, rest []byte, err error) {
	start := []byte(FieldPrefix + name + FieldSuffix)
	i := bytes.Index(data, start)
	if i < 0 {
		return nil, nil, detail.Wrap(ErrNotEnvelope, "no ", name, " field")
	}
	data = data[i+len(start):]
	j := bytes.IndexByte(data, '"')
	if j < 0 || !bytes.HasPrefix(data[j:], []byte(FieldEnd)) {
		return nil, nil, detail.Wrap(ErrMalformed, name, " field is not terminated")
	}
	return data[:j], data[j+len(FieldEnd):], nil
}

// ParseForm builds a File from the fields the envelope's form posts (header, key
// and payload as base64 text) and the key from the page's URL fragment; envKey may
// be zero when the fragment has not been read yet.
func ParseForm(header, key, payload []byte, envKey Key) (*File, error) {
	hb, err := decodeBase64("header", header)
	if err != nil {
		return nil, err
	}
	h, err := ParseHeader(hb)
	if err != nil {
		return nil, err
	}
	kb, err := decodeBase64("key", key)
	if err != nil {
		return nil, err
	}
	if len(kb) != KeyBlockSize {
		return nil, keyBlockSizeError(len(kb))
	}
	ct, err := decodeBase64("payload", payload)
	if err != nil {
		return nil, err
	}
	return &File{Header: *h, HeaderJSON: hb, KeyBlock: kb, EnvKey: envKey, Ciphertext: ct}, nil
}

// NewFile builds a File from its parts already decoded from base64: the exact
// header bytes, the key block and the ciphertext. (The browser decodes base64
// natively, many times faster than Go compiled to WebAssembly.)
func NewFile(header, keyBlock, ciphertext []byte, envKey Key) (*File, error) {
	h, err := ParseHeader(header)
	if err != nil {
		return nil, err
	}
	if len(keyBlock) != KeyBlockSize {
		return nil, keyBlockSizeError(len(keyBlock))
	}
	return &File{Header: *h, HeaderJSON: header, KeyBlock: keyBlock, EnvKey: envKey, Ciphertext: ciphertext}, nil
}

// ParseOnline parses an "open online" blob; the key comes from the link's fragment.
func ParseOnline(data []byte, envKey Key) (*File, error) {
	rest, ok := bytes.CutPrefix(data, []byte(OnlineMagic))
	if !ok {
		return nil, ErrNotEnvelope
	}
	if len(rest) < 4 {
		return nil, detail.Wrap(ErrMalformed, "online blob too short")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(len(rest)) < uint64(n)+KeyBlockSize {
		return nil, detail.Wrap(ErrMalformed, "online blob too short for its header")
	}
	return NewFile(rest[:n], rest[n:n+KeyBlockSize], rest[n+KeyBlockSize:], envKey)
}

// strictBase64 rejects non-zero padding bits, so each value has one encoding.
var strictBase64 = base64.StdEncoding.Strict()

// decodeBase64 decodes standard base64 broken into lines (CR and LF are skipped,
// as form submission turns line ends in values into CRLF).
func decodeBase64(name string, b []byte) ([]byte, error) {
	out := make([]byte, strictBase64.DecodedLen(len(b)))
	n, err := strictBase64.Decode(out, b)
	if err != nil {
		return nil, detail.Wrap(ErrBadBase64, name, ": ", err.Error())
	}
	return out[:n], nil
}
