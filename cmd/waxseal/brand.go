package main

import (
	_ "embed"
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/waxseal/waxseal/brand"
)

// loadBrand validates [brand] once (start-up refuses a bad one).
func (fc *fileConfig) loadBrand() (*brand.Brand, error) {
	if !fc.brandLoaded {
		b, err := brand.Load(fc.Brand, fc.dir)
		if err != nil {
			return nil, err
		}
		fc.brand, fc.brandLoaded = b, true
	}
	return fc.brand, nil
}

// systemSender is the one From of every system mail, the key server's codes
// and receipts and the gateway's confirmations and notices alike: [brand]
// mail_from with mail_from_name. The older [mail] from and [gateway]
// notify_from still work alone, but naming two different addresses is refused.
// Without any, it is noreply at the public URL's host.
func (fc *fileConfig) systemSender() (string, error) {
	b, err := fc.loadBrand()
	if err != nil {
		return "", err
	}
	type setting struct{ key, value string }
	var set []setting
	if b != nil && b.Sender != nil {
		set = append(set, setting{"[brand] mail_from", b.Sender.String()})
	}
	if fc.Mail.From != "" {
		set = append(set, setting{"[mail] from", fc.Mail.From})
	}
	if fc.Gateway != nil && fc.Gateway.NotifyFrom != "" {
		set = append(set, setting{"[gateway] notify_from", fc.Gateway.NotifyFrom})
	}
	var id *mail.Address
	var from string
	for _, s := range set {
		a, err := mail.ParseAddress(s.value)
		if err != nil {
			return "", fmt.Errorf("%s %q: %w", s.key, s.value, err)
		}
		if id == nil {
			id, from = a, s.key
			continue
		}
		if !strings.EqualFold(a.Address, id.Address) {
			return "", fmt.Errorf("%s %q and %s %q: system mail has one sender identity (docs/DEPLOY.md): set [brand] mail_from and remove the others", from, id.Address, s.key, a.Address)
		}
	}
	if id == nil {
		u, _ := url.Parse(fc.PublicURL)
		id = &mail.Address{Name: "waxseal", Address: "noreply@" + u.Hostname()}
	}
	if id.Name == "" {
		id.Name = "waxseal"
		if b.Shown() {
			id.Name = b.Name
		}
	}
	if b != nil && b.Sender != nil && len(fc.OrgDomains) > 0 && !inDomains(id.Address, fc.OrgDomains) {
		return "", fmt.Errorf("[brand] mail_from %q is not at the organisation's domains (org_domains %s): its DKIM, SPF and DMARC would not align (docs/DEPLOY.md)", id.Address, strings.Join(fc.OrgDomains, ", "))
	}
	return id.String(), nil
}

// inDomains reports whether addr is at one of domains or a subdomain of one
// (DMARC's relaxed alignment).
func inDomains(addr string, domains []string) bool {
	_, host, _ := strings.Cut(strings.ToLower(addr), "@")
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// brandSection is the commented [brand] section `waxseal init` writes.
func brandSection(origin string, orgDomains []string) string {
	domain := ""
	if u, err := url.Parse(origin); err == nil {
		domain = u.Hostname()
	}
	if len(orgDomains) > 0 {
		domain = orgDomains[0]
	}
	return `
# The organisation as recipients see it: on every page, in securedoc.html and at
# the end of every mail (docs/DEPLOY.md "Brand"). Checked at start-up.
[brand]
# name = "St Example Hospital"           # required once anything below but mail_from is set
# logo = "logo.svg"                      # PNG, WebP or plain SVG (no scripts or external references), at most 8 KiB
# color = "#1d4ed8"                      # buttons and links: at least 4.5:1 against white and the page
mail_from = "noreply@` + domain + `"      # the one sender of all system mail (codes, receipts, notices)
# mail_from_name = "St Example Hospital Secure Mail"  # default: name
# help_phone = "+1 555 0100"
# help_email = "helpdesk@` + domain + `"
# help_web = "https://` + domain + `/help"
# help_hours = "Mon-Fri 8:00-18:00"
# privacy_url = "https://` + domain + `/privacy"
# footer = "St Example Hospital, 1 Example Street, Springfield"
`
}

// sampleLogo is the development installation's logo (docs: README quick start).
//
//go:embed sample-logo.svg
var sampleLogo []byte

// devBrandSection is the sample brand of `waxseal serve --dev`, so that a
// newcomer sees where an organisation's name, logo and help desk appear.
const devBrandSection = `
# A sample brand (waxseal serve --dev): change it and restart to see yours.
[brand]
name = "St Example Hospital"
logo = "logo.svg"
color = "#0f5f8a"
mail_from = "securemail@hospital.example"
mail_from_name = "St Example Hospital Secure Mail"
help_phone = "+1 555 0100"
help_email = "helpdesk@hospital.example"
help_web = "https://hospital.example/help"
help_hours = "Mon-Fri 8:00-18:00"
privacy_url = "https://hospital.example/privacy"
footer = "St Example Hospital, 1 Example Street, Springfield"
`
