package brand

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MinContrast is WCAG 2.x level AA for normal text.
const MinContrast = 4.5

// The colours the primary colour meets on the pages (assets/web/static/style.css)
// and in securedoc.html: white text on buttons, and links on the page
// background (the darker of the backgrounds a link sits on; cards are white).
const (
	buttonText = "#ffffff"
	pageBG     = "#f3f4f6"
)

// CheckColor parses "#rrggbb" or "#rgb" and refuses a colour that white
// button text, or links on the page background, could not be read on.
func CheckColor(s string) (string, error) {
	c := strings.ToLower(strings.TrimSpace(s))
	if len(c) == 4 && c[0] == '#' {
		c = "#" + strings.Repeat(c[1:2], 2) + strings.Repeat(c[2:3], 2) + strings.Repeat(c[3:4], 2)
	}
	if len(c) != 7 || c[0] != '#' {
		return "", fmt.Errorf("%q: want a hex colour such as \"#1d4ed8\"", s)
	}
	if _, err := strconv.ParseUint(c[1:], 16, 32); err != nil {
		return "", fmt.Errorf("%q: want a hex colour such as \"#1d4ed8\"", s)
	}
	if r := Contrast(c, buttonText); r < MinContrast {
		return "", fmt.Errorf("%s: white button text on it has a contrast of %.2f:1, below %.1f:1 (WCAG AA): choose a darker colour", c, r, MinContrast)
	}
	if r := Contrast(c, pageBG); r < MinContrast {
		return "", fmt.Errorf("%s: links in it on the page background (%s) have a contrast of %.2f:1, below %.1f:1 (WCAG AA): choose a darker colour", c, pageBG, r, MinContrast)
	}
	return c, nil
}

// Contrast is the WCAG contrast ratio of two "#rrggbb" colours, 1 to 21.
func Contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG's relative luminance of "#rrggbb".
func luminance(c string) float64 {
	v, _ := strconv.ParseUint(c[1:], 16, 32)
	ch := func(x uint64) float64 {
		s := float64(x) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(v>>16&0xff) + 0.7152*ch(v>>8&0xff) + 0.0722*ch(v&0xff)
}
