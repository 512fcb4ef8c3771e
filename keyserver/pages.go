package keyserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/assets"
	"github.com/waxseal/waxseal/envelope"
)

// webAssets are the embedded pages and static files. They are part of the binary,
// so failing to load them is a build defect, reported at the first request.
var webAssets = sync.OnceValues(assets.Load)

// pageCSP is the policy of the open page. Styles may be inline because the
// sandboxed iframe that shows an HTML body inherits this policy, and mail is styled
// inline; scripts are only this origin's files and the decryptor.
const pageCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// envelopeFields are the base64 fields an envelope's form posts, checked to hold
// nothing but base64 text.
type envelopeFields struct {
	Header, Key, Payload string
}

// fieldMarker stands in a page for a posted field. The fields are spliced in after
// the template ran: they are base64 (nothing to escape), and escaping 14 MB through
// html/template took most of a second.
func fieldMarker(name string) string { return "WAXSEAL-FIELD-" + name + "-WAXSEAL" }

type openPage struct {
	Mode   string // "post": posted (held, or fields in the page); "online": fetch the blob; "get": try the blob
	ID     string
	Held   string // token of the held posted envelope (posted.go)
	Fields *envelopeFields
	Limits pageLimits
}

// pageLimits are the limits the pages tell people about, from the configuration,
// so that a page never promises what the server does not do.
type pageLimits struct {
	CodeValid   string // how long an emailed code is valid, in words
	PasswordMin int
}

func (h *handlers) limits() pageLimits {
	return pageLimits{CodeValid: inWords(h.s.cfg.CodeTTL), PasswordMin: h.s.cfg.MinPasswordLen}
}

