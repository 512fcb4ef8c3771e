package brand_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/brand"
)

// The Worker's brand, as JSON with the logo inlined, is the same brand as
// [brand] with the logo's file.
func TestFromJSONIsLoad(t *testing.T) {
	svg, err := os.ReadFile("testdata/logo.svg")
	if err != nil {
		t.Fatal(err)
	}
	c := sample()
	want, err := brand.Load(c, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	c.Logo = "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg)
	text, _ := json.Marshal(c)
	got, err := brand.FromJSON(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from JSON:\n%+v\nfrom [brand]:\n%+v", got, want)
	}
	if !strings.Contains(string(text), `"help_phone":"+1 555 0100"`) {
		t.Errorf("the JSON keys are not [brand]'s: %s", text)
	}
}

func TestFromJSONRefuses(t *testing.T) {
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("not a png"))
	big := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(make([]byte, brand.MaxLogoBytes+100))
	for text, want := range map[string]string{
		`{"name": "X", "colour": "#000000"}`:                 `[brand] as JSON: json: unknown field "colour"`,
		`{"name": "X"} {"name": "Y"}`:                        "[brand] as JSON: more than one object",
		`{"name": "X", "logo": "logo.svg"}`:                  "[brand] logo: want a data: URL",
		`{"name": "X", "logo": "data:image/gif;base64,R0"}`:  `[brand] logo: "image/gif": want image/svg+xml, image/png or image/webp`,
		`{"name": "X", "logo": "data:image/svg+xml,<svg/>"}`: "[brand] logo: the data: URL must be base64",
		`{"name": "X", "logo": "` + png + `"}`:               "[brand] logo:",
		`{"name": "X", "logo": "` + big + `"}`:               "[brand] logo: about",
		`{"name": "X", "logo": "data:image/png;base64,!!"}`:  "[brand] logo: the data: URL's base64",
		`{"color": "#000000"}`:                               "[brand] name: required",
	} {
		b, err := brand.FromJSON(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.80s: %+v, %v; want an error with %q", text, b, err, want)
		}
	}
}
