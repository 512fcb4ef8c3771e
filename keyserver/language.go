package keyserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/locale"
)

// languageKey carries the language of the person in front of a request (the
// one their page speaks), for mail sent before they have an account.
type languageKey struct{}

// WithLanguage returns ctx carrying the request's language code.
func WithLanguage(ctx context.Context, code string) context.Context {
	return context.WithValue(ctx, languageKey{}, code)
}

// Locales are the message catalogs.
func (s *Service) Locales() *locale.Catalogs { return s.cfg.Locales }

// Locale returns the locale of code, or the organisation's default when code
// is not offered (or "").
func (s *Service) Locale(code string) *locale.Locale {
	if l := s.cfg.Locales.Get(s.cfg.Locales.Supported(code)); code != "" && l != nil {
		return l
	}
	return s.cfg.Locales.Get(s.cfg.DefaultLanguage)
}

// requestLanguage is the language of ctx's request, or "".
func requestLanguage(ctx context.Context) string {
	code, _ := ctx.Value(languageKey{}).(string)
	return code
}

// mailLocale chooses the language of mail to email: the account's saved
// language, else the language of the page that asked for it, else the
// organisation's default.
func (s *Service) mailLocale(ctx context.Context, email string) *locale.Locale {
	if a, err := s.store.AccountByEmail(ctx, email); err == nil && a.Language != "" {
		return s.Locale(a.Language)
	}
	return s.Locale(requestLanguage(ctx))
}

// SetLanguage saves the account's language (a code the catalogs offer).
func (s *Service) SetLanguage(ctx context.Context, accountID, code string) error {
	code = s.cfg.Locales.Supported(code)
	if code == "" {
		return ErrBadRequest
	}
	_, err := s.store.UpdateAccount(ctx, accountID, func(a *Account) ([]AuditEvent, error) {
		if a.Language == code {
			return nil, errUnchanged
		}
		a.Language = code
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set language: %w", err)
	}
	return nil
}

// MessageKey is the catalog key of the error's sentence ("error." and its
// code) when the sentence is its sentinel's own; "" when With gave it a
// particular one, which is shown as it is.
func (e *Error) MessageKey() string {
	if m, ok := sentinelMessages[e.Code]; ok && m == e.Message {
		return "error." + e.Code
	}
	return ""
}

// sentinelMessages are the sentences of the refusals in errors.go, by code.
var sentinelMessages = func() map[string]string {
	m := map[string]string{}
	for _, e := range []*Error{ErrUnknownEnvelope, ErrNotYours, ErrLocked, ErrRevoked, ErrExpired,
		ErrSignInRequired, ErrSetupRequired, ErrBadCredentials, ErrBadCode, ErrCodeExpired, ErrRateLimited,
		ErrAccountLocked, ErrAccountExpired, ErrAlreadyRegister, ErrWeakPassword, ErrBadRequest, ErrForbidden,
		ErrConflictKey, ErrOutOfStorage, ErrNotHeld, ErrPasskeysUnavailable, ErrCeremonyExpired, ErrPasskeyFailed,
		ErrPasskeyUnknown, ErrPasskeyCloned, ErrPasskeyExists, ErrNoSuchPasskey, ErrLastWayIn, ErrPasskeyRequired,
		ErrInviteInvalid} {
		m[e.Code] = e.Message
	}
	return m
}()

// SavedLanguages returns the saved language of each of addrs (as given) whose
// account has one the catalogs offer; the others are absent. For the gateway,
// which writes a recipient's wrapper mail and securedoc.html in it. At most
// api.MaxLanguageAddresses addresses; a malformed one is skipped (the
// registration refuses it on its own).
func (s *Service) SavedLanguages(ctx context.Context, caller Caller, addrs []string) (map[string]string, error) {
	if len(addrs) > api.MaxLanguageAddresses {
		return nil, ErrBadRequest.With("refusal.too_many_addresses", "Max", api.MaxLanguageAddresses)
	}
	out := make(map[string]string, len(addrs))
	for _, addr := range addrs {
		email, err := NormalizeAddress(addr)
		if err != nil {
			continue
		}
		a, err := s.store.AccountByEmail(ctx, email)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("saved language of %s: %w", email, err)
		}
		if code := s.cfg.Locales.Supported(a.Language); a.Language != "" && code != "" {
			out[addr] = code
		}
	}
	return out, nil
}
