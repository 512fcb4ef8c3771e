package brand

import (
	"html"
	"strings"
)

// The mail footer: the one place mails put the brand's details into words.
// The fixed words are few ("Help desk", "Privacy notice"): English here, a
// catalog's through the ...In variants.

// helpParts are the help-desk details in the order they are shown.
func (b *Brand) helpParts() []string {
	var parts []string
	for _, p := range []string{b.HelpPhone, b.HelpEmail, b.HelpWeb} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if b.HelpHours != "" {
		parts = append(parts, "("+b.HelpHours+")")
	}
	return parts
}

// TextFooter is the plain-text footer every system mail ends with: the
// organisation, its help desk, its privacy notice and footer text, after a
// signature separator. "" for no brand.
func (b *Brand) TextFooter() string { return b.TextFooterIn(WordHelpDesk, WordPrivacy) }

// The fixed words in English, for mails that are not localised.
const (
	WordHelpDesk = "Help desk"
	WordPrivacy  = "Privacy notice"
)

// TextFooterIn is TextFooter with the fixed words in another language.
func (b *Brand) TextFooterIn(helpDesk, privacy string) string {
	if !b.Shown() {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("\n-- \n" + b.Name + "\n")
	if b.HasHelp() {
		sb.WriteString(helpDesk + ": " + strings.Join(b.helpParts(), " ") + "\n")
	}
	if b.PrivacyURL != "" {
		sb.WriteString(privacy + ": " + b.PrivacyURL + "\n")
	}
	if b.Footer != "" {
		sb.WriteString(b.Footer + "\n")
	}
	return sb.String()
}

// HTMLFooter is TextFooter for an HTML mail part, every value escaped.
func (b *Brand) HTMLFooter() string { return b.HTMLFooterIn(WordHelpDesk, WordPrivacy) }

// HTMLFooterIn is HTMLFooter with the fixed words in another language.
func (b *Brand) HTMLFooterIn(helpDesk, privacy string) string {
	if !b.Shown() {
		return ""
	}
	e := html.EscapeString
	var sb strings.Builder
	sb.WriteString("<hr>\n<p style=\"font-size:90%;color:#4b5563\"><strong>" + e(b.Name) + "</strong>")
	if b.HasHelp() {
		sb.WriteString("<br>\n" + e(helpDesk) + ":")
		if b.HelpPhone != "" {
			sb.WriteString(` <a href="` + e(b.Tel()) + `">` + e(b.HelpPhone) + `</a>`)
		}
		if b.HelpEmail != "" {
			sb.WriteString(` <a href="mailto:` + e(b.HelpEmail) + `">` + e(b.HelpEmail) + `</a>`)
		}
		if b.HelpWeb != "" {
			sb.WriteString(` <a href="` + e(b.HelpWeb) + `">` + e(b.HelpWeb) + `</a>`)
		}
		if b.HelpHours != "" {
			sb.WriteString(" (" + e(b.HelpHours) + ")")
		}
	}
	if b.PrivacyURL != "" {
		sb.WriteString(`<br>` + "\n" + `<a href="` + e(b.PrivacyURL) + `">` + e(privacy) + `</a>`)
	}
	if b.Footer != "" {
		sb.WriteString("<br>\n" + e(b.Footer))
	}
	sb.WriteString("</p>\n")
	return sb.String()
}
