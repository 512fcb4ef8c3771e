package keyserver

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Bounds on the attachment names a registration may carry (Sent items): a
// hundred names of a file system's 255 bytes keep an envelope record small
// whatever a gateway sends.
const (
	MaxAttachmentNames     = 100
	MaxAttachmentNameBytes = 255
)

// ValidateAttachmentNames checks a registration's attachment names: at most
// MaxAttachmentNames, each non-empty, at most MaxAttachmentNameBytes of valid
// UTF-8, without control characters (C0, DEL, C1) or the invisible marks that
// reorder text (bidirectional controls: "cod.exe" shown as "exe.doc"). Names
// are refused, not cleaned: the gateway sends them clean (server.attachmentName),
// so anything else is a broken or hostile client.
func ValidateAttachmentNames(names []string) error {
	if len(names) > MaxAttachmentNames {
		return fmt.Errorf("%d attachment names, at most %d", len(names), MaxAttachmentNames)
	}
	for i, n := range names {
		switch {
		case n == "":
			return fmt.Errorf("attachment name %d is empty", i+1)
		case len(n) > MaxAttachmentNameBytes:
			return fmt.Errorf("attachment name %d has %d bytes, at most %d", i+1, len(n), MaxAttachmentNameBytes)
		case !utf8.ValidString(n):
			return fmt.Errorf("attachment name %d is not valid UTF-8", i+1)
		}
		for _, r := range n {
			if IsAttachmentNameControl(r) {
				return fmt.Errorf("attachment name %d holds a control character (U+%04X)", i+1, r)
			}
		}
	}
	return nil
}

// IsAttachmentNameControl reports whether r is refused in an attachment name:
// a control character (C0, DEL, C1), a bidirectional control, or a line or
// paragraph separator.
func IsAttachmentNameControl(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}
