package httpapi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/assets"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// maxAPIBody bounds JSON bodies other than envelope registration.
const maxAPIBody = 64 << 10

// An Option changes how New serves.
type Option func(*options)

type options struct {
	static []assets.Static
}

// StaticServedElsewhere says someone else serves the static files (a
// Cloudflare Worker's static assets): the pages load them as listed, and
// /static/ serves none of them (assets.Set.ServedElsewhere; the organisation's
// logo, if one is configured, is still served here). The list is checked on
// the first page: check it earlier with assets.CheckStatic.
func StaticServedElsewhere(list []assets.Static) Option {
	return func(o *options) { o.static = list }
}

// New returns the key server's HTTP API over s. Handlers only translate between
// HTTP and Service calls.
func New(s *keyserver.Service, opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg := s.Config()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	h := &handlers{s: s, cfg: cfg, https: strings.HasPrefix(cfg.PublicURL, "https://")}
	h.assets = sync.OnceValues(func() (*assets.Set, error) {
		set, err := webAssets()
		if err != nil {
			return nil, err
		}
		if o.static != nil {
			if set, err = set.ServedElsewhere(o.static); err != nil {
				return nil, err
			}
		}
		return set.Branded(cfg.Brand, s.Locales())
	})
	e.HTTPErrorHandler = h.errorHandler
	e.Use(h.logRequests, h.securityHeaders)

	h.routePages(e)
	h.routeConsole(e)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", h.ready)
	e.GET("/metrics", h.metrics, h.adminOnly)

	v1 := e.Group("/api/v1", h.noStore)
	v1.POST("/envelopes", h.registerEnvelopes, h.gatewayOnly)
	v1.PUT("/ciphertexts/:sha256", h.putCiphertext, h.gatewayOnly)                  // ciphertexts.go
	v1.POST("/languages", h.savedLanguages, h.gatewayOnly, h.bodyLimit(maxAPIBody)) // language.go
	v1.GET("/envelopes/:id/payload", h.payload)
	v1.GET("/envelopes/:id/status", h.envelopeStatus)
	h.routeOutbox(v1)     // outbox.go
	h.routeThreads(v1)    // threads.go
	h.routeReplies(v1)    // replies.go
	h.routeDeliveries(v1) // delivery.go

	web := v1.Group("", h.csrf, h.bodyLimit(maxAPIBody), h.withLanguage)
	web.POST("/register/start", h.registerStart)
	web.POST("/register/verify", h.registerVerify)
	web.POST("/signin/password", h.signInPassword)
	web.POST("/signin/code", h.codeStart(s.StartSignInCode, "api.signin_code_sent"))
	web.POST("/signin/code/verify", h.signInCodeVerify)
	web.POST("/password/forgot", h.codeStart(s.StartPasswordReset, "api.reset_code_sent"))
	web.POST("/password/reset", h.passwordReset)
	web.POST("/signout", h.signOut)
	web.GET("/session", h.session, h.signedIn(true))
	web.POST("/account/password", h.setPassword, h.signedIn(true))
	web.POST("/envelopes/:id/key", h.releaseKey, h.signedIn(false))
	web.GET("/sent", h.listSent, h.signedIn(false))
	web.POST("/envelopes/:id/revoke", h.envelopeAction(h.revoke), h.signedIn(false))
	// A sender manages their own messages as an administrator does anyone's
	// (Service.mayManage decides; others get unknown_envelope).
	web.POST("/envelopes/:id/lock", h.envelopeAction(h.lock), h.signedIn(false))
	web.POST("/envelopes/:id/unlock", h.envelopeAction(h.unlock), h.signedIn(false))
	web.POST("/envelopes/:id/expiry", h.envelopeAction(h.setExpiry), h.signedIn(false))

	adm := v1.Group("/admin", h.adminOnly, h.bodyLimit(maxAPIBody))
	adm.GET("/envelopes", h.listEnvelopes)
	adm.GET("/envelopes/:id", h.envelopeAction(h.getEnvelope))
	adm.POST("/envelopes/bulk", h.bulkChange) // bulk.go
	adm.POST("/envelopes/:id/revoke", h.envelopeAction(h.revoke))
	adm.POST("/envelopes/:id/lock", h.envelopeAction(h.lock))
	adm.POST("/envelopes/:id/unlock", h.envelopeAction(h.unlock))
	adm.POST("/envelopes/:id/expire", h.envelopeAction(h.expire))
	adm.POST("/envelopes/:id/expiry", h.envelopeAction(h.setExpiry))
	adm.GET("/accounts", h.listAccounts)
	adm.DELETE("/accounts/:id", h.deleteAccount)
	h.routeAdminTools(adm) // accountadmin.go
	h.routeSweep(adm)      // sweep.go
	adm.GET("/audit", h.auditExport)
	adm.GET("/audit/verify", h.auditVerify)
	adm.GET("/backup", h.backup)
	h.routePasskeys(web, adm)
	return e
}

