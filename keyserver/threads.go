package keyserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// Secure threads: the gateways tell the key server the Message-IDs of every
// message they sealed, and ask whether a message answers one of them (its
// In-Reply-To and References), to seal that reply too (DESIGN.md, "Sticky
// threads"). The key server keeps only keyed hashes of the ids, so neither its
// database nor a copy of it lists conversations; and it is shared by every
// gateway, so scaling the gateway out loses nothing.

// Thread API limits.
const (
	MaxThreadIDs     = api.MaxThreadIDs // ids per call: a message's own, or its References (bounded)
	maxThreadIDLen   = 998              // one header line
	DefaultThreadTTL = 400 * 24 * time.Hour
	minThreadTTL     = 24 * time.Hour
	maxThreadTTL     = 10 * 366 * 24 * time.Hour
)

// normalizeMessageID reduces a Message-ID to the form compared: without the
// angle brackets and surrounding blanks. Ids are compared exactly otherwise
// (RFC 5322 leaves their case to the writer).
func normalizeMessageID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	return strings.TrimSpace(id)
}

func (s *Service) threadHashes(ids []string) ([][]byte, error) {
	if len(ids) > MaxThreadIDs {
		return nil, ErrBadRequest.With("refusal.thread_ids_many", "Max", MaxThreadIDs)
	}
	key := s.keys.threads
	var out [][]byte
	for _, id := range ids {
		id = normalizeMessageID(id)
		if id == "" {
			continue
		}
		if len(id) > maxThreadIDLen {
			return nil, ErrBadRequest.With("refusal.thread_id_long", "Max", maxThreadIDLen)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		out = append(out, m.Sum(nil))
	}
	return out, nil
}

// RememberThread records the Message-IDs of a sealed message for ttl (0: the
// default, 400 days; bounded to between a day and ten years).
func (s *Service) RememberThread(ctx context.Context, caller Caller, ids []string, ttl time.Duration) error {
	hs, err := s.threadHashes(ids)
	if err != nil || len(hs) == 0 {
		return err
	}
	if ttl <= 0 {
		ttl = DefaultThreadTTL
	}
	ttl = min(max(ttl, minThreadTTL), maxThreadTTL)
	if err := s.store.PutThreadHashes(ctx, hs, s.now().Add(ttl)); err != nil {
		return fmt.Errorf("remember thread: %w", err)
	}
	return nil
}

// ThreadSealed reports whether any of ids is the Message-ID of a sealed
// message still remembered.
func (s *Service) ThreadSealed(ctx context.Context, caller Caller, ids []string) (bool, error) {
	hs, err := s.threadHashes(ids)
	if err != nil || len(hs) == 0 {
		return false, err
	}
	ok, err := s.store.ThreadHashKnown(ctx, hs, s.now())
	if err != nil {
		return false, fmt.Errorf("thread lookup: %w", err)
	}
	return ok, nil
}

// sweepThreads forgets thread ids past their retention.
func (s *Service) sweepThreads(ctx context.Context, now time.Time) error {
	if _, err := s.store.DeleteThreadHashesBefore(ctx, now); err != nil {
		return fmt.Errorf("sweep threads: %w", err)
	}
	return nil
}
