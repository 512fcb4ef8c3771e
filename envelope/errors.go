package envelope

import (
	"errors"

	"github.com/waxseal/waxseal/envelope/internal/stream"
)

// Errors returned when an envelope cannot be parsed or opened. Each names one
// distinct failure, so callers (and people) can tell them apart; wrap checks use
// errors.Is.
var (
	ErrNotEnvelope        = errors.New("not a waxseal envelope")
	ErrUnsupportedVersion = errors.New("unsupported envelope version")
	ErrMalformed          = errors.New("malformed envelope")
	ErrBadBase64          = errors.New("envelope field is not valid base64")
	ErrBadKey             = errors.New("malformed key")
	ErrWrongKey           = errors.New("wrong key: these keys do not open this envelope")
	ErrHeaderModified     = errors.New("envelope header was modified")

	ErrTruncated       = stream.ErrTruncated
	ErrAppended        = stream.ErrAppended
	ErrOutOfOrder      = stream.ErrOutOfOrder
	ErrChunkModified   = stream.ErrModified
	ErrLastFlagMissing = stream.ErrLastFlagMissing
	ErrLastFlagEarly   = stream.ErrLastFlagEarly
)