type handlers struct {
	s     *keyserver.Service
	cfg   keyserver.Config
	https bool
	// assets are the embedded web files with the configured brand (pages.go).
	assets func() (*assets.Set, error)
}

// --- middleware ---

func (h *handlers) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		// The path may hold an envelope id (not a secret); query strings and bodies,
		// which may hold codes, are never logged.
		h.s.Logger().LogAttrs(c.Request().Context(), slog.LevelInfo, "http",
			slog.String("method", c.Request().Method), slog.String("path", c.Path()),
			slog.Int("status", c.Response().Status), slog.Duration("took", time.Since(start)),
			slog.String("client_ip", c.RealIP()))
		return nil
	}
}

func (h *handlers) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		// Pages set their own, slightly wider policy (pages.go); this one is for
		// everything else.
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if h.https {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

func (h *handlers) noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

func (h *handlers) bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, n)
			return next(c)
		}
	}
}

func (h *handlers) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := h.checkCSRF(c.Request()); err != nil {
			return err
		}
		return next(c)
	}
}

func (h *handlers) checkCSRF(r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" && o != h.cfg.PublicURL {
		return keyserver.ErrForbidden.With("refusal.origin_refused", "Origin", fmt.Sprintf("%.100s", o))
	}
	if r.Header.Get(api.CSRFHeader) == "" {
		return keyserver.ErrForbidden.With("refusal.missing_header", "Header", api.CSRFHeader)
	}
	return nil
}

func bearer(c echo.Context) string {
	t, _ := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(t)
}

func (h *handlers) gatewayOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !h.s.ValidGatewayToken(bearer(c)) {
			return (&keyserver.Error{Status: http.StatusUnauthorized, Code: api.CodeBadToken, Message: "A valid gateway token is required."}).With("refusal.gateway_token")
		}
		return next(c)
	}
}

// adminOnly admits the admin bearer token (scripts, the CLI) or, from a browser, a
// session of an administrator who signed in with a passkey (with the same CSRF
// checks as every cookie-authenticated call).
func (h *handlers) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Header.Get("Authorization") != "" {
			if !h.s.ValidAdminToken(bearer(c)) {
				return (&keyserver.Error{Status: http.StatusUnauthorized, Code: api.CodeBadToken, Message: "A valid admin token is required."}).With("refusal.admin_token")
			}
			c.Set("caller", keyserver.Caller{Admin: true, IP: c.RealIP()})
			return next(c)
		}
		if _, err := c.Cookie(h.cookieName()); err != nil {
			return (&keyserver.Error{Status: http.StatusUnauthorized, Code: api.CodeBadToken, Message: "A valid admin token, or an administrator signed in with a passkey, is required."}).With("refusal.admin_token_or_passkey")
		}
		if err := h.checkCSRF(c.Request()); err != nil {
			return err
		}
		return h.signedIn(false)(func(c echo.Context) error {
			if err := h.s.RequireAdmin(caller(c)); err != nil {
				return err
			}
			return next(c)
		})(c)
	}
}

// SessionCookie is the cookie name for this server: the __Host- prefix (secure,
// host-only, path /) when served over https.
func (h *handlers) cookieName() string {
	if h.https {
		return "__Host-waxseal"
	}
	return "waxseal"
}

