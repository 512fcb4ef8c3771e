package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server"
	"github.com/waxseal/waxseal/server/policy"
	"github.com/waxseal/waxseal/server/spool"
)

func cmdGateway(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("gateway", "gateway --config FILE", stderr)
	cfgPath := fs.String("config", "", "path to waxseal.toml with a [gateway] section (required)")
	fc, err := parseConfigFlags(fs, cfgPath, args)
	if err != nil {
		return err
	}
	if fc.Gateway == nil {
		return fmt.Errorf("config %s has no [gateway] section (waxseal init writes one)", *cfgPath)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	gp, err := openGateway(fc, slog.New(slog.NewJSONHandler(stderr, nil)), nil)
	if err != nil {
		return err
	}
	for _, ln := range gp.lns {
		fmt.Fprintf(stdout, "gateway listening on smtp://%s (key server %s)\n", ln.Addr(), gp.keyServer)
	}
	return gp.run(ctx)
}

// gatewayProcess is a running gateway: SMTP listeners, spool retries, and
// optionally a drainer of the key server's outbox.
type gatewayProcess struct {
	g         *server.Gateway
	lns       []net.Listener
	drainer   *mailer.Drainer
	replies   *server.ReplyDeliverer // nil without a reply key file
	keyServer string
}

// devSink, when set, replaces the relay: every outgoing mail lands in the
// development mail directory (serve --dev), so no mail ever leaves the machine.
type devSink struct {
	dir    *mailer.Dir
	listen string
}

func openGateway(fc *fileConfig, log *slog.Logger, dev *devSink) (*gatewayProcess, error) {
	gc := fc.Gateway
	cfg, err := gatewayServerConfig(fc)
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	if cfg.ReplyPublicKey, err = fc.replyPublicKey(); err != nil {
		return nil, err
	}
	token, err := fc.gatewayToken()
	if err != nil {
		return nil, err
	}
	base := gc.KeyServer.URL
	if base == "" {
		base = fc.PublicURL
	}
	if dev != nil {
		// The dev key server's public URL is http://localhost:PORT; call it on
		// its listen address, which is certain to be there.
		base = "http://" + fc.Listen
	}
	ks := client.New(base, token, nil)
	cfg.KeyServer = ks
	// Sticky threads: the Message-IDs of sealed mail are kept at the key
	// server, which every gateway of the installation shares.
	cfg.Threads = ks
	if cfg.Policy, err = gatewayPolicy(fc, ks, token); err != nil {
		return nil, err
	}
	if dev != nil {
		cfg.Relay = sinkRelay{dev.dir}
	} else if cfg.Relay, err = gatewayRelay(fc, cmp.Or(gc.Hostname, server.DefaultHostname())); err != nil {
		return nil, err
	}
	spoolDir := gc.SpoolDir
	if spoolDir == "" {
		spoolDir = "spool"
	}
	if cfg.Spool, err = spool.Open(fc.path(spoolDir)); err != nil {
		return nil, err
	}
	g, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	gp := &gatewayProcess{g: g, keyServer: base}
	if gc.DrainKeyServerOutbox {
		gp.drainer = mailer.NewDrainer(server.NewRemoteOutbox(ks, 0), g.OutboxSender(), mailer.DrainerConfig{Logger: log})
	}
	replyPoll := time.Duration(0) // the deliverer's default
	if dev != nil {
		replyPoll = time.Second // a developer waits for their reply
	}
	if gp.replies, err = openReplyDeliverer(fc, g, ks, fc.path(spoolDir), replyPoll, log); err != nil {
		return nil, err
	}
	listen := gc.listen()
	if dev != nil {
		listen = []string{dev.listen}
	}
	for _, addr := range listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil && dev != nil {
			// Another development server has the usual port: any free one does,
			// the guide prints it.
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			gp.close()
			return nil, fmt.Errorf("gateway listen: %w", err)
		}
		gp.lns = append(gp.lns, ln)
	}
	return gp, nil
}

func (gp *gatewayProcess) close() {
	for _, ln := range gp.lns {
		ln.Close()
	}
}