// inWords says d in whole minutes, or in seconds when it is not a whole number
// of them.
func inWords(d time.Duration) string {
	n, unit := int64(d/time.Second), "second"
	if d >= time.Minute && d%time.Minute == 0 {
		n, unit = int64(d/time.Minute), "minute"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}

func (h *handlers) routePages(e *echo.Echo) {
	e.GET("/", h.home)
	e.GET("/static/*", func(c echo.Context) error {
		set, err := webAssets()
		if err != nil {
			return err
		}
		set.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	e.POST("/open/:id", h.openPosted)
	e.GET("/open/:id/posted/:token", h.postedEnvelope)
	e.GET("/open/:id", h.openPage("get"))
	e.GET("/e/:id", h.openPage("online"))
}

func (h *handlers) render(c echo.Context, status int, name string, data any) error {
	set, err := webAssets()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Security-Policy", pageCSP)
	switch p := data.(type) {
	case openPage:
		p.Limits = h.limits()
		data = p
	case consolePage:
		p.Limits = h.limits()
		data = p
	}
	return set.Render(c.Response(), status, name, data)
}

func (h *handlers) home(c echo.Context) error {
	return h.render(c, http.StatusOK, "home.html", map[string]any{
		"Title": "Secure messages",
		"Paragraphs": []string{
			"This server delivers encrypted email. If you received a secure message, open the securedoc attachment in your email and select Open, or use the link in the email.",
			"Your messages are decrypted in your own browser; this server never sees them.",
		},
	})
}

func (h *handlers) openPage(mode string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := envelope.ParseID(c.Param("id"))
		if err != nil {
			return h.render(c, http.StatusNotFound, "open.html", openPage{Mode: mode})
		}
		return h.render(c, http.StatusOK, "open.html", openPage{Mode: mode, ID: id.String()})
	}
}

// openPosted receives the form of a securedoc.html file: ciphertext only (k_env
// stays in the URL fragment). Nothing is released or counted here: link scanners
// and previews may post it too. The fields are put back into the page, which keeps
// them while the recipient signs in.
func (h *handlers) openPosted(c echo.Context) error {
	id, err := envelope.ParseID(c.Param("id"))
	if err != nil {
		return h.render(c, http.StatusNotFound, "open.html", openPage{Mode: "post"})
	}
	limit := h.s.cfg.MaxPayloadBytes*4/3 + 1<<20
	fields, err := readEnvelopeForm(c.Request(), limit)
	if err != nil {
		return h.render(c, http.StatusBadRequest, "home.html", map[string]any{
			"Title":      "This secure message could not be read",
			"Paragraphs": []string{err.Error(), "Open the securedoc attachment from your email again and select Open. If it still fails, ask the sender to send the message again."},
		})
	}
	token, err := h.s.HoldPosted(c.Request().Context(), id, []byte(fields.Header), []byte(fields.Key), []byte(fields.Payload))
	if err != nil {
		return h.render(c, http.StatusBadRequest, "home.html", map[string]any{
			"Title":      "This secure message could not be read",
			"Paragraphs": []string{refusalText(err), "Open the securedoc attachment from your email again and select Open. If it still fails, ask the sender to send the message again."},
		})
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if token != "" {
		return h.render(c, http.StatusOK, "open.html", openPage{Mode: "post", ID: id.String(), Held: token})
	}
	set, err := webAssets()
	if err != nil {
		return err
	}
	var page bytes.Buffer
	markers := &envelopeFields{Header: fieldMarker("header"), Key: fieldMarker("key"), Payload: fieldMarker("payload")}
	if err := set.Execute(&page, "open.html", openPage{Mode: "post", ID: id.String(), Fields: markers}); err != nil {
		return err
	}
	out := page.Bytes()
	w := c.Response()
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for _, f := range []struct{ marker, value string }{{markers.Header, fields.Header}, {markers.Key, fields.Key}, {markers.Payload, fields.Payload}} {
		before, after, ok := bytes.Cut(out, []byte(f.marker))
		if !ok {
			return fmt.Errorf("open page: no place for a field")
		}
		w.Write(before)
		io.WriteString(w, f.value)
		out = after
	}
	_, err = w.Write(out)
	return err
}

// postedEnvelope serves an envelope held by openPosted to its open page.
func (h *handlers) postedEnvelope(c echo.Context) error {
	id, err := envelope.ParseID(c.Param("id"))
	if err != nil {
		return ErrNotHeld
	}
	blob, err := h.s.PostedEnvelope(c.Request().Context(), id, c.Param("token"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/octet-stream", blob)
}

// refusalText is the sentence of a refusal, or a general one.
func refusalText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "The attachment's data could not be read."
}

// formProblem is a sentence for the person whose Open button did not work.
type formProblem string

func (p formProblem) Error() string { return string(p) }

// readEnvelopeForm streams a multipart/form-data body, keeping the four fields of
// an envelope form, each limited and checked to be base64 text.
func readEnvelopeForm(r *http.Request, limit int64) (*envelopeFields, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, formProblem("The message was not sent by a securedoc attachment's Open button.")
	}
	mr := multipart.NewReader(http.MaxBytesReader(nil, r.Body, limit), params["boundary"])
	got := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, formProblem(fmt.Sprintf("The message is larger than this server accepts (%d MB).", limit>>20))
			}
			return nil, formProblem("The attachment's data arrived damaged.")
		}
		name := part.FormName()
		if name != "version" && name != "header" && name != "key" && name != "payload" {
			continue
		}
		b, err := io.ReadAll(part)
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, formProblem(fmt.Sprintf("The message is larger than this server accepts (%d MB).", limit>>20))
			}
			return nil, formProblem("The attachment's data arrived damaged.")
		}
		got[name] = string(b)
	}
	if strings.TrimSpace(got["version"]) != "1" {
		if _, ok := got["version"]; !ok {
			return nil, formProblem("This is not a waxseal secure message.")
		}
		return nil, formProblem("This secure message was made by a newer version than this server understands.")
	}
	f := &envelopeFields{}
	for name, dst := range map[string]*string{"header": &f.Header, "key": &f.Key, "payload": &f.Payload} {
		v, ok := got[name]
		if !ok || !isBase64Text(v) {
			return nil, formProblem("The attachment's data is incomplete or damaged.")
		}
		*dst = v
	}
	return f, nil
}

func isBase64Text(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n') {
			return false
		}
	}
	return len(strings.TrimSpace(s)) > 0
}
