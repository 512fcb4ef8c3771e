// Package client talks to a waxseal key server over its HTTP API (docs/API.md). The
// gateway, the command line and tests use it; nothing reaches the key server any
// other way, even when both run in one process.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver/api"
)

// Client calls one key server with one bearer token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the key server at base (its origin) using token.
func New(base, token string, hc *http.Client) *Client {
	if hc == nil {
		// A gateway makes two requests a message from as many goroutines as it
		// processes messages at once: keep that many connections open, where the
		// default transport keeps two and dials (and closes) the rest each time.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc = &http.Client{Timeout: 60 * time.Second, Transport: t}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), token: token, http: hc}
}

// APIError is a refusal from the key server, with its stable code.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("key server: %s (%d %s)", e.Message, e.Status, e.Code)
}

// ErrOutOfStorage matches (errors.Is) the key server's refusal when its disk is
// full: nothing was stored, and trying again later may succeed.
var ErrOutOfStorage = errors.New("key server out of storage")

// Is makes errors.Is(err, ErrOutOfStorage) match that refusal.
func (e *APIError) Is(target error) bool {
	return target == ErrOutOfStorage && (e.Code == api.CodeOutOfStorage || e.Status == http.StatusInsufficientStorage)
}

// Temporary reports whether trying again later may succeed.
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	contentType := "application/json"
	var length int64 = -1
	var getBody func() (io.ReadCloser, error)
	switch in := in.(type) {
	case nil:
	case *multipartBody:
		body, contentType, length = in.reader(), in.contentType, in.n
		getBody = func() (io.ReadCloser, error) { return io.NopCloser(in.reader()), nil }
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if length >= 0 {
		req.ContentLength, req.GetBody = length, getBody
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() {
		// Read to the end, or the transport closes the connection instead of
		// keeping it for the next request: a dial and a TCP handshake per call.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode >= 300 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error, e.Message = "http", strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Code: e.Error, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Registration is one envelope to register.
type Registration struct {
	Envelope  *envelope.Envelope
	ServerKey envelope.Key
	// Submitter is who submitted the message to the gateway: the key server's
	// sender of the envelope (Sent items, receipts, revoke), whatever its From:
	// header says. "" lets the key server take the header From.
	Submitter string
	// Message names the message: the same for all its registrations
	// (api.Registration.Message). "" leaves them grouped by time and subject.
	Message string
	// Ciphertext, for "open online", is the message's ciphertext (the one the
	// envelope's HTML file carries). Registrations of one message share it:
	// RegisterEnvelopes uploads each distinct ciphertext once, and the key server
	// builds each envelope's online blob from it.
	Ciphertext []byte
	// Online is a whole online blob, sent inline as base64 (the API's older form,
	// a copy per envelope); Ciphertext is the better way. Ignored when
	// Ciphertext is set.
	Online []byte
	// ReplyContext is sealed to the reply key (server.ReplyContext): what the
	// gateway needs to address and thread a reply to this envelope.
	ReplyContext []byte
	// Attachments are the message's attachment names, for the sender's Sent
	// items (api.Registration.Attachments); nil unless the organisation
	// chose to send them.
	Attachments []string
}

// RegisterEnvelopes registers a batch in one call: all or none. The batch's
// ciphertexts travel in the same request, once each, ahead of the registrations
// (a multipart body): one round trip where an upload and then a registration
// would take two, which is most of what a sealed message waits for.
func (c *Client) RegisterEnvelopes(ctx context.Context, regs []Registration) error {
	var req api.RegisterRequest
	type ctKey struct {
		first *byte
		n     int
	}
	sums := map[ctKey]string{} // the same slice (usually) is hashed and sent once
	var uploads []upload
	for _, r := range regs {
		h := r.Envelope.Header
		j := api.Registration{ID: h.ID.String(), Sender: h.From, Submitter: r.Submitter, Message: r.Message, Recipient: h.To, Subject: h.Subject,
			Created: h.Created, Expires: h.Expires, ServerKey: envelope.EncodeKey(r.ServerKey), Size: h.Size, Attachments: r.Attachments}
		if len(r.ReplyContext) > 0 {
			j.ReplyContext = base64.StdEncoding.EncodeToString(r.ReplyContext)
		}
		switch {
		case len(r.Ciphertext) > 0:
			k := ctKey{&r.Ciphertext[0], len(r.Ciphertext)}
			sum, ok := sums[k]
			if !ok {
				s := sha256.Sum256(r.Ciphertext)
				sum = hex.EncodeToString(s[:])
				sums[k] = sum
				uploads = append(uploads, upload{sum, r.Ciphertext})
			}
			var head bytes.Buffer
			if err := r.Envelope.WriteOnline(&head, bytes.NewReader(nil)); err != nil {
				return fmt.Errorf("online head of %s: %w", h.ID, err)
			}
			j.OnlineHead, j.Ciphertext = base64.StdEncoding.EncodeToString(head.Bytes()), sum
		case r.Online != nil:
			j.Payload = base64.StdEncoding.EncodeToString(r.Online)
		}
		req.Envelopes = append(req.Envelopes, j)
	}
	if len(uploads) == 0 {
		return c.do(ctx, http.MethodPost, "/api/v1/envelopes", req, nil)
	}
	body, err := registrationBody(uploads, req)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/api/v1/envelopes", body, nil)
}

type upload struct {
	sum        string
	ciphertext []byte
}

// multipartBody is a request body made in advance, in pieces, with its length.
type multipartBody struct {
	parts       [][]byte
	n           int64
	contentType string
}

// reader reads the body from its start; the transport may ask for it again to
// retry a request on a kept connection that turns out closed.
func (b *multipartBody) reader() io.Reader {
	rs := make([]io.Reader, len(b.parts))
	for i, p := range b.parts {
		rs[i] = bytes.NewReader(p)
	}
	return io.MultiReader(rs...)
}

// registrationBody frames the uploads and the registrations as multipart/form-data
// without copying the ciphertexts: only the part headers are written out.
func registrationBody(uploads []upload, req any) (*multipartBody, error) {
	js, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var framing bytes.Buffer
	mw := multipart.NewWriter(&framing)
	body := &multipartBody{}
	add := func(b []byte) {
		body.parts = append(body.parts, b)
		body.n += int64(len(b))
	}
	// cut takes what the writer has framed so far.
	cut := func() {
		add(bytes.Clone(framing.Bytes()))
		framing.Reset()
	}
	for _, u := range uploads {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="ciphertext"; filename="`+u.sum+`"`)
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(len(u.ciphertext)))
		if _, err := mw.CreatePart(h); err != nil {
			return nil, err
		}
		cut()
		add(u.ciphertext)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="envelopes"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, err
	}
	pw.Write(js)
	if err := mw.Close(); err != nil {
		return nil, err
	}
	cut()
	body.contentType = mw.FormDataContentType()
	return body, nil
}

// Envelopes lists envelopes (administrators).
func (c *Client) Envelopes(ctx context.Context, q api.EnvelopeQuery) ([]api.EnvelopeView, error) {
	v := url.Values{}
	if q.Sender != "" {
		v.Set("sender", q.Sender)
	}
	if q.Recipient != "" {
		v.Set("recipient", q.Recipient)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339))
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Subject != "" {
		v.Set("subject", q.Subject)
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	// A filtered search answers in pages: follow them up to the limit.
	var all []api.EnvelopeView
	for {
		var out struct {
			Envelopes []api.EnvelopeView `json:"envelopes"`
			Next      string             `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/admin/envelopes?"+v.Encode(), nil, &out); err != nil {
			return all, err
		}
		all = append(all, out.Envelopes...)
		if q.Limit > 0 && len(all) >= q.Limit {
			return all[:q.Limit], nil
		}
		if out.Next == "" {
			return all, nil
		}
		v.Set("after", out.Next)
	}
}

// Envelope shows one envelope (administrators).
func (c *Client) Envelope(ctx context.Context, id string) (api.EnvelopeView, error) {
	var out api.EnvelopeView
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/envelopes/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Manage performs an administrative action on an envelope: revoke, lock (with a
// reason), unlock, expire, or expiry (with an RFC 3339 time, or "" for never).
func (c *Client) Manage(ctx context.Context, action, id, arg string) (api.EnvelopeView, error) {
	var body any = struct{}{}
	switch action {
	case "revoke", "unlock", "expire":
		body = nil
	case "lock":
		body = map[string]string{"reason": arg}
	case "expiry":
		body = map[string]string{"expires": arg}
	default:
		return api.EnvelopeView{}, fmt.Errorf("unknown action %q", action)
	}
	var out api.EnvelopeView
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/envelopes/"+url.PathEscape(id)+"/"+action, body, &out)
	return out, err
}

// Accounts lists accounts (administrators).
func (c *Client) Accounts(ctx context.Context) ([]api.AccountView, error) {
	var out struct {
		Accounts []api.AccountView `json:"accounts"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/accounts", nil, &out)
	return out.Accounts, err
}

// DeleteAccount removes an account (administrators).
func (c *Client) DeleteAccount(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/admin/accounts/"+url.PathEscape(id), nil, nil)
}

// ExportAudit writes the audit log, as JSON lines, to w.
func (c *Client) ExportAudit(ctx context.Context, w io.Writer) error {
	return c.do(ctx, http.MethodGet, "/api/v1/admin/audit", nil, w)
}

// Backup writes a hot backup of the key server's store (a bbolt file) to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	return c.do(ctx, http.MethodGet, "/api/v1/admin/backup", nil, w)
}

// AuditStatus is the key server's check of its own audit chain.
type AuditStatus struct {
	OK      bool   `json:"ok"`
	Records uint64 `json:"records"`
	Head    string `json:"head,omitempty"`
	Error   string `json:"error,omitempty"`
}

// VerifyAudit asks the key server to verify its audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (AuditStatus, error) {
	var st AuditStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/audit/verify", nil, &st)
	return st, err
}

// Invite is a one-time administrator enrolment link.
type Invite struct {
	Link    string    `json:"link"`
	Expires time.Time `json:"expires"`
}

// InviteAdmin asks for an enrolment link for a new administrator ("" lets the
// person give their own address when enrolling).
func (c *Client) InviteAdmin(ctx context.Context, email string) (Invite, error) {
	var out Invite
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/invites", map[string]string{"email": email}, &out)
	return out, err
}

// Bulk revokes or locks one page of envelopes (administrators); call again with
// Cursor set to the result's Next until it is empty.
func (c *Client) Bulk(ctx context.Context, req api.BulkRequest) (api.BulkResult, error) {
	var out api.BulkResult
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/envelopes/bulk", req, &out)
	return out, err
}

// AccountAction is an administrator's action on an account: "disable",
// "enable" or "end-sessions". It returns the answer as the server gave it.
func (c *Client) AccountAction(ctx context.Context, id, action string) (map[string]any, error) {
	switch action {
	case "disable", "enable", "end-sessions":
	default:
		return nil, fmt.Errorf("unknown account action %q", action)
	}
	var out map[string]any
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/accounts/"+url.PathEscape(id)+"/"+action, struct{}{}, &out)
	return out, err
}

// RemoveSignIn removes an account's password or passkeys ("password",
// "passkeys") and ends its sessions (administrators).
func (c *Client) RemoveSignIn(ctx context.Context, id, way string) (api.AccountView, error) {
	var out api.AccountView
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/accounts/"+url.PathEscape(id)+"/remove-signin", map[string]string{"way": way}, &out)
	return out, err
}

// Administrators lists the administrator accounts.
func (c *Client) Administrators(ctx context.Context) ([]api.AccountView, error) {
	var out struct {
		Administrators []api.AccountView `json:"administrators"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/administrators", nil, &out)
	return out.Administrators, err
}

// RemoveAdministrator takes an account's administrator rights away; never the
// last administrator's.
func (c *Client) RemoveAdministrator(ctx context.Context, id string) (api.AccountView, error) {
	var out api.AccountView
	err := c.do(ctx, http.MethodDelete, "/api/v1/admin/administrators/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Stats is the dashboard of the last days.
func (c *Client) Stats(ctx context.Context, days int) (api.Stats, error) {
	var out api.Stats
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/admin/stats?days=%d", days), nil, &out)
	return out, err
}

// AuditSearch returns one page of audit records; q holds the search's
// parameters (since, until, action, actor, envelope, account, limit, from).
func (c *Client) AuditSearch(ctx context.Context, q url.Values) (api.AuditPage, error) {
	var out api.AuditPage
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/audit/search?"+q.Encode(), nil, &out)
	return out, err
}
