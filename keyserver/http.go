package keyserver

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
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/envelope"
)

// CSRFHeader must accompany every cookie-authenticated state change. A custom header
// cannot be sent cross-origin without a CORS preflight, which this server never
// approves; the Origin check catches the rest.
const CSRFHeader = "X-Waxseal-CSRF"

// maxAPIBody bounds JSON bodies other than envelope registration.
const maxAPIBody = 64 << 10

// NewHandler returns the key server's HTTP API over s. Handlers only translate
// between HTTP and Service calls.
func NewHandler(s *Service) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if s.cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	h := &handlers{s: s, https: strings.HasPrefix(s.cfg.PublicURL, "https://")}
	e.HTTPErrorHandler = h.errorHandler
	e.Use(h.logRequests, h.securityHeaders)

	h.routePages(e)
	h.routeConsole(e)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", h.ready)
	e.GET("/metrics", h.metrics, h.adminOnly)

	api := e.Group("/api/v1", h.noStore)
	api.POST("/envelopes", h.registerEnvelopes, h.gatewayOnly)
	api.PUT("/ciphertexts/:sha256", h.putCiphertext, h.gatewayOnly) // ciphertexts.go
	api.GET("/envelopes/:id/payload", h.payload)
	h.routeOutbox(api)  // outbox_api.go
	h.routeThreads(api) // threads.go
	h.routeReplies(api) // http_replies.go

	web := api.Group("", h.csrf, h.bodyLimit(maxAPIBody))
	web.POST("/register/start", h.registerStart)
	web.POST("/register/verify", h.registerVerify)
	web.POST("/signin/password", h.signInPassword)
	web.POST("/signin/code", h.codeStart(s.StartSignInCode, "If this address has an account, a sign-in code is on its way."))
	web.POST("/signin/code/verify", h.signInCodeVerify)
	web.POST("/password/forgot", h.codeStart(s.StartPasswordReset, "If this address has an account, a reset code is on its way."))
	web.POST("/password/reset", h.passwordReset)
	web.POST("/signout", h.signOut)
	web.GET("/session", h.session, h.signedIn(true))
	web.POST("/account/password", h.setPassword, h.signedIn(true))
	web.POST("/envelopes/:id/key", h.releaseKey, h.signedIn(false))
	web.GET("/sent", h.listSent, h.signedIn(false))
	web.POST("/envelopes/:id/revoke", h.envelopeAction(h.revoke), h.signedIn(false))

	adm := api.Group("/admin", h.adminOnly, h.bodyLimit(maxAPIBody))
	adm.GET("/envelopes", h.listEnvelopes)
	adm.GET("/envelopes/:id", h.envelopeAction(h.getEnvelope))
	adm.POST("/envelopes/:id/revoke", h.envelopeAction(h.revoke))
	adm.POST("/envelopes/:id/lock", h.envelopeAction(h.lock))
	adm.POST("/envelopes/:id/unlock", h.envelopeAction(h.unlock))
	adm.POST("/envelopes/:id/expire", h.envelopeAction(h.expire))
	adm.POST("/envelopes/:id/expiry", h.envelopeAction(h.setExpiry))
	adm.GET("/accounts", h.listAccounts)
	adm.DELETE("/accounts/:id", h.deleteAccount)
	adm.GET("/audit", h.auditExport)
	adm.GET("/audit/verify", h.auditVerify)
	h.routePasskeys(web, adm)
	return e
}

