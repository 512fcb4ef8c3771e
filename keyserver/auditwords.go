package keyserver

import (
	"regexp"
	"strconv"

	"github.com/waxseal/waxseal/locale"
)

// Audit records are written in English and never change once chained (the
// hash covers them), so the console says them in its reader's language when
// it shows them: each action by its name, and each detail that is one of the
// phrases the key server writes. Anything else (a lock reason someone typed,
// a passkey's name, a next hop's reply) is shown as it was written.

// AuditSaid is an audit record in the reader's words; either may be "" when
// there is nothing to say beyond the record itself.
type AuditSaid struct {
	Action string `json:"action,omitempty"`
	Detail string `json:"detail,omitempty"`
}

var auditActionNames = map[AuditAction]string{
	ActionEnvelopeRegister:      "audit.envelope_register",
	ActionEnvelopeRevoke:        "audit.envelope_revoke",
	ActionEnvelopeLock:          "audit.envelope_lock",
	ActionEnvelopeUnlock:        "audit.envelope_unlock",
	ActionEnvelopeSetExpiry:     "audit.envelope_set_expiry",
	ActionEnvelopeExpire:        "audit.envelope_expire",
	ActionEnvelopeDelivery:      "audit.envelope_delivery",
	ActionKeyRelease:            "audit.key_release",
	ActionKeyDeny:               "audit.key_deny",
	ActionSignIn:                "audit.signin",
	ActionSignInFail:            "audit.signin_fail",
	ActionCodeFail:              "audit.code_fail",
	ActionAccountRegister:       "audit.account_register",
	ActionAccountPasswordSet:    "audit.account_password_set",
	ActionAccountPasswordReset:  "audit.account_password_reset",
	ActionAccountPasswordRemove: "audit.account_password_remove",
	ActionAccountDelete:         "audit.account_delete",
	ActionAccountExpire:         "audit.account_expire",
	ActionAccountSessionsEnd:    "audit.account_sessions_end",
	ActionAccountDisable:        "audit.account_disable",
	ActionAccountEnable:         "audit.account_enable",
	ActionPasskeyAdd:            "audit.passkey_add",
	ActionPasskeyRename:         "audit.passkey_rename",
	ActionPasskeyRemove:         "audit.passkey_remove",
	ActionAdminInvite:           "audit.admin_invite",
	ActionAdminEnrol:            "audit.admin_enrol",
	ActionAdminSignIn:           "audit.admin_signin",
	ActionAdminRemove:           "audit.admin_remove",
	ActionStoreBackup:           "audit.store_backup",
	ActionReplyStore:            "audit.reply_store",
	ActionReplyDeny:             "audit.reply_deny",
	ActionReplyDeliver:          "audit.reply_deliver",
	ActionReplyFail:             "audit.reply_fail",
	ActionReplyDrop:             "audit.reply_drop",
}

// auditWords are details written as fixed words (sign-in ways, reasons,
// states), by action. Phrases are looked up only under the action that
// writes them, so that words someone typed (a lock reason) are never taken
// for one.
var auditWords = map[AuditAction]map[string]string{
	ActionSignIn: {
		string(SignInPassword): "audit.d_by_password", string(SignInCode): "audit.d_by_code",
		string(SignInPasskey): "audit.d_by_passkey", string(SignInPasswordReset): "audit.d_by_password_reset",
		string(SignInRegister): "audit.d_by_registering",
	},
	ActionAdminSignIn: {string(SignInPasskey): "audit.d_by_passkey"},
	ActionCodeFail: {
		string(CodeRegister): "audit.d_code_register", string(CodeSignIn): "audit.d_code_signin", string(CodeReset): "audit.d_code_reset",
	},
	ActionSignInFail: {
		"unknown address": "audit.d_unknown_address", "no password": "audit.d_no_password",
		"bad password": "audit.d_bad_password", "locked": "audit.d_locked_out", "locked for this client": "audit.d_locked_out_client",
	},
	ActionKeyDeny:               deniedWords,
	ActionReplyDeny:             deniedWords,
	ActionReplyDeliver:          replyKindWords,
	ActionEnvelopeDelivery:      deliveryWords,
	ActionEnvelopeRevoke:        {"bulk": "audit.d_bulk"},
	ActionEnvelopeExpire:        {"expiry reached": "audit.d_expiry_reached"},
	ActionAccountPasswordRemove: {"by an administrator": "audit.d_by_admin"},
}

