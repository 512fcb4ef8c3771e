package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/wrapper"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/server/policy"
)

const sealSynopsis = "seal [--offline | --token TOKEN] --keyserver URL --from ADDR --to ADDR [--to ADDR ...] --out DIR [flags] < message.eml"

// sealResult is the JSON line printed per recipient; scripts rely on its fields.
type sealResult struct {
	ID        string `json:"id"`
	Recipient string `json:"recipient"`
	File      string `json:"file"`
	Mail      string `json:"mail,omitempty"`
	OnlineURL string `json:"online_url,omitempty"`
	ServerKey string `json:"server_key,omitempty"`
}

// sealJob is one run of sealing: a message for its recipients, into a directory,
// optionally registering the keys with a key server. `waxseal seal` and
// `waxseal serve` (its sample message) share it.
type sealJob struct {
	KeyServer  string // origin
	Token      string // gateway token; empty when offline
	Offline    bool
	From       *mail.Address
	Recipients []*mail.Address
	Out        string
	Subject    string // empty: the message's own
	Expires    time.Duration
	WriteMail  bool
	Online     bool
	Brand      *brand.Brand // shown in the envelopes and mails; nil: none
}

func cmdSeal(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("seal", sealSynopsis, stderr)
	offline := fs.Bool("offline", false, "do not register with a key server: print each envelope's server key (k_srv) instead")
	keyServer := fs.String("keyserver", "", "key server origin, such as https://keys.example.org (required)")
	from := fs.String("from", "", "sender address (required)")
	var to listFlag
	fs.Var(&to, "to", "recipient address; repeat for more recipients (required)")
	out := fs.String("out", "", "directory to write the envelopes to (required)")
	subject := fs.String("subject", "", "subject shown on the envelope (default: the message's own Subject without a trigger such as \"PHI:\")")
	expires := fs.Duration("expires", 30*24*time.Hour, "how long the envelope may be opened (0: no expiry)")
	token := fs.String("token", "", "gateway token for registering the keys (or WAXSEAL_TOKEN)")
	writeMail := fs.Bool("mail", false, "also write each recipient's wrapper mail as ID.eml")
	brandConfig := fs.String("config", "", "waxseal.toml whose [brand] the envelopes and --mail notices show")
	online := fs.Bool("online", false, "store the ciphertext at the key server for \"open online\" links (and put the link in --mail notices)")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q: the message is read from standard input", positional[0])
	}
	*token = orEnv(*token, "WAXSEAL_TOKEN")
	for name, v := range map[string]string{"--keyserver": *keyServer, "--from": *from, "--out": *out} {
		if v == "" {
			return usagef("%s is required", name)
		}
	}
	if len(to) == 0 {
		return usagef("at least one --to is required")
	}
	if !*offline && *token == "" {
		return usagef("--token (or WAXSEAL_TOKEN) is required to register the keys; or use --offline and keep the printed server keys")
	}
	if *offline && *online {
		return usagef("--online stores the ciphertext at the key server: it cannot be used with --offline")
	}
	if *expires < 0 {
		return usagef("--expires must not be negative")
	}
	job := sealJob{Token: *token, Offline: *offline, Out: *out, Subject: *subject, Expires: *expires, WriteMail: *writeMail, Online: *online}
	if *brandConfig != "" {
		fc, err := loadConfig(*brandConfig)
		if err != nil {
			return err
		}
		if job.Brand, err = fc.loadBrand(); err != nil {
			return err
		}
	}
	if job.KeyServer, err = envelope.Origin(*keyServer); err != nil {
		return usagef("--keyserver: %v", err)
	}
	if job.From, err = mail.ParseAddress(*from); err != nil {
		return usagef("--from %q: %v", *from, err)
	}
	if job.Recipients, err = parseRecipients(to); err != nil {
		return err
	}
	results, err := job.run(ctx, stdin)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}