type handlers struct {
	s     *Service
	https bool
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
		h.s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "http",
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
	if o := r.Header.Get("Origin"); o != "" && o != h.s.cfg.PublicURL {
		return ErrForbidden.with("Requests from %.100s are not accepted.", o)
	}
	if r.Header.Get(CSRFHeader) == "" {
		return ErrForbidden.with("Missing %s header.", CSRFHeader)
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
			return &Error{http.StatusUnauthorized, "bad_token", "A valid gateway token is required.", 0}
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
				return &Error{http.StatusUnauthorized, "bad_token", "A valid admin token is required.", 0}
			}
			c.Set("principal", Principal{Admin: true, IP: c.RealIP()})
			return next(c)
		}
		if _, err := c.Cookie(h.cookieName()); err != nil {
			return &Error{http.StatusUnauthorized, "bad_token", "A valid admin token, or an administrator signed in with a passkey, is required.", 0}
		}
		if err := h.checkCSRF(c.Request()); err != nil {
			return err
		}
		return h.signedIn(false)(func(c echo.Context) error {
			if err := h.s.requireAdmin(principal(c)); err != nil {
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
				return ErrSignInRequired
			}
			sess, acct, err := h.s.Authenticate(c.Request().Context(), ck.Value)
			if err != nil {
				if errors.Is(err, ErrSignInRequired) {
					h.clearCookie(c)
				}
				return err
			}
			if sess.Setup && !setupOK {
				return ErrSetupRequired
			}
			c.Set("session", sess)
			c.Set("principal", Principal{Account: acct, Passkey: sess.Method == "passkey", IP: c.RealIP(), Session: sess.TokenHash})
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
	var e *Error
	var he *echo.HTTPError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &mb):
		e = &Error{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The request is larger than %d bytes.", mb.Limit), 0}
	case errors.As(err, &he):
		e = &Error{he.Code, strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")), fmt.Sprint(he.Message), 0}
	case errors.Is(err, syscall.ENOSPC):
		h.s.metrics.storageFull.Add(1)
		h.s.log.ErrorContext(c.Request().Context(), "out of storage", "path", c.Path(), "err", err)
		e = ErrOutOfStorage
	default:
		h.s.log.ErrorContext(c.Request().Context(), "request failed", "path", c.Path(), "err", err)
		e = &Error{http.StatusInternalServerError, "internal", "Something went wrong on the server. Please try again later.", 0}
	}
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
	body := map[string]any{"error": e.Code, "message": e.Message}
	if e.RetryAfter > 0 {
		body["retry_after"] = int(e.RetryAfter.Seconds())
	}
	c.JSON(e.Status, body)
}

// --- helpers ---

func principal(c echo.Context) Principal {
	p, _ := c.Get("principal").(Principal)
	return p
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
		return ErrBadRequest.with("The request body is not the expected JSON: %v", err)
	}
	return nil
}

