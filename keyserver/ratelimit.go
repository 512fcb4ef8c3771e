package keyserver

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// RateLimit allows Burst events at once and then one every Every.
type RateLimit struct {
	Burst int
	Every time.Duration
}

// limiter is a set of token buckets, one per key (an address, an account, a client
// IP). It is in memory: limits reset on restart, which is acceptable because lockout
// after repeated failures is stored with the account.
type limiter struct {
	rate RateLimit
	now  func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r RateLimit, now func() time.Time) *limiter {
	return &limiter{rate: r, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.rate.Burst <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.forgetIdle(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.rate.Burst), b.tokens+float64(now.Sub(b.last))/float64(l.rate.Every))
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.rate.Every))
	return false, wait.Round(time.Second) + time.Second
}

// available says whether key has a token left, without taking it.
func (l *limiter) available(key string) bool {
	if l.rate.Burst <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true
	}
	now := l.now()
	return math.Min(float64(l.rate.Burst), b.tokens+float64(now.Sub(b.last))/float64(l.rate.Every)) >= 1
}

// forgetIdle drops full buckets now and then, so the map does not grow without bound.
func (l *limiter) forgetIdle(now time.Time) {
	if now.Sub(l.sweep) < time.Minute {
		return
	}
	l.sweep = now
	full := time.Duration(l.rate.Burst) * l.rate.Every
	for k, b := range l.buckets {
		if now.Sub(b.last) > full {
			delete(l.buckets, k)
		}
	}
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