// signedIn requires a session; setupOK admits sessions that must still choose a
// password.
func (h *handlers) signedIn(setupOK bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ck, err := c.Cookie(h.cookieName())
			if err != nil {
				return keyserver.ErrSignInRequired
			}
			sess, acct, err := h.s.Authenticate(c.Request().Context(), ck.Value)
			if err != nil {
				if errors.Is(err, keyserver.ErrSignInRequired) {
					h.clearCookie(c)
				}
				return err
			}
			if sess.Setup && !setupOK {
				return keyserver.ErrSetupRequired
			}
			c.Set("caller", keyserver.SessionCaller(c.RealIP(), sess, acct))
			return next(c)
		}
	}
}

func (h *handlers) setCookie(c echo.Context, token string) {
	c.SetCookie(&http.Cookie{Name: h.cookieName(), Value: token, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

func (h *handlers) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: h.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// errorHandler answers every error as JSON; unexpected errors are logged and hidden.
func (h *handlers) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var e *keyserver.Error
	var he *echo.HTTPError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &mb):
		e = (&keyserver.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge}).With("refusal.request_too_large", "Max", mb.Limit)
	case errors.As(err, &he):
		if he.Code == http.StatusNotFound && isPageVisit(c.Request()) {
			// A person who mistyped or half-copied a link gets a page in
			// their language, not a line of JSON.
			if h.render(c, http.StatusNotFound, "home.html", textPage("notfound.title", "notfound.p1")) == nil {
				return
			}
		}
		e = httpRefusal(he)
	case errors.Is(err, syscall.ENOSPC):
		h.s.StorageFull()
		h.s.Logger().ErrorContext(c.Request().Context(), "out of storage", "path", c.Path(), "err", err)
		e = keyserver.ErrOutOfStorage
	default:
		h.s.Logger().ErrorContext(c.Request().Context(), "request failed", "path", c.Path(), "err", err)
		e = (&keyserver.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "Something went wrong on the server. Please try again later."}).With("refusal.internal")
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
	// As api.ErrorBody, with retry_after whenever there is a wait, even one
	// under a second.
	msg := h.errorSentence(c, e)
	body := map[string]any{"error": e.Code, "message": msg}
	if e.RetryAfter > 0 {
		body["retry_after"] = int(e.RetryAfter.Seconds())
	}
	c.JSON(e.Status, body)
}

