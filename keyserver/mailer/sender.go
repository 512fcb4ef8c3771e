// Package mailer delivers the mail that the key server queues in its durable outbox
// (keyserver.Store's EnqueueMail): a Sender puts one message on its way, and a
// Drainer moves mail from the outbox to a Sender, retrying with backoff and giving
// up only on a permanent refusal or after a deadline.
//
// Messages carry sign-in codes, so nothing here logs a message body.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Sender hands one message to the next hop. A nil error means the message was
// accepted and may be forgotten; an error wrapping *PermanentError means retrying
// the same message can never succeed; any other error is worth retrying.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// PermanentError marks a failure that retrying will not cure: a 5xx reply to the
// message, or a message that is malformed. Other Sender implementations (test fakes
// among them) return it so that the Drainer gives the mail up.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err, or any error it wraps, is a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// UncertainError marks a message whose data was sent in full, end-of-data mark
// included, but whose reply never came (the final-reply timeout, a dropped
// connection): the next hop may have taken it. Sending it again may deliver it
// twice; whoever retries it must first record that it is possibly delivered.
type UncertainError struct {
	Err error
}

func (e *UncertainError) Error() string { return e.Err.Error() }
func (e *UncertainError) Unwrap() error { return e.Err }

// IsUncertain reports whether err, or any error it wraps, is an *UncertainError.
func IsUncertain(err error) bool {
	var u *UncertainError
	return errors.As(err, &u)
}

// checkEnvelope rejects what no server would accept, before any connection is made.
func checkEnvelope(from string, to []string, msg []byte) error {
	if len(to) == 0 {
		return &PermanentError{errors.New("no recipients")}
	}
	if len(msg) == 0 {
		return &PermanentError{errors.New("empty message")}
	}
	// A CR or LF in an address would let it smuggle SMTP commands.
	if strings.ContainsAny(from, "\r\n") {
		return &PermanentError{errors.New("sender address contains a line break")}
	}
	for i, addr := range to {
		if addr == "" || strings.ContainsAny(addr, "\r\n") {
			return &PermanentError{fmt.Errorf("recipient %d of %d is empty or contains a line break", i+1, len(to))}
		}
	}
	return nil
}
