package brand_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/brand"
)

func TestCheckSVGAccepts(t *testing.T) {
	for _, src := range []string{
		`<?xml version="1.0" encoding="UTF-8"?><!-- made by hand --><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#003366"/></svg>`,
		`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient><path id="p" d="M0 0h4"/></defs><use xlink:href="#p"/><rect fill="url(#g)" style="fill: url('#g'); stroke:#000" width="4" height="4"/><text x="1" y="2" xml:space="preserve">St &amp; Co</text></svg>`,
	} {
		out, err := brand.CheckSVG([]byte(src))
		if err != nil {
			t.Errorf("CheckSVG(%s): %v", src, err)
			continue
		}
		again, err := brand.CheckSVG(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Errorf("canonical form does not check to itself: %s → %s, %v", out, again, err)
		}
	}
	sample, err := os.ReadFile("testdata/logo.svg")
	if err != nil {
		t.Fatal(err)
	}
	out, err := brand.CheckSVG(sample)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "<!--") || !strings.HasPrefix(string(out), `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"`) {
		t.Errorf("canonical sample logo: %s", out)
	}
}

func TestCheckSVGRefuses(t *testing.T) {
	const open = `<svg xmlns="http://www.w3.org/2000/svg">`
	for _, tc := range []struct{ name, src, want string }{
		{"script", open + `<script>alert(1)</script></svg>`, "element <script> is not allowed"},
		{"script in another namespace", open + `<h:script xmlns:h="http://www.w3.org/1999/xhtml">alert(1)</h:script></svg>`, "is not in the SVG namespace"},
		{"foreignObject", open + `<foreignObject><div/></foreignObject></svg>`, "element <foreignObject> is not allowed"},
		{"event handler", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`, "event handler onload on <svg>"},
		{"event handler, any case", open + `<rect OnClick="alert(1)"/></svg>`, "event handler OnClick on <rect>"},
		{"external use", open + `<use href="https://evil.example/x.svg#a"/></svg>`, `only references inside the file`},
		{"xlink javascript", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="javascript:alert(1)"/></svg>`, "only references inside the file"},
		{"data href", open + `<use href="data:image/svg+xml,..."/></svg>`, "only references inside the file"},
		{"image", open + `<image href="https://evil.example/a.png"/></svg>`, "element <image> is not allowed"},
		{"link", open + `<a href="https://evil.example/"><rect/></a></svg>`, "element <a> is not allowed"},
		{"style sheet", open + `<style>@import url(https://evil.example/a.css)</style></svg>`, "element <style> is not allowed"},
		{"remote url()", open + `<rect fill="url(https://evil.example/#g)"/></svg>`, "url() to"},
		{"remote url() in style", open + `<rect style="fill:url( 'evil.example#g')"/></svg>`, "url() to"},
		{"escape in style", open + `<rect style="fill:\75rl(x)"/></svg>`, `only plain declarations`},
		{"animation", open + `<rect><set attributeName="href" to="javascript:alert(1)"/></rect></svg>`, "element <set> is not allowed"},
		{"animate", open + `<animate attributeName="x"/></svg>`, "element <animate> is not allowed"},
		{"doctype", `<!DOCTYPE svg [<!ENTITY x "y">]>` + open + `</svg>`, "DOCTYPE"},
		{"entity", open + `<title>&x;</title></svg>`, "invalid character entity &x;"},
		{"stylesheet PI", `<?xml-stylesheet href="https://evil.example/a.css"?>` + open + `</svg>`, "processing instruction <?xml-stylesheet?>"},
		{"editor namespace", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"/>`, "namespace inkscape="},
		{"not svg", `<html xmlns="http://www.w3.org/1999/xhtml"/>`, "not in the SVG namespace"},
		{"no namespace", `<svg/>`, "not in the SVG namespace"},
		{"root not svg", `<g xmlns="http://www.w3.org/2000/svg"/>`, "the root element is <g>"},
		{"two roots", open + `</svg>` + open + `</svg>`, "more than one root"},
		{"unknown attribute", open + `<rect filter="url(#f)"/></svg>`, "attribute filter on <rect> is not allowed"},
		{"text in rect", open + `<rect>hi</rect></svg>`, "text inside <rect>"},
		{"not closed", open + `<rect>`, "SVG: XML syntax error"},
		{"empty", ``, "no <svg> element"},
		{"href twice", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use href="#a" xlink:href="#b"/></svg>`, "attribute href twice on <use>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := brand.CheckSVG([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckSVG = %q, %v; want an error with %q", out, err, tc.want)
			}
		})
	}
}

// FuzzCheckSVG: whatever is accepted checks again to the same bytes (what is
// served is what was checked), and holds nothing that could run or load.
func FuzzCheckSVG(f *testing.F) {
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#003366"/></svg>`))
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="#a"/><rect style="fill:url(#g)"/><text>&lt;b&gt;</text></svg>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := brand.CheckSVG(data)
		if err != nil {
			return
		}
		again, err := brand.CheckSVG(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("accepted %q, canonical %q does not check to itself: %q, %v", data, out, again, err)
		}
		low := strings.ToLower(strings.Replace(string(out), `xmlns="http://www.w3.org/2000/svg"`, "", 1))
		for _, bad := range []string{"<script", "<foreignobject", "<image", "<style", "<a ", "<iframe", "<!", "<?", "javascript:", "data:", "http:", "https:"} {
			if strings.Contains(low, bad) {
				t.Fatalf("accepted %q, canonical form holds %q: %s", data, bad, out)
			}
		}
	})
}