func pathID(c echo.Context) (envelope.ID, error) {
	id, err := envelope.ParseID(c.Param("id"))
	if err != nil {
		return id, ErrUnknownEnvelope
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

// AccountView is an account as the API shows it: no password hash or credentials.
type AccountView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Role      Role      `json:"role"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	Password  bool      `json:"password"`
	Passkeys  int       `json:"passkeys"`
	Locked    bool      `json:"locked,omitempty"`
}

func viewAccount(a Account, now time.Time) AccountView {
	return AccountView{ID: a.ID, Email: a.Email, FirstName: a.FirstName, LastName: a.LastName, Role: a.Role,
		Created: a.Created, LastUsed: a.LastUsed, Password: a.PasswordHash != "", Passkeys: len(a.Credentials),
		Locked: now.Before(a.LockedUntil)}
}

// EnvelopeView is an envelope as the API shows it: no key material.
type EnvelopeView struct {
	ID     string `json:"id"`
	Sender string `json:"sender"`
	// HeaderFrom is the message's From: header when it names someone else
	// than the sender who submitted it.
	HeaderFrom string    `json:"header_from,omitempty"`
	Recipient  string    `json:"recipient"`
	Subject    string    `json:"subject"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	State      string    `json:"state"` // active, locked, revoked, expired
	LockReason string    `json:"lock_reason,omitempty"`
	FirstOpen  time.Time `json:"first_open,omitzero"`
	Releases   int       `json:"releases"`
	Online     bool      `json:"online"`
}

// ViewEnvelope summarizes a record's state for people and scripts.
func ViewEnvelope(r EnvelopeRecord, now time.Time) EnvelopeView {
	state := "active"
	switch {
	case !r.Revoked.IsZero():
		state = "revoked"
	case !r.Expired.IsZero() || len(r.WrappedKey) == 0 || (!r.Expires.IsZero() && !now.Before(r.Expires)):
		state = "expired"
	case r.Locked:
		state = "locked"
	}
	return EnvelopeView{ID: r.ID.String(), Sender: r.Sender, HeaderFrom: r.HeaderFrom, Recipient: r.Recipient, Subject: r.Subject,
		Created: r.Created, Expires: r.Expires, State: state, LockReason: r.LockReason, FirstOpen: r.FirstOpen,
		Releases: r.Releases, Online: r.HasPayload}
}

func (h *handlers) signedInAnswer(c echo.Context, si *SignedIn) error {
	h.setCookie(c, si.Token)
	return c.JSON(http.StatusOK, map[string]any{"account": viewAccount(si.Account, h.s.now()), "setup": si.Setup, "method": si.Method})
}

// --- handlers ---

func (h *handlers) ready(c echo.Context) error {
	if _, err := h.s.store.OutboxDepth(c.Request().Context()); err != nil {
		return &Error{http.StatusServiceUnavailable, "not_ready", "The store is not available.", 0}
	}
	return c.String(http.StatusOK, "ready\n")
}

func (h *handlers) metrics(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	return h.s.WriteMetrics(c.Request().Context(), c.Response())
}

// RegistrationJSON is one envelope in a gateway's registration batch.
type RegistrationJSON struct {
	ID     string `json:"id"`
	Sender string `json:"sender"` // the message's From: header
	// Submitter is who submitted the message to the gateway (optional: older
	// gateways do not send it, and the header From is taken for it).
	Submitter string    `json:"submitter,omitempty"`
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	ServerKey string    `json:"server_key"`
	Payload   string    `json:"payload,omitempty"` // base64 of the whole online blob (deprecated: one copy per envelope)
	// Instead of Payload: the head of the online blob (base64) and the SHA-256 (hex)
	// of the message's ciphertext, uploaded once for all its envelopes
	// (ciphertexts.go).
	OnlineHead string `json:"online_head,omitempty"`
	Ciphertext string `json:"ciphertext,omitempty"`
	// ReplyContext (base64) is the original's Message-ID and visible people,
	// sealed by the gateway to the reply key (replies.go): opaque here.
	ReplyContext string `json:"reply_context,omitempty"`
}

// registerEnvelopes takes the registrations as JSON or, to upload the
// ciphertexts they reference in the same round trip, as multipart/form-data:
// "ciphertext" parts first (each named by its SHA-256 in the filename), then one
// "envelopes" part holding the JSON (docs/API.md).
func (h *handlers) registerEnvelopes(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, 64*h.s.cfg.MaxPayloadBytes)
	body := io.Reader(req.Body)
	if mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		var err error
		if body, err = h.uploadParts(c, multipart.NewReader(req.Body, params["boundary"])); err != nil {
			return err
		}
	}
	var reqJSON struct {
		Envelopes []RegistrationJSON `json:"envelopes"`
	}
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
			return nil, ErrBadRequest.with("The multipart body has no envelopes part.")
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, err
			}
			return nil, ErrBadRequest.with("The multipart body cannot be read: %v.", err)
		}
		switch part.FormName() {
		case "envelopes":
			return part, nil
		case "ciphertext":
			// A gateway's batch is one message, with one ciphertext; a few
			// more are allowed, not a request's worth of memory.
			if uploads++; uploads > maxUploadsPerRequest {
				return nil, ErrBadRequest.with("More than %d ciphertext parts.", maxUploadsPerRequest)
			}
			sum, err := parseSum(part.FileName())
			if err != nil {
				return nil, ErrBadRequest.with("Ciphertext part: %v.", err)
			}
			// A size the part announces sizes the buffer, so it must hold: no more
			// than the request carries, and exactly what the part holds
			// (PutCiphertext checks), or a short request could reserve the limit.
			size := int64(-1)
			if v := part.Header.Get("Content-Length"); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 || c.Request().ContentLength >= 0 && n > c.Request().ContentLength {
					return nil, ErrBadRequest.with("Ciphertext part: Content-Length %.40q is not its size.", v)
				}
				size = n
			}
			if err := h.s.PutCiphertext(c.Request().Context(), sum, part, size, c.RealIP()); err != nil {
				return nil, err
			}
		default:
			return nil, ErrBadRequest.with("Unexpected multipart part %.40q.", part.FormName())
		}
	}
}

