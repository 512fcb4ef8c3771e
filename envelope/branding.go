package envelope

import "strings"

// Branding is the organisation securedoc.html shows: its name and logo above
// the message's details, its help desk and privacy notice below the Open
// button, and its colour on the button. Package brand checks every value; the
// page escapes them all again and inlines the logo as a data: URI, so the file
// stays self-contained and opens offline. None of it is authenticated: like
// the rest of the visible page it is what the sender's gateway wrote.
type Branding struct {
	Name     string
	LogoType string // image/png, image/webp or image/svg+xml
	Logo     []byte
	Color    string // "#rrggbb"; anything else keeps the default
	Phone    string
	Tel      string // tel: link of Phone
	Email    string
	Web      string
	Hours    string
	Privacy  string
	Footer   string
}

// defaultButton is the Open button's colour without a brand.
const defaultButton = "#1d4ed8"

// The fixed words of the brand's block (the rest of the page has its own).
const (
	wordHelpDesk = "Help desk"
	wordPrivacy  = "Privacy notice"
)

// brandStyle styles the brand's header and help block.
const brandStyle = ".org{display:flex;align-items:center;gap:.75rem;margin:0 0 1rem;font-weight:700;font-size:1.1rem}" + crlf +
	".org img{height:2.5rem;width:auto;max-width:10rem}" + crlf +
	".help{margin-top:1.5rem;border-top:1px solid #d1d5db;font-size:.9rem;color:#374151}" + crlf +
	".help a{color:inherit}" + crlf

// brandingSlots renders the brand into the page's slots: the header, the help
// block, the extra style and the button colour.
func brandingSlots(b *Branding, w *Words) (head, help, style, color string) {
	color = defaultButton
	if b == nil {
		return "", "", "", color
	}
	if isHexColor(b.Color) {
		color = b.Color
	}
	style = brandStyle
	var sb strings.Builder
	sb.WriteString(`<header class="org">` + crlf)
	if len(b.Logo) > 0 && isImageType(b.LogoType) {
		// URL parsers drop CR and LF, so the data: URI is cut into lines
		// that mail carries as 7bit.
		sb.WriteString(`<img alt="" src="data:` + b.LogoType + `;base64,` + crlf)
		sb.WriteString(base64Lines(b.Logo))
		sb.WriteString(`">` + crlf)
	}
	sb.WriteString(`<span>` + asciiHTML(b.Name, 72) + `</span>` + crlf + `</header>` + crlf)
	head = sb.String()

	sb.Reset()
	var parts []string
	if b.Phone != "" {
		parts = append(parts, link(b.Tel, b.Phone))
	}
	if b.Email != "" {
		parts = append(parts, link("mailto:"+b.Email, b.Email))
	}
	if b.Web != "" {
		parts = append(parts, link(b.Web, b.Web))
	}
	if b.Hours != "" {
		parts = append(parts, "("+asciiHTML(b.Hours, 72)+")")
	}
	if len(parts) == 0 && b.Privacy == "" && b.Footer == "" {
		return head, "", style, color
	}
	sb.WriteString(`<div class="help">` + crlf)
	if len(parts) > 0 {
		sb.WriteString(`<p>` + w.say(w.HelpDesk, nil) + `: ` + strings.Join(parts, crlf) + `</p>` + crlf)
	}
	if b.Privacy != "" {
		sb.WriteString(`<p>` + link(b.Privacy, w.Privacy) + `</p>` + crlf)
	}
	if b.Footer != "" {
		sb.WriteString(`<p>` + asciiHTML(b.Footer, 72) + `</p>` + crlf)
	}
	sb.WriteString(`</div>` + crlf)
	return head, sb.String(), style, color
}

// link is an anchor to href; hrefs that are not https:, mailto: or tel: are
// shown as text only.
func link(href, text string) string {
	if !(strings.HasPrefix(href, "https://") || strings.HasPrefix(href, "mailto:") || strings.HasPrefix(href, "tel:")) {
		return asciiHTML(text, 72)
	}
	return `<a href="` + asciiHTML(href, 0) + `">` + asciiHTML(text, 72) + `</a>`
}

// BrandingSize is how many bytes b adds to a securedoc.html in English.
func BrandingSize(b *Branding) int { return BrandingSizeIn(b, nil) }

// BrandingSizeIn is how many bytes b adds to a securedoc.html written with
// words (nil: English): the brand's fixed words ("Help desk") are the
// language's, and may be longer than the English.
func BrandingSizeIn(b *Branding, words *Words) int {
	head, help, style, color := brandingSlots(b, words.filled())
	return len(head) + len(help) + len(style) + len(color) - len(defaultButton)
}

func isImageType(t string) bool {
	return t == "image/png" || t == "image/webp" || t == "image/svg+xml"
}

func isHexColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