// run seals the message read from msg and returns one result per recipient.
func (j *sealJob) run(ctx context.Context, msg io.Reader) ([]sealResult, error) {
	if err := os.MkdirAll(j.Out, 0o700); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	// The ciphertext goes to a temporary file and is streamed into each envelope, so
	// memory stays at a few chunks whatever the message size.
	tmp, err := os.CreateTemp(j.Out, ".payload-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create payload file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	var headers headerPrefix
	bw := bufio.NewWriterSize(tmp, 256<<10)
	pw := envelope.NewPayloadWriter(bw)
	if _, err := io.Copy(pw, io.TeeReader(msg, &headers)); err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("encrypt message: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write payload file: %w", err)
	}
	payload := pw.Payload()
	subject := j.Subject
	if subject == "" {
		subject = withoutTrigger(headers.subject())
	}

	now := time.Now()
	ciphertext := func() io.Reader { return io.NewSectionReader(tmp, 0, payload.CiphertextSize()) }
	type sealedFor struct {
		rcpt *mail.Address
		env  *envelope.Envelope
		keys envelope.Keys
	}
	var all []sealedFor
	for _, rcpt := range j.Recipients {
		h := envelope.Header{KeyServer: j.KeyServer, From: formatAddress(j.From), To: formatAddress(rcpt), Subject: subject, Created: now}
		if j.Expires > 0 {
			h.Expires = now.Add(j.Expires)
		}
		env, keys, err := payload.Seal(h)
		if err != nil {
			return nil, fmt.Errorf("seal for %s: %w", rcpt.Address, err)
		}
		all = append(all, sealedFor{rcpt, env, keys})
	}

	// Keys are registered before any file is written: an envelope file whose key
	// the server does not hold could never be opened.
	if !j.Offline {
		var ct []byte
		if j.Online {
			// Read once and shared by every registration: the key server gets
			// (and stores) the ciphertext once for all the recipients.
			var err error
			if ct, err = io.ReadAll(ciphertext()); err != nil {
				return nil, fmt.Errorf("read ciphertext: %w", err)
			}
		}
		regs := make([]client.Registration, len(all))
		// The first envelope's id names the message: unique, and the same for
		// every recipient's registration (Sent items groups by it).
		message := all[0].env.Header.ID.String()
		for i, s := range all {
			regs[i] = client.Registration{Envelope: s.env, ServerKey: s.keys.Server, Ciphertext: ct, Message: message}
		}
		if err := client.New(j.KeyServer, j.Token, nil).RegisterEnvelopes(ctx, regs); err != nil {
			return nil, fmt.Errorf("register keys: %w", err)
		}
	}

	var results []sealResult
	for _, s := range all {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		env, keys := s.env, s.keys
		env.Online = j.Online // its securedoc.html opens the online copy first (FORMAT.md §7.5)
		res := sealResult{ID: env.Header.ID.String(), Recipient: s.rcpt.Address}
		if j.Offline {
			res.ServerKey = envelope.EncodeKey(keys.Server)
		}
		res.File = filepath.Join(j.Out, res.ID+".html")
		err := writeFileAtomic(res.File, func(w io.Writer) error { return env.WriteBrandedHTML(w, keys.Env, ciphertext(), j.Brand.Securedoc()) })
		if err != nil {
			return nil, err
		}
		if j.WriteMail {
			res.Mail = filepath.Join(j.Out, res.ID+".eml")
			err := writeFileAtomic(res.Mail, func(w io.Writer) error {
				return wrapper.Write(w, env, keys.Env, ciphertext(), wrapper.Options{Online: j.Online, Brand: j.Brand})
			})
			if err != nil {
				return nil, err
			}
		}
		if j.Online {
			res.OnlineURL = env.Header.OnlineURL() + "#k=" + envelope.EncodeKey(keys.Env)
		}
		results = append(results, res)
	}
	return results, nil
}

// parseRecipients checks each address and drops repeats (compared without case),
// keeping the first spelling.
func parseRecipients(list []string) ([]*mail.Address, error) {
	seen := map[string]bool{}
	var out []*mail.Address
	for _, s := range list {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, usagef("--to %q: %v", s, err)
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, a)
	}
	return out, nil
}

// formatAddress writes a bare address when there is no display name, rather than
// net/mail's "<addr>".
func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

// headerPrefix keeps the start of the message, enough to read its Subject.
type headerPrefix struct{ buf bytes.Buffer }

const maxHeaderPrefix = 256 << 10

func (h *headerPrefix) Write(p []byte) (int, error) {
	if room := maxHeaderPrefix - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// withoutTrigger removes a trigger of the default rules from a subject, as the
// gateway does: the recipient reads "Your results", not "PHI: Your results".
func withoutTrigger(subject string) string {
	t, err := policy.NewTriggers(policy.DefaultPhrases, policy.DefaultPrefixes)
	if err != nil {
		panic(err) // the default rules compile
	}
	return t.Match(subject).Subject
}

// subject returns the message's decoded Subject, or "" when the message has no
// readable header. An encoded word in an unknown charset is kept as written.
func (h *headerPrefix) subject() string {
	msg, err := mail.ReadMessage(bytes.NewReader(h.buf.Bytes()))
	if err != nil {
		return ""
	}
	raw := msg.Header.Get("Subject")
	dec, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		return raw
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, dec)
}

// writeFileAtomic writes a file through a temporary name, so that a crash or error
// never leaves a partial envelope under the final name.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