// isPageVisit tells a browser loading a page (a link followed, an address
// typed) from a script or a client calling the API, which keep their JSON.
func isPageVisit(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/static/") {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" {
		return m == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// httpRefusal is the framework's own refusal (no such route, a method the
// route does not take) said from the catalog: echo's text is English.
func httpRefusal(he *echo.HTTPError) *keyserver.Error {
	e := &keyserver.Error{Status: he.Code, Code: strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_"))}
	switch he.Code {
	case http.StatusNotFound:
		return e.With("refusal.http_not_found")
	case http.StatusMethodNotAllowed:
		return e.With("refusal.http_method")
	case http.StatusUnsupportedMediaType:
		return e.With("refusal.http_media_type")
	case http.StatusRequestEntityTooLarge:
		return e.With("refusal.http_too_large")
	case http.StatusUnauthorized, http.StatusForbidden:
		return e.With("refusal.http_denied")
	case http.StatusBadRequest:
		return e.With("refusal.http_bad_request")
	}
	return e.With("refusal.http_other", "Status", he.Code)
}

// --- helpers ---

// caller is who the request acts for: the client's address, and the session or
// the admin token the middleware checked.
func caller(c echo.Context) keyserver.Caller {
	if p, ok := c.Get("caller").(keyserver.Caller); ok {
		return p
	}
	return keyserver.Caller{IP: c.RealIP()}
}

func bindJSON(c echo.Context, v any) error {
	return decodeJSON(c.Request().Body, v)
}

func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return keyserver.ErrBadRequest.With("refusal.bad_json", "Detail", err)
	}
	return nil
}

func pathID(c echo.Context) (envelope.ID, error) {
	id, err := envelope.ParseID(c.Param("id"))
	if err != nil {
		return id, keyserver.ErrUnknownEnvelope
	}
	return id, nil
}

// maskEmail shows where a code went without spelling out the whole address.
func maskEmail(email string) string {
	local, domain, _ := strings.Cut(email, "@")
	if len(local) <= 2 {
		return local[:min(1, len(local))] + "***@" + domain
	}
	return local[:1] + strings.Repeat("*", min(len(local)-2, 8)) + local[len(local)-1:] + "@" + domain
}

func viewAccount(a keyserver.Account, now time.Time) api.AccountView {
	v := api.AccountView{ID: a.ID, Email: a.Email, FirstName: a.FirstName, LastName: a.LastName, Role: string(a.Role),
		Created: a.Created, LastUsed: a.LastUsed, Password: a.PasswordHash != "", Passkeys: len(a.Credentials),
		Locked: now.Before(a.LockedUntil), Disabled: a.Disabled}
	for _, c := range a.Credentials {
		if c.LastUsed.After(v.PasskeysLastUsed) {
			v.PasskeysLastUsed = c.LastUsed
		}
	}
	return v
}

// ViewEnvelope summarizes a record's state for people and scripts.
func ViewEnvelope(r keyserver.EnvelopeRecord, now time.Time) api.EnvelopeView {
	state := keyserver.EnvelopeState(&r, now)
	return api.EnvelopeView{ID: r.ID.String(), Sender: r.Sender, HeaderFrom: r.HeaderFrom, Recipient: r.Recipient, Subject: r.Subject,
		Created: r.Created, Expires: r.Expires, State: state, LockReason: r.LockReason, FirstOpen: r.FirstOpen,
		Releases: r.Releases, Online: r.HasPayload, LastOpen: r.LastOpen, Size: r.Size, Attachments: r.Attachments,
		Delivery: viewDelivery(r.Delivery)}
}

func (h *handlers) signedInAnswer(c echo.Context, si *keyserver.SignedIn) error {
	h.setCookie(c, si.Token)
	h.saveChosenLanguage(c, &si.Account)
	return c.JSON(http.StatusOK, map[string]any{"account": viewAccount(si.Account, h.s.Now()), "setup": si.Setup, "method": si.Method})
}

// --- handlers ---

func (h *handlers) ready(c echo.Context) error {
	if err := h.s.Ready(c.Request().Context()); err != nil {
		return (&keyserver.Error{Status: http.StatusServiceUnavailable, Code: api.CodeNotReady, Message: "The store is not available."}).With("refusal.not_ready")
	}
	return c.String(http.StatusOK, "ready\n")
}

func (h *handlers) metrics(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	return h.s.WriteMetrics(c.Request().Context(), c.Response())
}

// registerEnvelopes takes the registrations as JSON or, to upload the
// ciphertexts they reference in the same round trip, as multipart/form-data:
// "ciphertext" parts first (each named by its SHA-256 in the filename), then one
// "envelopes" part holding the JSON (docs/API.md).
func (h *handlers) registerEnvelopes(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, 64*h.cfg.MaxPayloadBytes)
	body := io.Reader(req.Body)
	if mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		var err error
		if body, err = h.uploadParts(c, multipart.NewReader(req.Body, params["boundary"])); err != nil {
			return err
		}
	}
	var reqJSON api.RegisterRequest
	if err := decodeJSON(body, &reqJSON); err != nil {
		return err
	}
	return h.register(c, reqJSON.Envelopes)
}

const maxUploadsPerRequest = 8

// uploadParts stores each "ciphertext" part as PUT /api/v1/ciphertexts would,
// and returns the "envelopes" part that must follow them.
func (h *handlers) uploadParts(c echo.Context, mr *multipart.Reader) (io.Reader, error) {
	for uploads := 0; ; {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, keyserver.ErrBadRequest.With("refusal.multipart_no_envelopes")
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, err
			}
			return nil, keyserver.ErrBadRequest.With("refusal.multipart_unreadable", "Detail", err)
		}
		switch part.FormName() {
		case "envelopes":
			return part, nil
		case "ciphertext":
			// A gateway's batch is one message, with one ciphertext; a few
			// more are allowed, not a request's worth of memory.
			if uploads++; uploads > maxUploadsPerRequest {
				return nil, keyserver.ErrBadRequest.With("refusal.ciphertext_parts_many", "Max", maxUploadsPerRequest)
			}
			sum, err := parseSum(part.FileName())
			if err != nil {
				return nil, keyserver.ErrBadRequest.With("refusal.ciphertext_part", "Detail", err)
			}
			// A size the part announces sizes the buffer, so it must hold: no more
			// than the request carries, and exactly what the part holds
			// (PutCiphertext checks), or a short request could reserve the limit.
			size := int64(-1)
			if v := part.Header.Get("Content-Length"); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 || c.Request().ContentLength >= 0 && n > c.Request().ContentLength {
					return nil, keyserver.ErrBadRequest.With("refusal.ciphertext_part_length", "Value", fmt.Sprintf("%.40q", v))
				}
				size = n
			}
			if err := h.s.PutCiphertext(c.Request().Context(), caller(c), sum, part, size); err != nil {
				return nil, err
			}
		default:
			return nil, keyserver.ErrBadRequest.With("refusal.multipart_unexpected", "Part", fmt.Sprintf("%.40q", part.FormName()))
		}
	}
}

