package keyserver

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// RateLimit allows Burst events at once and then one every Every; a zero Burst
// or Every is no limit.
type RateLimit struct {
	Burst int
	Every time.Duration
}

// limiter is one kind of rate limit (per address, per client, per account):
// token buckets kept in the store (LimitStore), one per key, so that every key
// server node on one database counts against the same buckets.
type limiter struct {
	name  string // keeps the kinds' keys apart in the store
	rate  RateLimit
	store LimitStore
	now   func() time.Time
}

func newLimiter(name string, r RateLimit, store LimitStore, now func() time.Time) *limiter {
	return &limiter{name: name, rate: r, store: store, now: now}
}

// key is the bucket's key in the store. The unit separator keeps a kind's keys
// apart from another's (addresses and client prefixes never hold one).
func (l *limiter) key(k string) string { return l.name + "\x1f" + k }

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l.rate.Burst <= 0 || l.rate.Every <= 0 {
		return true, 0, nil
	}
	ok, wait, err := l.store.TakeToken(ctx, l.key(key), l.rate, l.now())
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if ok {
		return true, 0, nil
	}
	return false, wait.Round(time.Second) + time.Second, nil
}

// available says whether key has a token left, without taking it.
func (l *limiter) available(ctx context.Context, key string) (bool, error) {
	if l.rate.Burst <= 0 || l.rate.Every <= 0 {
		return true, nil
	}
	ok, err := l.store.TokenAvailable(ctx, l.key(key), l.rate, l.now())
	if err != nil {
		return false, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	return ok, nil
}

// clientPrefix is the network a client address belongs to for limits one party
// must not be able to dodge by changing addresses: the /24 of an IPv4 address, the
// /64 of an IPv6 one (what one subscriber usually holds). Anything that is not an
// address is its own key.
func clientPrefix(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p.String()
}
