package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// PutCeremony stores a WebAuthn ceremony in progress.
func (s *Store) PutCeremony(ctx context.Context, c keyserver.Ceremony) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if c.ID == "" || len(c.ID) > maxAddrLen {
			return refusal{errors.New("put ceremony: no id")}
		}
		if err := put(tx.Bucket(bucketCeremonies), []byte(c.ID), c); err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		}
		return nil
	})
}

// TakeCeremony removes and returns a ceremony that has not expired.
func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) (keyserver.Ceremony, error) {
	var out keyserver.Ceremony
	err := s.write(ctx, func(tx *bolt.Tx) error {
		out = keyserver.Ceremony{}
		return takeUnexpired(tx.Bucket(bucketCeremonies), []byte(id), now, &out, func(c *keyserver.Ceremony) time.Time { return c.Expires })
	})
	if err != nil {
		return keyserver.Ceremony{}, fmt.Errorf("take ceremony: %w", err)
	}
	return out, nil
}

// PutInvite stores an administrator invite with its audit events.
func (s *Store) PutInvite(ctx context.Context, inv keyserver.Invite, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if len(inv.TokenHash) == 0 {
			return refusal{errors.New("put invite: no token hash")}
		}
		if err := errors.Join(put(tx.Bucket(bucketInvites), inv.TokenHash, inv), s.appendAudit(tx, events)); err != nil {
			return fmt.Errorf("put invite: %w", err)
		}
		return nil
	})
}

// Invite returns an unexpired invite without using it.
func (s *Store) Invite(ctx context.Context, tokenHash []byte, now time.Time) (keyserver.Invite, error) {
	var inv keyserver.Invite
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := get(tx.Bucket(bucketInvites), tokenHash, &inv)
		switch {
		case err != nil:
			return err
		case !found || !now.Before(inv.Expires):
			return keyserver.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return keyserver.Invite{}, fmt.Errorf("invite: %w", err)
	}
	return inv, nil
}

// TakeInvite removes and returns an unexpired invite.
func (s *Store) TakeInvite(ctx context.Context, tokenHash []byte, now time.Time) (keyserver.Invite, error) {
	var out keyserver.Invite
	err := s.write(ctx, func(tx *bolt.Tx) error {
		out = keyserver.Invite{}
		return takeUnexpired(tx.Bucket(bucketInvites), tokenHash, now, &out, func(i *keyserver.Invite) time.Time { return i.Expires })
	})
	if err != nil {
		return keyserver.Invite{}, fmt.Errorf("take invite: %w", err)
	}
	return out, nil
}

// unexpiredInvite is a refusal wrapping ErrNotFound unless the invite with this
// token hash is there and unexpired at now; it writes nothing.
func unexpiredInvite(tx *bolt.Tx, tokenHash []byte, now time.Time) error {
	var inv keyserver.Invite
	if len(tokenHash) == 0 {
		return refusal{keyserver.ErrNotFound}
	}
	found, err := get(tx.Bucket(bucketInvites), tokenHash, &inv)
	switch {
	case err != nil:
		return err
	case !found || !now.Before(inv.Expires):
		return refusal{keyserver.ErrNotFound}
	}
	return nil
}

// takeUnexpired deletes the record under key and decodes it into v; a missing or
// expired record is a refusal wrapping ErrNotFound (an expired one is left for
// the sweep: a refusal writes nothing).
func takeUnexpired[T any](b *bolt.Bucket, key []byte, now time.Time, v *T, expires func(*T) time.Time) error {
	if len(key) == 0 {
		return refusal{keyserver.ErrNotFound}
	}
	found, err := get(b, key, v)
	switch {
	case err != nil:
		return err
	case !found || !now.Before(expires(v)):
		*v = *new(T)
		return refusal{keyserver.ErrNotFound}
	}
	return b.Delete(key)
}

// deleteExpired removes the records of b that expired before t.
func deleteExpired[T any](b *bolt.Bucket, t time.Time, expires func(*T) time.Time) error {
	var gone [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var rec T
		if err := decode(k, v, &rec); err != nil {
			return err
		}
		if expires(&rec).Before(t) {
			gone = append(gone, bytes.Clone(k))
		}
		return nil
	})
	for i := 0; err == nil && i < len(gone); i++ {
		err = b.Delete(gone[i])
	}
	return err
}
