package boltstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// Buckets. Records are JSON under their natural key; index buckets hold keys
// only (or a short value), so that a lookup or range scan decodes no record it
// does not return.
var (
	bucketMeta = []byte("meta") // keyVersion → LayoutVersion

	bucketEnvelopes = []byte("envelopes") // id → EnvelopeRecord
	bucketPayloads  = []byte("payloads")  // id → open-online blob, or its head (record.Ciphertext set)
	// Shared ciphertexts (ciphertexts.go), stored once for all the envelopes of a
	// message: sha256 → bucket {"data" → ciphertext}, and sha256 → ciphertextMeta (references and
	// upload time, kept apart so that counting a reference rewrites a few bytes,
	// not the ciphertext's pages).
	bucketCiphertexts    = []byte("ciphertexts")
	bucketCiphertextMeta = []byte("ciphertext_meta")
	// time(uploaded) sha256 → nothing, only while no envelope references it.
	bucketCiphertextOrphans = []byte("ciphertext_orphans")
	// day(created) addr(sender|recipient) time(created) id → nothing. Partitioned
	// by day so that a registration's entries land in the current day's few pages
	// instead of one page per address (docs/BENCHMARKS.md); a listing for an
	// address seeks it in each day, newest first (walkDays).
	bucketEnvBySender    = []byte("envelopes_by_sender_day")
	bucketEnvByRecipient = []byte("envelopes_by_recipient_day")
	bucketEnvByCreated   = []byte("envelopes_by_created") // time(created) id → nothing
	// time(expires) id → nothing, only while the envelope expires and its key
	// still exists: exactly the envelopes the sweeper has yet to visit.
	bucketEnvByExpiry = []byte("envelopes_by_expiry")

	bucketAccounts       = []byte("accounts")          // id → Account
	bucketAccountByEmail = []byte("accounts_by_email") // email → id
	bucketCodes          = []byte("codes")             // addr(email) purpose → Code
	bucketSessions       = []byte("sessions")          // token hash → Session
	bucketSessionsByAcct = []byte("sessions_by_account")
	bucketCredentials    = []byte("credentials") // credential id → account id
	bucketCeremonies     = []byte("ceremonies")  // id → Ceremony
	bucketInvites        = []byte("invites")     // token hash → Invite

	bucketOutbox    = []byte("outbox")     // seq(id) → OutboxMail; its sequence numbers mail
	bucketOutboxDue = []byte("outbox_due") // seq(id) → time(next attempt)

	bucketAudit = []byte("audit") // seq → AuditRecord

	bucketThreads        = []byte("threads")        // thread hash → time(expires)
	bucketThreadByExpiry = []byte("threads_expiry") // time(expires) thread hash → nil

	bucketReplies      = []byte("replies")          // id → StoredReply (replies.go)
	bucketRepliesDue   = []byte("replies_due")      // time(created) id → time(next attempt), pending only
	bucketRepliesByEnv = []byte("replies_envelope") // envelope id ‖ reply id → nil
)

var allBuckets = [][]byte{
	bucketMeta,
	bucketEnvelopes, bucketPayloads, bucketCiphertexts, bucketCiphertextMeta, bucketCiphertextOrphans,
	bucketEnvBySender, bucketEnvByRecipient, bucketEnvByCreated, bucketEnvByExpiry,
	bucketAccounts, bucketAccountByEmail, bucketCodes, bucketSessions, bucketSessionsByAcct,
	bucketCredentials, bucketCeremonies, bucketInvites,
	bucketOutbox, bucketOutboxDue,
	bucketAudit,
	bucketThreads, bucketThreadByExpiry,
	bucketReplies, bucketRepliesDue, bucketRepliesByEnv,
}

var keyVersion = []byte("version")

const (
	timeLen = 12
	dayLen  = 4
	idLen   = len(envelope.ID{})
)

// timeKey encodes t so that byte order is time order for every time.Time, zero
// included: biased Unix seconds then nanoseconds, big-endian.
func timeKey(t time.Time) []byte {
	k := make([]byte, timeLen)
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

// keyTime decodes timeKey (k's first timeLen bytes).
func keyTime(k []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(k)^(1<<63)), int64(binary.BigEndian.Uint32(k[8:])))
}

// dayOf numbers t's UTC day so that number order is day order: days since
// 1970, biased to be unsigned, and clamped to 32 bits (beyond ±5 million years
// the clamped days share a partition, still ordered within it by time).
func dayOf(t time.Time) uint32 {
	sec := t.Unix()
	d := sec / 86400
	if sec < 0 && sec%86400 != 0 {
		d-- // floor, not towards zero
	}
	d = max(min(d, math.MaxInt32), math.MinInt32)
	return uint32(int32(d)) ^ (1 << 31)
}

func dayKey(day uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, day)
}

// maxTimeKey sorts after every timeKey.
var maxTimeKey = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// maxAddrLen bounds the strings in keys (addresses, account ids), far above any
// real one and far below bbolt's key size limit.
const maxAddrLen = 1024

// addrKey is a length-prefixed string, so that a prefix scan for one address never
// matches a longer one that starts the same way.
func addrKey(s string) ([]byte, error) {
	if len(s) > maxAddrLen {
		return nil, fmt.Errorf("%.40q…: longer than %d bytes", s, maxAddrLen)
	}
	k := make([]byte, 2, 2+len(s))
	binary.BigEndian.PutUint16(k, uint16(len(s)))
	return append(k, s...), nil
}

func seqKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}

func join(parts ...[]byte) []byte {
	var k []byte
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}
