package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/assets"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// webAssets are the embedded pages and static files. They are part of the binary,
// so failing to load them is a build defect, reported at the first request.
var webAssets = sync.OnceValues(assets.Load)

// pageCSP is the policy of the open page. Styles may be inline because the
// sandboxed iframe that shows an HTML body inherits this policy, and mail is styled
// inline; scripts are only this origin's files and the decryptor.
const pageCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// envelopeFields are the places of the base64 fields in an open page.
type envelopeFields struct {
	Header, Key, Payload string
	Version              string // the form's version field, as posted (postedFormVersion)
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
	Reply  *pageReply // nil: no secure replies (replies.go)
	Back   string     // the path the language switcher returns to
}

// pageLimits are the limits the pages tell people about, from the configuration,
// so that a page never promises what the server does not do.
type pageLimits struct {
	CodeValid   string // how long an emailed code is valid, in the page's words
	PasswordMin int
	Passwords   bool // false: the server does not use passwords (Config.NoPasswords)
}

func (h *handlers) limits(lang string) pageLimits {
	return pageLimits{CodeValid: keyserver.Duration(h.s.Locale(lang), h.cfg.CodeTTL), PasswordMin: h.cfg.MinPasswordLen, Passwords: !h.cfg.NoPasswords}
}

// textPage is home.html's: a title and paragraphs, all catalog ids.
func textPage(title string, paragraphs ...string) map[string]any {
	return map[string]any{"Title": title, "Paragraphs": paragraphs}
}

func (h *handlers) routePages(e *echo.Echo) {
	e.GET("/", h.home)
	e.POST("/language", h.setLanguage) // language.go
	e.GET("/static/*", func(c echo.Context) error {
		set, err := h.assets()
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
	set, err := h.assets()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Security-Policy", pageCSP)
	lang := h.lang(c)
	back := backPath(c)
	switch p := data.(type) {
	case openPage:
		p.Limits = h.limits(lang)
		p.Reply = h.replyPage()
		p.Back = back
		data = p
	case consolePage:
		p.Limits = h.limits(lang)
		p.Back = back
		data = p
	case map[string]any:
		// home.html: catalog ids, said in the page's language.
		l := h.s.Locale(lang)
		out := map[string]any{"Back": back, "Title": l.T(p["Title"].(string))}
		var paras []string
		for _, id := range p["Paragraphs"].([]string) {
			paras = append(paras, l.T(id))
		}
		out["Paragraphs"] = paras
		data = out
	}
	return set.Render(c.Response(), status, lang, name, data)
}

func (h *handlers) home(c echo.Context) error {
	return h.render(c, http.StatusOK, "home.html", textPage("home.title", "home.p1", "home.p2"))
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
// and previews may post it too. The envelope is held for the page to fetch, or put
// back into the page, which keeps it while the recipient signs in.
func (h *handlers) openPosted(c echo.Context) error {
	id, err := envelope.ParseID(c.Param("id"))
	if err != nil {
		return h.render(c, http.StatusNotFound, "open.html", openPage{Mode: "post"})
	}
	r := c.Request()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return h.unreadable(c, http.StatusBadRequest, "post.not_form")
	}
	release, err := h.s.AdmitPost(r.Context(), caller(c), id, r.ContentLength)
	if err != nil {
		var e *keyserver.Error
		if !errors.As(err, &e) {
			return err
		}
		if e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
		}
		// The body is read and dropped (never kept) before the answer: a browser
		// still sending it would otherwise see the connection reset, not the page.
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(c.Response().Writer, r.Body, h.s.PostLimit())); err != nil {
			c.Response().Header().Set("Connection", "close")
		}
		title := "post.cannot_open"
		if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
			title = "post.busy"
		}
		return h.render(c, e.Status, "home.html", textPage(title, h.errorText(c, e)))
	}
	defer release()
	p, err := receivePosted(h.s.PostLimit(), id, r.Body, params["boundary"], r.ContentLength)
	if err != nil {
		return h.unreadable(c, http.StatusBadRequest, h.refusalText(c, err))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if token := h.s.HoldPosted(r.Context(), caller(c), id, p.Blob); token != "" {
		return h.render(c, http.StatusOK, "open.html", openPage{Mode: "post", ID: id.String(), Held: token})
	}
	set, err := h.assets()
	if err != nil {
		return err
	}
	var page bytes.Buffer
	markers := &envelopeFields{Header: fieldMarker("header"), Key: fieldMarker("key"), Payload: fieldMarker("payload"), Version: postedFormVersion}
	lang := h.lang(c)
	if err := set.Execute(&page, lang, "open.html", openPage{Mode: "post", ID: id.String(), Fields: markers, Limits: h.limits(lang)}); err != nil {
		return err
	}
	out := page.Bytes()
	w := c.Response()
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// The fields go back as base64 of the one copy held, encoded as they are written.
	for _, f := range []struct {
		marker string
		value  []byte
	}{{markers.Header, p.File.HeaderJSON}, {markers.Key, p.File.KeyBlock}, {markers.Payload, p.File.Ciphertext}} {
		before, after, ok := bytes.Cut(out, []byte(f.marker))
		if !ok {
			return fmt.Errorf("open page: no place for a field")
		}
		w.Write(before)
		enc := base64.NewEncoder(base64.StdEncoding, w)
		enc.Write(f.value)
		enc.Close()
		out = after
	}
	_, err = w.Write(out)
	return err
}

// unreadable is the page for a post that could not be read; why is a catalog
// id or, for a refusal with its own sentence, that sentence.
func (h *handlers) unreadable(c echo.Context, status int, why string) error {
	return h.render(c, status, "home.html", textPage("post.unreadable", why, "post.again"))
}

// errorText is e's sentence as a catalog id when it has one, its own
// sentence said in the page's language when With gave it one, else as it is
// (T returns an id it does not know unchanged).
func (h *handlers) errorText(c echo.Context, e *keyserver.Error) string {
	if e.Said() != nil {
		return e.Text(h.s.Locale(h.lang(c)))
	}
	if key := h.noPasswordKey(e); key != "" {
		return key
	}
	if key := e.MessageKey(); key != "" {
		return key
	}
	return e.Message
}

// postedEnvelope serves an envelope held by openPosted to its open page.
func (h *handlers) postedEnvelope(c echo.Context) error {
	id, err := envelope.ParseID(c.Param("id"))
	if err != nil {
		return keyserver.ErrNotHeld
	}
	blob, err := h.s.PostedEnvelope(c.Request().Context(), id, c.Param("token"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/octet-stream", blob)
}

// refusalText is the sentence of a refusal (a catalog id where it has one), or
// a general one.
func (h *handlers) refusalText(c echo.Context, err error) string {
	var e *keyserver.Error
	var fp formProblem
	switch {
	case errors.As(err, &e):
		return h.errorText(c, e)
	case errors.As(err, &fp) && fp == "post.too_large":
		return h.s.Locale(h.lang(c)).T(string(fp), "MB", h.s.PostLimit()>>20)
	case errors.As(err, &fp):
		return string(fp)
	}
	return "post.bad_data"
}

// formProblem is the catalog id of a sentence for the person whose Open
// button did not work.
type formProblem string

func (p formProblem) Error() string { return string(p) }
