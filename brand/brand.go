// Package brand holds the organisation's identity as recipients see it: name,
// logo, primary colour, help-desk contact, privacy notice, a short footer and
// the one sender identity of all system mail. Load validates the [brand]
// section of waxseal.toml once at start-up and refuses, with the setting's
// name, anything that would make a page unreadable, unsafe or too large.
//
// Every value is data: pages, mails and securedoc.html escape it where they
// put it. Markup in a name is shown as text, never interpreted.
package brand

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/waxseal/waxseal/envelope"
)

// Config is the [brand] section of waxseal.toml, as written.
type Config struct {
	Name  string `toml:"name" json:"name"`   // the organisation, as people know it
	Logo  string `toml:"logo" json:"logo"`   // a PNG, WebP or SVG file; relative paths to the config's directory
	Color string `toml:"color" json:"color"` // primary colour, "#rrggbb" (buttons and links)

	// MailFrom and MailFromName are the one sender identity of system mail
	// (codes, receipts, confirmations, notices), key server and gateway alike.
	MailFrom     string `toml:"mail_from" json:"mail_from"`
	MailFromName string `toml:"mail_from_name" json:"mail_from_name"`

	HelpPhone  string `toml:"help_phone" json:"help_phone"`
	HelpEmail  string `toml:"help_email" json:"help_email"`
	HelpWeb    string `toml:"help_web" json:"help_web"`
	HelpHours  string `toml:"help_hours" json:"help_hours"`
	PrivacyURL string `toml:"privacy_url" json:"privacy_url"`
	Footer     string `toml:"footer" json:"footer"`
}

// Limits on the texts, in characters. They keep a header on one line on a
// phone and securedoc.html within its budget.
const (
	MaxName   = 80
	MaxPhone  = 40
	MaxHours  = 80
	MaxFooter = 300
	MaxURL    = 300
	// MaxLogoBytes bounds the logo file: it is inlined into every
	// securedoc.html (as base64, 4/3 of it).
	MaxLogoBytes = 8 << 10
	// SecuredocBudget is how much the brand may add to a securedoc.html over
	// an unbranded one (docs/BENCHMARKS.md).
	SecuredocBudget = 12 << 10
)

// Brand is a validated [brand]. The zero value and nil are "no brand": pages
// and mails look as they do without one.
type Brand struct {
	Name       string
	Logo       *Logo  // nil: none
	Color      string // "#rrggbb", lower case; "" keeps the default
	HelpPhone  string
	HelpEmail  string
	HelpWeb    string
	HelpHours  string
	PrivacyURL string
	Footer     string
	// Sender is [brand] mail_from with mail_from_name; nil when unset.
	Sender *mail.Address
}

// Logo is a checked logo file.
type Logo struct {
	Type string // image/png, image/webp or image/svg+xml
	Ext  string // .png, .webp, .svg
	// Data is what is served and inlined: the file itself for PNG and WebP,
	// the canonical re-serialisation of a checked SVG.
	Data []byte
}

// Load validates c. Relative logo paths are taken from dir (the config file's
// directory). A section with nothing set gives nil, no brand.
func Load(c Config, dir string) (*Brand, error) {
	return LoadWith(c, func(name string) (*Logo, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return loadLogo(name)
	})
}

// LoadWith is Load with the logo named by c.Logo read by logo (a Worker,
// which has no files, takes it from its environment).
func LoadWith(c Config, logo func(name string) (*Logo, error)) (*Brand, error) {
	if c == (Config{}) {
		return nil, nil
	}
	b := &Brand{}
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("[brand] %s: "+format, append([]any{key}, args...)...))
	}
	var err error
	if b.Name, err = text(c.Name, MaxName); err != nil {
		bad("name", "%v", err)
	} else if b.Name == "" && (c.Logo != "" || c.Color != "" || c.HelpPhone != "" || c.HelpEmail != "" ||
		c.HelpWeb != "" || c.HelpHours != "" || c.PrivacyURL != "" || c.Footer != "") {
		bad("name", "required with a logo, colour, help desk, privacy notice or footer: the organisation's name as recipients know it")
	}
	if c.Color != "" {
		if b.Color, err = CheckColor(c.Color); err != nil {
			bad("color", "%v", err)
		}
	}
	if b.HelpPhone, err = text(c.HelpPhone, MaxPhone); err != nil {
		bad("help_phone", "%v", err)
	} else if b.HelpPhone != "" && telURI(b.HelpPhone) == "" {
		bad("help_phone", "%q has no digits", c.HelpPhone)
	} else if strings.ContainsAny(b.HelpPhone, "<>\"&;:") {
		bad("help_phone", "%q: only digits, letters, spaces and + - ( ) . / are allowed", c.HelpPhone)
	}
	if c.HelpEmail != "" {
		a, err := mail.ParseAddress(c.HelpEmail)
		if err != nil || a.Name != "" || a.Address != strings.TrimSpace(c.HelpEmail) {
			bad("help_email", "%q: want a bare address such as help@hospital.example", c.HelpEmail)
		} else {
			b.HelpEmail = a.Address
		}
	}
	if b.HelpWeb, err = webURL(c.HelpWeb); err != nil {
		bad("help_web", "%v", err)
	}
	if b.PrivacyURL, err = webURL(c.PrivacyURL); err != nil {
		bad("privacy_url", "%v", err)
	}
	if b.HelpHours, err = text(c.HelpHours, MaxHours); err != nil {
		bad("help_hours", "%v", err)
	}
	if b.Footer, err = text(c.Footer, MaxFooter); err != nil {
		bad("footer", "%v", err)
	}
	if c.MailFrom != "" {
		if b.Sender, err = sender(c.MailFrom, c.MailFromName, b.Name); err != nil {
			bad("mail_from", "%v", err)
		}
	} else if c.MailFromName != "" {
		bad("mail_from_name", "set mail_from too")
	}
	if c.Logo != "" {
		if b.Logo, err = logo(c.Logo); err != nil {
			bad("logo", "%v", err)
		}
	}
	if len(errs) == 0 {
		if n := b.SecuredocGrowth(); n > SecuredocBudget {
			errs = append(errs, fmt.Errorf("[brand]: securedoc.html would grow by %d bytes with this logo and these texts, more than %d: use a smaller logo or shorter texts", n, SecuredocBudget))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

// text checks a one-line text: trimmed, at most max characters, valid UTF-8,
// no control or format characters (which could reorder what is shown).
func text(s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", fmt.Errorf("%d characters, at most %d", n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", fmt.Errorf("%q holds a control character (U+%04X)", s, r)
		}
	}
	return s, nil
}

