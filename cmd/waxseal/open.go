package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/waxseal/waxseal/envelope"
)

func cmdOpen(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("open", "open --server-key KEY FILE.html > message.eml", stderr)
	serverKey := fs.String("server-key", "", "the envelope's server key (k_srv), base64url (required)")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want exactly one envelope file (or - for standard input)")
	}
	if *serverKey == "" {
		return usagef("--server-key is required")
	}
	k, err := envelope.ParseKey(*serverKey)
	if err != nil {
		return usagef("--server-key: %v", err)
	}
	name := positional[0]
	f, err := readEnvelope(name, stdin)
	if err != nil {
		return err
	}
	// Open authenticates every chunk before anything is written, so a damaged
	// envelope never leaves a partial message on standard output.
	msg, err := f.Open(k)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := stdout.Write(msg); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

func cmdInspect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", "inspect FILE.html", stderr)
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want exactly one envelope file (or - for standard input)")
	}
	f, err := readEnvelope(positional[0], stdin)
	if err != nil {
		return err
	}
	// The header exactly as embedded, indented; it holds no key material.
	var out bytes.Buffer
	if err := json.Indent(&out, f.HeaderJSON, "", "  "); err != nil {
		return fmt.Errorf("%s: %w", positional[0], err)
	}
	out.WriteByte('\n')
	_, err = stdout.Write(out.Bytes())
	return err
}

func readEnvelope(name string, stdin io.Reader) (*envelope.File, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read envelope: %w", err)
	}
	f, err := envelope.ParseHTML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}
