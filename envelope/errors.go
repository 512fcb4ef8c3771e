package envelope

import "github.com/waxseal/waxseal/envelope/unseal"

// Errors returned when an envelope cannot be parsed or opened. Each names one
// distinct failure, so callers (and people) can tell them apart; wrap checks use
// errors.Is. They are package unseal's, which does all reading.
var (
	ErrNotEnvelope        = unseal.ErrNotEnvelope
	ErrUnsupportedVersion = unseal.ErrUnsupportedVersion
	ErrMalformed          = unseal.ErrMalformed
	ErrBadBase64          = unseal.ErrBadBase64
	ErrBadKey             = unseal.ErrBadKey
	ErrWrongKey           = unseal.ErrWrongKey
	ErrHeaderModified     = unseal.ErrHeaderModified

	ErrTruncated       = unseal.ErrTruncated
	ErrAppended        = unseal.ErrAppended
	ErrOutOfOrder      = unseal.ErrOutOfOrder
	ErrChunkModified   = unseal.ErrChunkModified
	ErrLastFlagMissing = unseal.ErrLastFlagMissing
	ErrLastFlagEarly   = unseal.ErrLastFlagEarly
)