// webURL checks a link people follow from every page: https only, no user
// name or password in it.
func webURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxURL {
		return "", fmt.Errorf("%d characters, at most %d", len(s), MaxURL)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("%q: want an https:// address", s)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("%q: blanks and control characters are not allowed", s)
		}
	}
	return u.String(), nil
}

// sender is the From of system mail: "Display Name <addr>". The name
// defaults to the organisation's.
func sender(addr, name, org string) (*mail.Address, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" {
		return nil, fmt.Errorf("%q: want a bare address such as securemail@hospital.example (the display name is mail_from_name)", addr)
	}
	if name, err = text(name, MaxName); err != nil {
		return nil, fmt.Errorf("mail_from_name: %w", err)
	}
	if name == "" {
		name = org
	}
	a.Name = name
	return a, nil
}

// telURI is the tel: link of a phone number: its digits and a leading +
// (letters map to the keypad's digits); "" when it has no digits.
func telURI(phone string) string {
	var sb strings.Builder
	for i, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			sb.WriteRune(r)
		case r == '+' && i == 0:
			sb.WriteRune(r)
		}
	}
	if strings.Trim(sb.String(), "+") == "" {
		return ""
	}
	return "tel:" + sb.String()
}

// Shown reports whether there is a brand to show (a name); a [brand] with
// only mail_from changes the sender of system mail and nothing else.
func (b *Brand) Shown() bool { return b != nil && b.Name != "" }

// Tel is the help-desk phone as a tel: link, "" when there is none.
func (b *Brand) Tel() string {
	if b == nil || b.HelpPhone == "" {
		return ""
	}
	return telURI(b.HelpPhone)
}

// HasHelp reports whether any help-desk detail is set.
func (b *Brand) HasHelp() bool {
	return b != nil && (b.HelpPhone != "" || b.HelpEmail != "" || b.HelpWeb != "" || b.HelpHours != "")
}

// Securedoc is what securedoc.html shows of the brand; nil for no brand.
func (b *Brand) Securedoc() *envelope.Branding {
	if !b.Shown() {
		return nil
	}
	s := &envelope.Branding{Name: b.Name, Color: b.Color, Phone: b.HelpPhone, Tel: b.Tel(), Email: b.HelpEmail,
		Web: b.HelpWeb, Hours: b.HelpHours, Privacy: b.PrivacyURL, Footer: b.Footer}
	if b.Logo != nil {
		s.LogoType, s.Logo = b.Logo.Type, b.Logo.Data
	}
	return s
}

// SecuredocGrowth is how many bytes the brand adds to a securedoc.html.
func (b *Brand) SecuredocGrowth() int { return envelope.BrandingSize(b.Securedoc()) }

func loadLogo(path string) (*Logo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxLogoBytes {
		return nil, fmt.Errorf("%s: %d bytes, at most %d (it is inlined into every securedoc.html)", path, st.Size(), MaxLogoBytes)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l, err := CheckLogo(data, filepath.Ext(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// CheckLogo checks a logo's bytes against the type its file name's extension
// claims: PNG and WebP by their structure, SVG by CheckSVG.
func CheckLogo(data []byte, ext string) (*Logo, error) {
	if len(data) > MaxLogoBytes {
		return nil, fmt.Errorf("%d bytes, at most %d", len(data), MaxLogoBytes)
	}
	switch strings.ToLower(ext) {
	case ".png":
		if err := checkPNG(data); err != nil {
			return nil, err
		}
		return &Logo{Type: "image/png", Ext: ".png", Data: data}, nil
	case ".webp":
		if err := checkWebP(data); err != nil {
			return nil, err
		}
		return &Logo{Type: "image/webp", Ext: ".webp", Data: data}, nil
	case ".svg":
		clean, err := CheckSVG(data)
		if err != nil {
			return nil, err
		}
		return &Logo{Type: "image/svg+xml", Ext: ".svg", Data: clean}, nil
	}
	return nil, fmt.Errorf("want a .png, .webp or .svg file, not %q", ext)
}