func (h *handlers) register(c echo.Context, envelopes []RegistrationJSON) error {
	regs := make([]Registration, len(envelopes))
	for i, r := range envelopes {
		id, err := envelope.ParseID(r.ID)
		if err != nil {
			return ErrBadRequest.with("Envelope %d: %v.", i, err)
		}
		k, err := envelope.ParseKey(r.ServerKey)
		if err != nil {
			return ErrBadRequest.with("Envelope %s: server key: %v.", r.ID, err)
		}
		payload, err := base64.StdEncoding.DecodeString(r.Payload)
		if err != nil {
			return ErrBadRequest.with("Envelope %s: payload is not base64.", r.ID)
		}
		regs[i] = Registration{ID: id, Sender: r.Sender, Submitter: r.Submitter, Recipient: r.Recipient, Subject: r.Subject,
			Created: r.Created, Expires: r.Expires, ServerKey: k, Payload: payload}
		if regs[i].ReplyContext, err = base64.StdEncoding.DecodeString(r.ReplyContext); err != nil || len(regs[i].ReplyContext) > maxReplyContext {
			return ErrBadRequest.with("Envelope %s: reply_context is not base64 of at most %d bytes.", r.ID, maxReplyContext)
		}
		if r.Ciphertext != "" || r.OnlineHead != "" {
			if len(payload) > 0 {
				return ErrBadRequest.with("Envelope %s: payload, or online_head with ciphertext, not both.", r.ID)
			}
			sum, err := parseSum(r.Ciphertext)
			if err != nil {
				return ErrBadRequest.with("Envelope %s: ciphertext: %v.", r.ID, err)
			}
			head, err := base64.StdEncoding.DecodeString(r.OnlineHead)
			if err != nil {
				return ErrBadRequest.with("Envelope %s: online_head is not base64.", r.ID)
			}
			regs[i].Payload, regs[i].Ciphertext = head, sum[:]
		}
	}
	if err := h.s.RegisterEnvelopes(c.Request().Context(), regs, c.RealIP()); err != nil {
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
		email, err := h.s.StartSenderRegistration(c.Request().Context(), req.Email, req.FirstName, req.LastName, c.RealIP())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, map[string]string{"sent_to": maskEmail(email)})
	}
	id, err := envelope.ParseID(req.EnvelopeID)
	if err != nil {
		return ErrUnknownEnvelope
	}
	email, err := h.s.StartRegistration(c.Request().Context(), id, req.FirstName, req.LastName, c.RealIP())
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
		si, err := h.s.VerifySenderRegistration(c.Request().Context(), req.Email, req.Code, c.RealIP())
		if err != nil {
			return err
		}
		return h.signedInAnswer(c, si)
	}
	id, err := envelope.ParseID(req.EnvelopeID)
	if err != nil {
		return ErrUnknownEnvelope
	}
	si, err := h.s.VerifyRegistration(c.Request().Context(), id, req.Code, c.RealIP())
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
	si, err := h.s.SignInPassword(c.Request().Context(), req.Email, req.Password, c.RealIP())
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
func (h *handlers) codeStart(start func(ctx context.Context, email, ip string) error, message string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req emailRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if err := start(c.Request().Context(), req.Email, c.RealIP()); err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, map[string]string{"message": message})
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
	si, err := h.s.VerifySignInCode(c.Request().Context(), req.Email, req.Code, c.RealIP())
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
	si, err := h.s.ResetPassword(c.Request().Context(), req.Email, req.Code, req.Password, c.RealIP())
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
	sess := c.Get("session").(*Session)
	return c.JSON(http.StatusOK, map[string]any{"account": viewAccount(*principal(c).Account, h.s.now()), "setup": sess.Setup, "method": sess.Method})
}