func (h *handlers) register(c echo.Context, envelopes []api.Registration) error {
	regs := make([]keyserver.Registration, len(envelopes))
	for i, r := range envelopes {
		id, err := envelope.ParseID(r.ID)
		if err != nil {
			return keyserver.ErrBadRequest.With("refusal.envelope_detail", "ID", i, "Detail", err)
		}
		k, err := envelope.ParseKey(r.ServerKey)
		if err != nil {
			return keyserver.ErrBadRequest.With("refusal.envelope_server_key", "ID", r.ID, "Detail", err)
		}
		payload, err := base64.StdEncoding.DecodeString(r.Payload)
		if err != nil {
			return keyserver.ErrBadRequest.With("refusal.envelope_payload_base64", "ID", r.ID)
		}
		regs[i] = keyserver.Registration{ID: id, Sender: r.Sender, Submitter: r.Submitter, Message: r.Message, Recipient: r.Recipient, Subject: r.Subject,
			Created: r.Created, Expires: r.Expires, ServerKey: k, Payload: payload, Size: r.Size, Attachments: r.Attachments}
		if regs[i].ReplyContext, err = base64.StdEncoding.DecodeString(r.ReplyContext); err != nil || len(regs[i].ReplyContext) > keyserver.MaxReplyContext {
			return keyserver.ErrBadRequest.With("refusal.envelope_reply_context", "ID", r.ID, "Max", keyserver.MaxReplyContext)
		}
		if r.Ciphertext != "" || r.OnlineHead != "" {
			if len(payload) > 0 {
				return keyserver.ErrBadRequest.With("refusal.envelope_payload_or_head", "ID", r.ID)
			}
			sum, err := parseSum(r.Ciphertext)
			if err != nil {
				return keyserver.ErrBadRequest.With("refusal.envelope_ciphertext", "ID", r.ID, "Detail", err)
			}
			head, err := base64.StdEncoding.DecodeString(r.OnlineHead)
			if err != nil {
				return keyserver.ErrBadRequest.With("refusal.envelope_head_base64", "ID", r.ID)
			}
			regs[i].Payload, regs[i].Ciphertext = head, sum[:]
		}
	}
	if err := h.s.RegisterEnvelopes(c.Request().Context(), caller(c), regs); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]int{"registered": len(regs)})
}

