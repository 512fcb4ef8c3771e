package brand

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SVG logos are checked against an allowlist and refused, not cleaned, when
// they hold anything else: scripts, event handlers, foreignObject, external
// references (href to anything but "#id", url() to anything but "#id"), style
// sheets, animation, DOCTYPE (entities), processing instructions other than
// the XML declaration, and non-SVG namespaces (editor metadata included:
// export as plain SVG). The error names what was found, so an operator knows
// what to remove. What is served and inlined is then re-serialised from the
// checked tokens, so a browser parses exactly what was checked.
const (
	svgNS   = "http://www.w3.org/2000/svg"
	xlinkNS = "http://www.w3.org/1999/xlink"
	xmlNS   = "http://www.w3.org/XML/1998/namespace"
)

var svgElements = map[string]bool{
	"svg": true, "g": true, "defs": true, "title": true, "desc": true, "symbol": true, "use": true,
	"path": true, "rect": true, "circle": true, "ellipse": true, "line": true, "polyline": true, "polygon": true,
	"text": true, "tspan": true, "linearGradient": true, "radialGradient": true, "stop": true,
	"clipPath": true, "mask": true,
}

// svgText are the elements whose character data is shown.
var svgText = map[string]bool{"title": true, "desc": true, "text": true, "tspan": true}

var svgAttrs = map[string]bool{
	"id": true, "class": true, "d": true, "x": true, "y": true, "x1": true, "y1": true, "x2": true, "y2": true,
	"cx": true, "cy": true, "r": true, "rx": true, "ry": true, "fx": true, "fy": true, "dx": true, "dy": true,
	"width": true, "height": true, "viewBox": true, "preserveAspectRatio": true, "points": true, "transform": true,
	"fill": true, "fill-opacity": true, "fill-rule": true, "stroke": true, "stroke-width": true, "stroke-opacity": true,
	"stroke-linecap": true, "stroke-linejoin": true, "stroke-miterlimit": true, "stroke-dasharray": true,
	"stroke-dashoffset": true, "opacity": true, "clip-path": true, "clip-rule": true, "mask": true,
	"offset": true, "stop-color": true, "stop-opacity": true, "gradientUnits": true, "gradientTransform": true,
	"spreadMethod": true, "clipPathUnits": true, "maskUnits": true, "maskContentUnits": true,
	"font-family": true, "font-size": true, "font-weight": true, "font-style": true, "text-anchor": true,
	"dominant-baseline": true, "letter-spacing": true, "version": true, "role": true, "aria-label": true,
	"aria-hidden": true, "focusable": true, "visibility": true, "display": true, "style": true, "href": true,
}

const maxSVGDepth = 32

// CheckSVG checks an SVG logo and returns its canonical form, or an error
// naming the first thing that is not allowed.
func CheckSVG(data []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var out bytes.Buffer
	var stack []string
	root := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("SVG: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root && len(stack) == 0 {
				return nil, errors.New("SVG: more than one root element")
			}
			if t.Name.Space != svgNS {
				return nil, fmt.Errorf("SVG: element <%s> is not in the SVG namespace (only plain SVG is accepted)", qname(t.Name))
			}
			if !svgElements[t.Name.Local] {
				return nil, fmt.Errorf("SVG: element <%s> is not allowed in a logo", t.Name.Local)
			}
			if len(stack) == 0 && t.Name.Local != "svg" {
				return nil, fmt.Errorf("SVG: the root element is <%s>, not <svg>", t.Name.Local)
			}
			if len(stack) >= maxSVGDepth {
				return nil, fmt.Errorf("SVG: nested more than %d deep", maxSVGDepth)
			}
			root = true
			stack = append(stack, t.Name.Local)
			out.WriteString("<" + t.Name.Local)
			if len(stack) == 1 {
				out.WriteString(` xmlns="` + svgNS + `"`)
			}
			seen := map[string]bool{}
			for _, a := range t.Attr {
				name, value, err := checkSVGAttr(t.Name.Local, a)
				if err != nil {
					return nil, err
				}
				if seen[name] && name != "" {
					// Browsers refuse the file (xlink:href and href count as one).
					return nil, fmt.Errorf("SVG: attribute %s twice on <%s>", name, t.Name.Local)
				}
				seen[name] = true
				if name != "" {
					out.WriteString(" " + name + `="` + escapeXML(value) + `"`)
				}
			}
			out.WriteString(">")
		case xml.EndElement:
			out.WriteString("</" + t.Name.Local + ">")
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && svgText[stack[len(stack)-1]] {
				out.WriteString(escapeXML(string(t)))
			} else if len(bytes.TrimSpace(t)) > 0 {
				if len(stack) == 0 {
					return nil, errors.New("SVG: text outside the <svg> element")
				}
				return nil, fmt.Errorf("SVG: text inside <%s>", stack[len(stack)-1])
			}
		case xml.Comment:
			// dropped
		case xml.ProcInst:
			if t.Target != "xml" || root {
				return nil, fmt.Errorf("SVG: processing instruction <?%s?> is not allowed", t.Target)
			}
		case xml.Directive:
			return nil, errors.New("SVG: <!DOCTYPE> and other declarations are not allowed (entities)")
		}
	}
	if !root {
		return nil, errors.New("SVG: no <svg> element")
	}
	return out.Bytes(), nil
}