func (h *handlers) setPassword(c echo.Context) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := h.s.SetPassword(c.Request().Context(), c.Get("session").(*Session), req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) releaseKey(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	k, err := h.s.ReleaseKey(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"server_key": envelope.EncodeKey(k)})
}

func (h *handlers) listSent(c echo.Context) error {
	recs, err := h.s.SentEnvelopes(c.Request().Context(), principal(c), 500)
	if err != nil {
		return err
	}
	return h.envelopeList(c, recs)
}

func (h *handlers) envelopeList(c echo.Context, recs []EnvelopeRecord) error {
	now := h.s.now()
	views := make([]EnvelopeView, len(recs))
	for i, r := range recs {
		views[i] = ViewEnvelope(r, now)
	}
	return c.JSON(http.StatusOK, map[string]any{"envelopes": views})
}

func (h *handlers) listEnvelopes(c echo.Context) error {
	q := EnvelopeQuery{Sender: c.QueryParam("sender"), Recipient: c.QueryParam("recipient")}
	for name, t := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := c.QueryParam(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return ErrBadRequest.with("%s: want an RFC 3339 time.", name)
			}
			*t = parsed
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return ErrBadRequest.with("limit: want a number.")
		}
		q.Limit = n
	}
	recs, err := h.s.ListEnvelopes(c.Request().Context(), principal(c), q)
	if err != nil {
		return err
	}
	return h.envelopeList(c, recs)
}

// envelopeAction adapts a Service call on one envelope to a handler answering the
// envelope's view.
func (h *handlers) envelopeAction(act func(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		rec, err := act(c, principal(c), id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ViewEnvelope(rec, h.s.now()))
	}
}

func (h *handlers) getEnvelope(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error) {
	return h.s.Envelope(c.Request().Context(), p, id)
}

func (h *handlers) revoke(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error) {
	return h.s.Revoke(c.Request().Context(), p, id)
}

func (h *handlers) unlock(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error) {
	return h.s.Unlock(c.Request().Context(), p, id)
}

func (h *handlers) expire(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error) {
	return h.s.Expire(c.Request().Context(), p, id)
}

func (h *handlers) lock(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := bindJSON(c, &req); err != nil {
		return EnvelopeRecord{}, err
	}
	return h.s.Lock(c.Request().Context(), p, id, req.Reason)
}

func (h *handlers) setExpiry(c echo.Context, p Principal, id envelope.ID) (EnvelopeRecord, error) {
	var req struct {
		Expires string `json:"expires"` // RFC 3339, or "" for never
	}
	if err := bindJSON(c, &req); err != nil {
		return EnvelopeRecord{}, err
	}
	var t time.Time
	if req.Expires != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, req.Expires); err != nil {
			return EnvelopeRecord{}, ErrBadRequest.with("expires: want an RFC 3339 time, or empty for never.")
		}
	}
	return h.s.SetExpiry(c.Request().Context(), p, id, t)
}

func (h *handlers) listAccounts(c echo.Context) error {
	accs, err := h.s.ListAccounts(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	now := h.s.now()
	views := make([]AccountView, len(accs))
	for i, a := range accs {
		views[i] = viewAccount(a, now)
	}
	return c.JSON(http.StatusOK, map[string]any{"accounts": views})
}

func (h *handlers) deleteAccount(c echo.Context) error {
	if err := h.s.DeleteAccount(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// auditExport streams the audit log as JSON lines.
func (h *handlers) auditExport(c echo.Context) error {
	from := uint64(1)
	if v := c.QueryParam("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return ErrBadRequest.with("from: want a record number from 1.")
		}
		from = n
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/jsonl")
	c.Response().WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(c.Response())
	enc := json.NewEncoder(bw)
	err := h.s.Audit(c.Request().Context(), principal(c), from, func(r AuditRecord) (bool, error) {
		return true, enc.Encode(r)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (h *handlers) auditVerify(c echo.Context) error {
	n, head, err := VerifyAudit(c.Request().Context(), h.s.store)
	if err != nil {
		// A broken chain is an answer, not a failure of the request.
		return c.JSON(http.StatusOK, map[string]any{"ok": false, "records": n, "error": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "records": n, "head": head})
}