func (h *handlers) payload(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	b, err := h.s.Payload(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/octet-stream", b)
}

func (h *handlers) registerStart(c echo.Context) error {
	var req struct {
		EnvelopeID string `json:"envelope_id"`
		Email      string `json:"email"` // instead of envelope_id: a sender's own address
		FirstName  string `json:"first_name"`
		LastName   string `json:"last_name"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.EnvelopeID == "" && req.Email != "" {
		email, err := h.s.StartSenderRegistration(c.Request().Context(), caller(c), req.Email, req.FirstName, req.LastName)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, map[string]string{"sent_to": maskEmail(email)})
	}
	id, err := envelope.ParseID(req.EnvelopeID)
	if err != nil {
		return keyserver.ErrUnknownEnvelope
	}
	email, err := h.s.StartRegistration(c.Request().Context(), caller(c), id, req.FirstName, req.LastName)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"sent_to": maskEmail(email)})
}

func (h *handlers) registerVerify(c echo.Context) error {
	var req struct {
		EnvelopeID string `json:"envelope_id"`
		Email      string `json:"email"`
		Code       string `json:"code"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.EnvelopeID == "" && req.Email != "" {
		si, err := h.s.VerifySenderRegistration(c.Request().Context(), caller(c), req.Email, req.Code)
		if err != nil {
			return err
		}
		return h.signedInAnswer(c, si)
	}
	id, err := envelope.ParseID(req.EnvelopeID)
	if err != nil {
		return keyserver.ErrUnknownEnvelope
	}
	si, err := h.s.VerifyRegistration(c.Request().Context(), caller(c), id, req.Code)
	if err != nil {
		return err
	}
	return h.signedInAnswer(c, si)
}

func (h *handlers) signInPassword(c echo.Context) error {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	si, err := h.s.SignInPassword(c.Request().Context(), caller(c), req.Email, req.Password)
	if err != nil {
		return err
	}
	return h.signedInAnswer(c, si)
}

type emailRequest struct {
	Email string `json:"email"`
}

// codeStart answers a request to mail a code the same way whether or not the
// address has an account.
// codeStart answers with the sentence of catalog id message.
func (h *handlers) codeStart(start func(ctx context.Context, caller keyserver.Caller, email string) error, message string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req emailRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if err := start(c.Request().Context(), caller(c), req.Email); err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, map[string]string{"message": h.s.Locale(h.lang(c)).T(message)})
	}
}

func (h *handlers) signInCodeVerify(c echo.Context) error {
	var req struct {
		Email string `json:"email"`
		Code  string `json:"code"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	si, err := h.s.VerifySignInCode(c.Request().Context(), caller(c), req.Email, req.Code)
	if err != nil {
		return err
	}
	return h.signedInAnswer(c, si)
}

func (h *handlers) passwordReset(c echo.Context) error {
	var req struct {
		Email    string `json:"email"`
		Code     string `json:"code"`
		Password string `json:"password"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	si, err := h.s.ResetPassword(c.Request().Context(), caller(c), req.Email, req.Code, req.Password)
	if err != nil {
		return err
	}
	return h.signedInAnswer(c, si)
}

func (h *handlers) signOut(c echo.Context) error {
	if ck, err := c.Cookie(h.cookieName()); err == nil {
		if err := h.s.SignOut(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	h.clearCookie(c)
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) session(c echo.Context) error {
	who := caller(c)
	return c.JSON(http.StatusOK, map[string]any{"account": viewAccount(*who.Account, h.s.Now()), "setup": who.Session.Setup, "method": who.Session.Method})
}

func (h *handlers) setPassword(c echo.Context) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := h.s.SetPassword(c.Request().Context(), caller(c), req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) releaseKey(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	k, err := h.s.ReleaseKey(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"server_key": envelope.EncodeKey(k)})
}

// listSent answers the sender's sent items and, by envelope id, the replies
// to them (metadata only; envelopes without replies are not listed there).
func (h *handlers) listSent(c echo.Context) error {
	return h.sentPage(c)
}

// listEnvelopes answers GET /api/v1/admin/envelopes[?sender=A][&recipient=A]
// [&since=T][&until=T][&state=S][&subject=WORDS][&limit=N][&after=CURSOR].
func (h *handlers) listEnvelopes(c echo.Context) error {
	q := keyserver.EnvelopeSearch{EnvelopeQuery: keyserver.EnvelopeQuery{Sender: c.QueryParam("sender"), Recipient: c.QueryParam("recipient")},
		State: c.QueryParam("state"), Subject: c.QueryParam("subject")}
	for name, t := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := c.QueryParam(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return keyserver.ErrBadRequest.With("refusal.want_time", "Name", name)
			}
			*t = parsed
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return keyserver.ErrBadRequest.With("refusal.limit_number")
		}
		q.Limit = n
	}
	after, err := parseCursor(c.QueryParam("after"))
	if err != nil {
		return err
	}
	q.After = after
	recs, next, err := h.s.SearchEnvelopes(c.Request().Context(), caller(c), q)
	if err != nil {
		return err
	}
	now := h.s.Now()
	views := make([]api.EnvelopeView, len(recs))
	for i, r := range recs {
		views[i] = ViewEnvelope(r, now)
	}
	out := map[string]any{"envelopes": views}
	if next != nil {
		out["next"] = formatCursor(next)
	}
	return c.JSON(http.StatusOK, out)
}