// checkSVGAttr checks one attribute and returns the name to write it under
// ("" to leave it out: namespace declarations, written anew).
func checkSVGAttr(elem string, a xml.Attr) (string, string, error) {
	switch {
	case a.Name.Space == "" && a.Name.Local == "xmlns":
		if a.Value != svgNS {
			return "", "", fmt.Errorf("SVG: <%s> declares the default namespace %q", elem, a.Value)
		}
		return "", "", nil
	case a.Name.Space == "xmlns":
		if !(a.Name.Local == "xlink" && a.Value == xlinkNS) {
			return "", "", fmt.Errorf("SVG: namespace %s=%q is not allowed (only plain SVG is accepted)", a.Name.Local, a.Value)
		}
		return "", "", nil
	case a.Name.Space == xmlNS && a.Name.Local == "space":
		if a.Value != "preserve" && a.Value != "default" {
			return "", "", fmt.Errorf("SVG: xml:space=%q", a.Value)
		}
		return "xml:space", a.Value, nil
	case a.Name.Space == xlinkNS && a.Name.Local == "href":
		a.Name.Space = ""
	case a.Name.Space != "":
		return "", "", fmt.Errorf("SVG: attribute %s on <%s> is not allowed", qname(a.Name), elem)
	}
	name := a.Name.Local
	if strings.HasPrefix(strings.ToLower(name), "on") {
		return "", "", fmt.Errorf("SVG: event handler %s on <%s> is not allowed", name, elem)
	}
	if !svgAttrs[name] {
		return "", "", fmt.Errorf("SVG: attribute %s on <%s> is not allowed", name, elem)
	}
	v := a.Value
	switch name {
	case "href":
		if !isFragmentRef(v) {
			return "", "", fmt.Errorf("SVG: <%s> refers to %q: only references inside the file (#id) are allowed", elem, v)
		}
	case "style":
		for _, r := range v {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" \t\n-:;#%.,()'\"", r)) {
				return "", "", fmt.Errorf("SVG: style on <%s> holds %q: only plain declarations are allowed", elem, r)
			}
		}
	}
	if err := checkURLs(v); err != nil {
		return "", "", fmt.Errorf("SVG: %s on <%s>: %w", name, elem, err)
	}
	return name, v, nil
}

// checkURLs refuses url(...) references to anything but "#id".
func checkURLs(v string) error {
	low := strings.ToLower(v)
	for {
		i := strings.Index(low, "url")
		if i < 0 {
			return nil
		}
		rest := strings.TrimLeft(low[i+3:], " \t\n\r")
		if strings.HasPrefix(rest, "(") {
			ref := strings.Trim(strings.TrimLeft(rest[1:], " \t\n\r"), `'"`)
			if !strings.HasPrefix(ref, "#") {
				return fmt.Errorf("url() to %q: only references inside the file (#id) are allowed", v)
			}
		}
		low = low[i+3:]
	}
}

func isFragmentRef(v string) bool {
	if len(v) < 2 || v[0] != '#' {
		return false
	}
	for _, r := range v[1:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;",
	"\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;")

func escapeXML(s string) string { return xmlEscaper.Replace(s) }
