package httpapi

// The streamed reader of securedoc.html form posts: the fields are read in the
// order the form sends them, and the payload is decoded from base64 straight into
// the blob the key server holds, so a post costs one copy of its ciphertext, not
// five. Admission (before the body is read) and the hold are the service's
// (keyserver/postedform.go, posted.go).

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/waxseal/waxseal/envelope"
)

// postedForm is a securedoc.html form as received: the envelope as an "open online"
// blob, which is the only copy of its ciphertext.
type postedForm struct {
	File *envelope.File // header and key block; Ciphertext aliases Blob
	Blob []byte
}

// receivePosted reads the multipart body of a form post for envelope id (admitted
// by AdmitPost), at most limit bytes. sizeHint is the body's length, or -1.
// Problems with the form are formProblem sentences for the person.
func receivePosted(limit int64, id envelope.ID, body io.Reader, boundary string, sizeHint int64) (*postedForm, error) {
	sizeHint = min(sizeHint, limit)
	p, err := readPostedForm(http.MaxBytesReader(nil, io.NopCloser(body), limit), boundary, id, sizeHint)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, formProblem("post.too_large")
		}
		return nil, err
	}
	return p, nil
}

// Field sizes of an envelope form: the header is JSON of a few KB, the key block
// a fixed handful of bytes; anything larger is not an envelope.
const (
	maxPostedHeader  = 256 << 10
	maxPostedKey     = 4 << 10
	maxPostedVersion = 64
)

var errDamaged = formProblem("post.damaged")

// readPostedForm reads the fields version, header, key and payload, in that order
// (the order of securedoc.html's inputs, which browsers keep), and decodes the
// payload straight into the blob it returns. sizeHint is the body's length, or
// -1 when unknown.
func readPostedForm(body io.Reader, boundary string, id envelope.ID, sizeHint int64) (*postedForm, error) {
	mr := multipart.NewReader(body, boundary)
	var version, header, key []byte
	var out *postedForm
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, damaged(err)
		}
		name := part.FormName()
		switch name {
		case "version", "header", "key":
			if out != nil {
				return nil, errDamaged // after the payload: not the form's order
			}
			dst, max := &version, maxPostedVersion
			if name == "header" {
				dst, max = &header, maxPostedHeader
			} else if name == "key" {
				dst, max = &key, maxPostedKey
			}
			if *dst != nil {
				return nil, errDamaged // one copy of a field, never two
			}
			b, err := io.ReadAll(io.LimitReader(part, int64(max)+1))
			if err != nil {
				return nil, damaged(err)
			}
			if len(b) > max {
				return nil, errDamaged
			}
			*dst = b
			if name == "version" {
				if err := checkVersion(b); err != nil {
					return nil, err
				}
			}
		case "payload":
			if out != nil || version == nil || header == nil || key == nil {
				if version == nil {
					return nil, formProblem("post.not_waxseal")
				}
				return nil, errDamaged
			}
			f, err := parsePostedHead(header, key, id)
			if err != nil {
				return nil, err
			}
			// Sized once from the body's length: the decoded payload is at most
			// 3/4 of it. A body of unknown length grows as it comes.
			var blob bytes.Buffer
			blob.Grow(int(max(sizeHint, 0)/4*3) + len(f.HeaderJSON) + len(f.KeyBlock) + 64)
			if err := f.WriteOnline(&blob, bytes.NewReader(nil)); err != nil {
				return nil, err
			}
			head := blob.Len()
			if _, err := blob.ReadFrom(base64.NewDecoder(base64.StdEncoding.Strict(), part)); err != nil {
				return nil, damaged(err)
			}
			if blob.Len() == head {
				return nil, errDamaged
			}
			b := blob.Bytes()
			if cap(b)-len(b) > len(b)/8+64<<10 {
				// Held for minutes: not with the unused room of a buffer that
				// grew by doubling (or a body whose length overstated it).
				b = bytes.Clone(b)
			}
			f.Ciphertext = b[head:]
			out = &postedForm{File: f, Blob: b}
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, damaged(err)
			}
		}
	}
	if version == nil {
		return nil, formProblem("post.not_waxseal")
	}
	if out == nil {
		return nil, errDamaged
	}
	return out, nil
}

// postedFormVersion is the version field of the form securedoc.html posts
// (docs/FORMAT.md §7), the one this key server reads.
const postedFormVersion = "1"

func checkVersion(b []byte) error {
	if strings.TrimSpace(string(b)) != postedFormVersion {
		return formProblem("post.newer_version")
	}
	return nil
}

// parsePostedHead decodes and checks the header and key fields.
func parsePostedHead(header, key []byte, id envelope.ID) (*envelope.File, error) {
	hb, err := decodeField(header)
	if err != nil {
		return nil, err
	}
	kb, err := decodeField(key)
	if err != nil {
		return nil, err
	}
	f, err := envelope.NewFile(hb, kb, nil, envelope.Key{})
	if err != nil {
		return nil, formProblem("post.damaged")
	}
	if f.Header.ID != id {
		return nil, formProblem("post.other_message")
	}
	return f, nil
}

func decodeField(b []byte) ([]byte, error) {
	out, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding.Strict(), bytes.NewReader(b)))
	if err != nil || len(out) == 0 {
		return nil, errDamaged
	}
	return out, nil
}

// damaged maps a read error: a body over the limit stays itself (the caller says
// how large), anything else is damage in transit.
func damaged(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return err
	}
	return errDamaged
}