// envelopeAction adapts a Service call on one envelope to a handler answering the
// envelope's view.
func (h *handlers) envelopeAction(act func(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		rec, err := act(c, caller(c), id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ViewEnvelope(rec, h.s.Now()))
	}
}

func (h *handlers) getEnvelope(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	return h.s.Envelope(c.Request().Context(), p, id)
}

func (h *handlers) revoke(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	return h.s.Revoke(c.Request().Context(), p, id)
}

func (h *handlers) unlock(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	return h.s.Unlock(c.Request().Context(), p, id)
}

func (h *handlers) expire(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	return h.s.Expire(c.Request().Context(), p, id)
}

func (h *handlers) lock(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := bindJSON(c, &req); err != nil {
		return keyserver.EnvelopeRecord{}, err
	}
	return h.s.Lock(c.Request().Context(), p, id, req.Reason)
}

func (h *handlers) setExpiry(c echo.Context, p keyserver.Caller, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	var req struct {
		Expires string `json:"expires"` // RFC 3339, or "" for never
	}
	if err := bindJSON(c, &req); err != nil {
		return keyserver.EnvelopeRecord{}, err
	}
	var t time.Time
	if req.Expires != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, req.Expires); err != nil {
			return keyserver.EnvelopeRecord{}, keyserver.ErrBadRequest.With("refusal.expires_time")
		}
	}
	return h.s.SetExpiry(c.Request().Context(), p, id, t)
}

// listAccounts answers GET /api/v1/admin/accounts[?q=WORDS][&role=R][&limit=N].
func (h *handlers) listAccounts(c echo.Context) error {
	q := keyserver.AccountSearch{Text: c.QueryParam("q"), Role: keyserver.Role(c.QueryParam("role"))}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return keyserver.ErrBadRequest.With("refusal.limit_number")
		}
		q.Limit = n
	}
	accs, err := h.s.SearchAccounts(c.Request().Context(), caller(c), q)
	if err != nil {
		return err
	}
	now := h.s.Now()
	views := make([]api.AccountView, len(accs))
	for i, a := range accs {
		views[i] = viewAccount(a, now)
	}
	return c.JSON(http.StatusOK, map[string]any{"accounts": views})
}

func (h *handlers) deleteAccount(c echo.Context) error {
	if err := h.s.DeleteAccount(c.Request().Context(), caller(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// backup streams a hot backup of the store (a bbolt file). Refusals come before
// the first byte; a failure after it truncates the response, which the client
// detects by opening the file (waxseal admin backup does).
func (h *handlers) backup(c echo.Context) error {
	ctx := c.Request().Context()
	if err := h.s.CanBackup(caller(c)); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/octet-stream")
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="waxseal.db"`)
	c.Response().WriteHeader(http.StatusOK)
	if _, err := h.s.Backup(ctx, caller(c), c.Response()); err != nil {
		h.s.Logger().ErrorContext(ctx, "backup", "err", err)
		panic(http.ErrAbortHandler) // cut the response short: never a truncated file that looks whole
	}
	return nil
}

// auditExport streams the audit log as JSON lines.
func (h *handlers) auditExport(c echo.Context) error {
	from := uint64(1)
	if v := c.QueryParam("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return keyserver.ErrBadRequest.With("refusal.from_record_one")
		}
		from = n
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/jsonl")
	c.Response().WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(c.Response())
	enc := json.NewEncoder(bw)
	err := h.s.Audit(c.Request().Context(), caller(c), from, func(r keyserver.AuditRecord) (bool, error) {
		return true, enc.Encode(r)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (h *handlers) auditVerify(c echo.Context) error {
	n, head, err := h.s.VerifyAuditLog(c.Request().Context(), caller(c))
	var refused *keyserver.Error
	if errors.As(err, &refused) {
		return err
	}
	if err != nil {
		// A broken chain is an answer, not a failure of the request.
		return c.JSON(http.StatusOK, map[string]any{"ok": false, "records": n, "error": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "records": n, "head": head})
}
