package brand

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// FromJSON reads a brand given as one JSON object with the keys of [brand] in
// waxseal.toml, the logo as a data: URL (data:image/svg+xml;base64,…,
// image/png or image/webp) instead of a file name: a Cloudflare Worker has no
// files, only its environment (WAXSEAL_BRAND, docs/DEPLOY.md). It checks what
// Load checks.
func FromJSON(text string) (*Brand, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("[brand] as JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("[brand] as JSON: more than one object")
	}
	return LoadWith(c, dataLogo)
}

// logoTypes are the logo types by a data: URL's media type, as the file
// extensions CheckLogo takes.
var logoTypes = map[string]string{"image/svg+xml": ".svg", "image/png": ".png", "image/webp": ".webp"}

func dataLogo(u string) (*Logo, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return nil, errors.New("want a data: URL, such as data:image/svg+xml;base64,…")
	}
	meta, data, _ := strings.Cut(rest, ",")
	mediaType, ok := strings.CutSuffix(meta, ";base64")
	if !ok {
		return nil, errors.New("the data: URL must be base64 (…;base64,…)")
	}
	ext, ok := logoTypes[strings.ToLower(mediaType)]
	if !ok {
		return nil, fmt.Errorf("%q: want image/svg+xml, image/png or image/webp", mediaType)
	}
	if base64.StdEncoding.DecodedLen(len(data)) > MaxLogoBytes+3 {
		return nil, fmt.Errorf("about %d bytes, at most %d", base64.StdEncoding.DecodedLen(len(data)), MaxLogoBytes)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("the data: URL's base64: %w", err)
	}
	return CheckLogo(b, ext)
}
