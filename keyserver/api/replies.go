package api

// Secure replies (docs/API.md "Reply API", FORMAT.md §13).

// Refusals of a reply.
const (
	CodeNotAReply           = "not_a_reply"
	CodeReplyTooLarge       = "reply_too_large"
	CodeBadReplyKind        = "bad_reply_kind"
	CodeForwardNotAllowed   = "forward_not_allowed"
	CodeReplyAllUnavailable = "reply_all_unavailable"
	CodeNoReplyCopy         = "no_reply_copy"
)

// LeasedReply is a pending reply leased to a gateway
// (POST /api/v1/replies/lease), with what the key server knows of the original.
type LeasedReply struct {
	ID        string `json:"id"`
	Lease     string `json:"lease"`
	Envelope  string `json:"envelope"`
	Kind      string `json:"kind"` // reply, all or forward
	ForwardTo string `json:"forward_to,omitempty"`
	// From and Name are the recipient's verified address and registered name.
	From string `json:"from"`
	Name string `json:"name,omitempty"`
	// OriginalSender is the original's sender; OriginalSubject its subject.
	OriginalSender  string `json:"original_sender"`
	OriginalSubject string `json:"original_subject"`
	// Context is the envelope's reply context, sealed by the gateway.
	Context []byte `json:"context,omitempty"`
	Sealed  []byte `json:"sealed"`
}

// ReplyView is a reply as its author's page, or the original's sender's sent
// items, see it: metadata only.
type ReplyView struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// From and Name are the replying recipient's verified address and
	// registered name.
	From      string `json:"from"`
	Name      string `json:"name,omitempty"`
	ForwardTo string `json:"forward_to,omitempty"`
	Created   string `json:"created"`
	Size      int    `json:"size"`
	State     string `json:"state"` // pending, delivered, failed
	Reason    string `json:"reason,omitempty"`
	// HasCopy: the recipient's page can show this reply
	// (GET /api/v1/envelopes/{id}/replies/{rid}/copy, FORMAT.md §13.5).
	HasCopy bool `json:"has_copy,omitempty"`
}