// run serves until ctx ends.
func (gp *gatewayProcess) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(gp.lns))
	for _, ln := range gp.lns {
		wg.Go(func() { errc <- gp.g.Serve(ctx, ln) })
	}
	wg.Go(func() { gp.g.RunSpool(ctx) })
	if gp.drainer != nil {
		wg.Go(func() { gp.drainer.Run(ctx) })
	}
	if gp.replies != nil {
		wg.Go(func() { gp.replies.Run(ctx) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// sinkRelay writes every outgoing mail to the development mail directory, one
// file per recipient, named after it, as each one's mailbox would get it (a
// copy for several internal recipients would otherwise be filed under the
// first alone).
type sinkRelay struct{ dir *mailer.Dir }

func (s sinkRelay) Send(ctx context.Context, from string, to []string, msg []byte, requireTLS bool) error {
	for _, rcpt := range to {
		if err := s.dir.Send(ctx, from, []string{rcpt}, msg); err != nil {
			return err
		}
	}
	return nil
}

const policySynopsis = "policy --config FILE --from ADDR --to ADDR [--to ADDR ...] --subject S [--in-reply-to ID] [--references ID ...] [--body-file FILE]"

// cmdPolicy is the administrators' dry run: what the gateway would do with a
// message, per recipient, decided by the very code the gateway runs.
func cmdPolicy(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy", policySynopsis, stderr)
	cfgPath := fs.String("config", "", "path to waxseal.toml (required)")
	from := fs.String("from", "", "sender address (required)")
	var to listFlag
	fs.Var(&to, "to", "recipient address; repeat for more (required)")
	subject := fs.String("subject", "", "the Subject header as written (RFC 2047 encoded words allowed)")
	inReplyTo := fs.String("in-reply-to", "", "the In-Reply-To header's Message-ID: is this a reply in a secure conversation? (asks the key server)")
	bodyFile := fs.String("body-file", "", "a file holding the message body (plain text), for the content rules")
	var refs listFlag
	fs.Var(&refs, "references", "a Message-ID of the References header; repeat for more")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	if *cfgPath == "" || *from == "" || len(to) == 0 {
		return usagef("--config, --from and at least one --to are required")
	}
	fc, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if fc.Gateway == nil {
		// What `serve` runs then: the defaults, org_domains internal.
		fc.Gateway = &gatewayConfig{}
	}
	// The thread store is the gateway's own, at the key server, and is only
	// read: the gateway token grants the lookup.
	var threads policy.ThreadStore
	token, terr := fc.gatewayToken()
	if *inReplyTo != "" || len(refs) > 0 {
		if terr != nil {
			return fmt.Errorf("--in-reply-to and --references ask the key server, with the gateway token: %w", terr)
		}
		base := cmp.Or(fc.Gateway.KeyServer.URL, fc.PublicURL)
		threads = client.New(base, token, nil)
	}
	pol, err := gatewayPolicy(fc, threads, token)
	if err != nil {
		return err
	}
	// As at RCPT TO: repeats (ignoring case) count once.
	seen := map[string]bool{}
	var rcpts []string
	for _, r := range to {
		r = strings.Trim(strings.TrimSpace(r), "<>")
		if r == "" || strings.ContainsAny(r, " \r\n") {
			return usagef("--to %q is not an address", r)
		}
		if !seen[strings.ToLower(r)] {
			seen[strings.ToLower(r)] = true
			rcpts = append(rcpts, r)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	refHeader := ""
	for _, r := range refs {
		refHeader += " <" + strings.Trim(strings.TrimSpace(r), "<>") + ">"
	}
	irt := ""
	if *inReplyTo != "" {
		irt = "<" + strings.Trim(strings.TrimSpace(*inReplyTo), "<>") + ">"
	}
	// The content rules read a whole message, as at the gateway: the subject
	// and, with --body-file, a plain text body.
	msg := []byte("Subject: " + strings.NewReplacer("\r", " ", "\n", " ").Replace(*subject) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	if *bodyFile != "" {
		body, err := os.ReadFile(*bodyFile)
		if err != nil {
			return fmt.Errorf("--body-file: %w", err)
		}
		msg = append(msg, body...)
	}
	res, err := pol.Evaluate(ctx, policy.Input{Sender: *from, Recipients: rcpts, Subject: *subject, InReplyTo: irt, References: refHeader, Message: msg})
	if err != nil {
		return err
	}
	for _, d := range res.Decisions {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return nil
}
