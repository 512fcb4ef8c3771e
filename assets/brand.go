package assets

import (
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"maps"
	"sync"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/locale"
)

// LogoName is the name pages use for the brand's logo (asset "logo").
const LogoName = "logo"

// pageBrand is what the pages' shared header and footer (web/brand.html) show.
// Values are typed for html/template where it cannot tell they are safe: the
// colour was checked (brand.CheckColor), the tel: link holds digits only.
type pageBrand struct {
	*brand.Brand
	Accent template.CSS
	TelURL template.URL
}

// Branded returns a Set whose pages show b (nil: none, as Load's) and which
// also serves b's logo, under a content-hashed name like the other files.
// cat, when not nil, replaces the shipped languages (an organisation's
// override files, package locale).
func (s *Set) Branded(b *brand.Brand, cat *locale.Catalogs) (*Set, error) {
	out := &Set{byName: maps.Clone(s.byName), byURL: maps.Clone(s.byURL), locales: s.locales, scriptKeys: s.scriptKeys}
	if cat != nil {
		out.locales = cat
	}
	var view *pageBrand
	if b.Shown() {
		view = &pageBrand{Brand: b, Accent: template.CSS(b.Color), TelURL: template.URL(b.Tel())}
		if l := b.Logo; l != nil {
			sum := sha256.Sum256(l.Data)
			a := &Asset{Name: LogoName, URL: "/static/logo." + hex.EncodeToString(sum[:6]) + l.Ext,
				Integrity: integrity(l.Data), Type: l.Type, raw: l.Data, served: true}
			a.gz = sync.OnceValue(func() []byte { return gzipBytes(l.Data) })
			out.byName[a.Name] = a
			out.byURL[a.URL] = a
		}
	}
	// Parsed now: a Branded set is the one a key server renders, and a
	// template that does not parse should fail its first page's set-up.
	pages, err := parseAll(out, view)
	if err != nil {
		return nil, err
	}
	out.pages = func() (map[string]*template.Template, error) { return pages, nil }
	return out, nil
}