// auditPhrases are details written from a pattern, by action; the message's
// slots are the pattern's groups, in order.
var auditPhrases = map[AuditAction][]struct {
	re   *regexp.Regexp
	id   string
	args []string
}{
	ActionEnvelopeRegister:   {{regexp.MustCompile(`^sender (\S+) recipient (\S+)$`), "audit.d_sender_recipient", []string{"Sender", "Recipient"}}},
	ActionAccountSessionsEnd: {{regexp.MustCompile(`^(\d+) sessions$`), "audit.d_sessions", []string{"Count"}}},
	ActionPasskeyRemove:      {{regexp.MustCompile(`^(\d+) passkeys, by an administrator$`), "audit.d_passkeys_by_admin", []string{"Count"}}},
	ActionAccountExpire:      {{regexp.MustCompile(`^unused since (\d{4}-\d{2}-\d{2})$`), "audit.d_unused_since", []string{"Date"}}},
	ActionStoreBackup:        {{regexp.MustCompile(`^(\d+) bytes$`), "audit.d_bytes", []string{"Count"}}},
	ActionEnvelopeExpire:     {{regexp.MustCompile(`^expiry reached; swept by hand by (.+)$`), "audit.d_swept_by", []string{"Who"}}},
	ActionEnvelopeDelivery:   {{regexp.MustCompile(`^(delivered|queued|refused): (.+)$`), "audit.d_delivery_why", []string{"State", "Why"}}},
	ActionReplyDeny: {
		{regexp.MustCompile(`^copy: ([a-z_]+)$`), "audit.d_copy_denied", []string{"Denied"}},
		{regexp.MustCompile(`^forward_not_allowed, to (\S+)$`), "audit.d_forward_not_allowed", []string{"To"}},
	},
	ActionReplyStore: {
		{regexp.MustCompile(`^(reply|all|forward), (\d+) bytes$`), "audit.d_reply_size", []string{"Kind", "Count"}},
		{regexp.MustCompile(`^(reply|all|forward), (\d+) bytes, to (\S+)$`), "audit.d_reply_size_to", []string{"Kind", "Count", "To"}},
	},
	ActionReplyDrop: {{regexp.MustCompile(`^(\d+) replies, envelope (revoked|expired|gone)$`), "audit.d_replies_dropped", []string{"Count", "Denied"}}},
}

// deliveryWords name a delivery's state.
var deliveryWords = map[string]string{
	DeliveryDelivered: "audit.d_delivered", DeliveryQueued: "audit.d_queued", DeliveryRefused: "audit.d_refused",
}

// deniedWords say why a key or a reply was refused (the API's codes), or why
// replies were dropped.
var deniedWords = map[string]string{
	"revoked": "audit.d_denied_revoked", "expired": "audit.d_denied_expired",
	"locked": "audit.d_denied_locked", "not_yours": "audit.d_denied_not_yours",
	"gone": "audit.d_denied_gone",
}

// replyKindWords name a secure reply's kind.
var replyKindWords = map[string]string{
	ReplyKindReply: "audit.d_kind_reply", ReplyKindAll: "audit.d_kind_all", ReplyKindForward: "audit.d_kind_forward",
}

// SayAudit says ev's action and detail in l, where it knows how.
func SayAudit(l *locale.Locale, ev AuditEvent) AuditSaid {
	var out AuditSaid
	if id, ok := auditActionNames[ev.Action]; ok {
		out.Action = l.T(id)
	}
	out.Detail = sayAuditDetail(l, ev)
	return out
}

// phraseArgWords are the catalog ids of the values a phrase's named argument
// takes, where they are words to translate rather than text to quote.
var phraseArgWords = map[string]map[string]string{"State": deliveryWords, "Denied": deniedWords, "Kind": replyKindWords}

func sayAuditDetail(l *locale.Locale, ev AuditEvent) string {
	if ev.Detail == "" {
		return ""
	}
	if id, ok := auditWords[ev.Action][ev.Detail]; ok {
		return l.T(id)
	}
	for _, p := range auditPhrases[ev.Action] {
		m := p.re.FindStringSubmatch(ev.Detail)
		if m == nil {
			continue
		}
		args := make([]any, 0, 2*len(p.args))
		for i, name := range p.args {
			var v any = m[i+1]
			words := phraseArgWords[name]
			switch {
			case name == "Count":
				v, _ = strconv.Atoi(m[i+1])
			case words[m[i+1]] != "":
				v = l.T(words[m[i+1]])
			}
			args = append(args, name, v)
		}
		return l.T(p.id, args...)
	}
	return ""
}
