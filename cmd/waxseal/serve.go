package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/mailer"
)

// devTokensFile keeps a development installation's tokens, so that `serve --dev`
// can use them on every start. Production installations never write it.
const devTokensFile = "dev-tokens.txt"

func cmdServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve --config FILE | serve --dev --dir DIR [--listen ADDR] [--sample MESSAGE.eml]", stderr)
	cfgPath := fs.String("config", "", "path to waxseal.toml")
	dev := fs.Bool("dev", false, "development: create DIR if needed, mail into DIR/mail, seal a sample message")
	dir := fs.String("dir", "", "with --dev: the installation directory")
	listen := fs.String("listen", "127.0.0.1:8080", "with --dev: listen address (the public URL is http://localhost:PORT)")
	sample := fs.String("sample", "", "with --dev: a message to seal for bob@patient.example at start")
	smtpListen := fs.String("smtp", "127.0.0.1:2525", "with --dev: the gateway's SMTP address (a free port if it is taken)")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	var tokens map[string]string
	switch {
	case *dev && *dir != "":
		if *cfgPath, tokens, err = devInstallation(*dir, *listen); err != nil {
			return err
		}
	case !*dev && *cfgPath != "":
	default:
		return usagef("give --config FILE, or --dev --dir DIR")
	}
	fc, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	logs := stderr
	if *dev {
		// A development installation from an older build is brought up to date
		// (copied aside first), not refused.
		if fc.Store == nil {
			fc.Store = &storeConfig{}
		}
		fc.Store.Migrate = true
		// A newcomer's terminal shows the guide below, not a stream of JSON logs.
		f, err := os.OpenFile(filepath.Join(*dir, "waxseal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logs = f
	}
	// The gateway runs beside the key server when configured, and always in
	// development, where it relays into the mail sink.
	var gp *gatewayProcess
	if fc.Gateway != nil || *dev {
		var sink *devSink
		if fc.Gateway == nil {
			fc.Gateway = &gatewayConfig{} // a dev installation from before the gateway
		}
		if *dev {
			fc.Gateway.KeyServer.Token = tokens["gateway_token"]
			d, err := mailer.NewDir(fc.path(fc.Mail.Dir))
			if err != nil {
				return err
			}
			sink = &devSink{dir: d, listen: *smtpListen}
		}
		if gp, err = openGateway(fc, slog.New(slog.NewJSONHandler(logs, nil)), sink); err != nil {
			return err
		}
	}
	gctx, stopGateway := context.WithCancel(ctx)
	gdone := make(chan error, 1)
	if gp != nil {
		go func() { gdone <- gp.run(gctx) }()
	} else {
		gdone <- nil
	}
	err = runKeyServer(ctx, fc, logs, func(ctx context.Context, addr net.Addr) error {
		if *dev {
			return devWelcome(ctx, stdout, fc, *dir, tokens, *sample, gp.lns[0].Addr())
		}
		fmt.Fprintf(stdout, "waxseal serving on http://%s (public URL %s)\n", addr, fc.PublicURL)
		if gp != nil {
			for _, ln := range gp.lns {
				fmt.Fprintf(stdout, "gateway listening on smtp://%s\n", ln.Addr())
			}
		}
		return nil
	})
	stopGateway()
	return errors.Join(err, <-gdone)
}

// devInstallation creates (once) or reuses a development installation in dir.
func devInstallation(dir, listen string) (cfgPath string, tokens map[string]string, err error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", nil, usagef("--listen %q: %v", listen, err)
	}
	cfgPath = filepath.Join(dir, "waxseal.toml")
	tokPath := filepath.Join(dir, devTokensFile)
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "logo.svg"), sampleLogo, 0o600); err != nil {
			return "", nil, err
		}
		_, gw, admin, err := initDir(dir, "http://localhost:"+port, listen, []string{"hospital.example"}, devBrandSection)
		if err != nil {
			return "", nil, err
		}
		// A newcomer sees content rules at work: mail an SSN or an NPI
		// without a trigger and it is sealed.
		if err := appendFile(cfgPath, devContentRules); err != nil {
			return "", nil, err
		}
		content := fmt.Sprintf("# Development tokens (waxseal serve --dev). Never use a dev installation for real mail.\ngateway_token: %s\nadmin_token: %s\n", gw, admin)
		if err := os.WriteFile(tokPath, []byte(content), 0o600); err != nil {
			return "", nil, err
		}
	}
	f, err := os.Open(tokPath)
	if err != nil {
		return "", nil, fmt.Errorf("%s is not a development installation (no %s): %w", dir, devTokensFile, err)
	}
	defer f.Close()
	tokens = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
			tokens[k] = v
		}
	}
	return cfgPath, tokens, sc.Err()
}

// devWelcome seals the sample message through the running key server and tells a
// newcomer what to try.
func devWelcome(ctx context.Context, w io.Writer, fc *fileConfig, dir string, tokens map[string]string, sample string, smtpAddr net.Addr) error {
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(w, "waxseal is running (development mode; logs in %s)\n\n", filepath.Join(abs, "waxseal.log"))
	fmt.Fprintf(w, "  key server:   %s\n", fc.PublicURL)
	fmt.Fprintf(w, "  mail sink:    %s  (every mail the server sends: codes, read receipts)\n", filepath.Join(abs, "mail"))
	if b, err := fc.loadBrand(); err == nil && b.Shown() {
		fmt.Fprintf(w, "  brand:        %s, on every page and mail ([brand] in %s)\n", b.Name, filepath.Join(abs, "waxseal.toml"))
	}
	fmt.Fprintf(w, "  admin token:  %s\n", tokens["admin_token"])
	fmt.Fprintf(w, "  gateway token: %s\n", tokens["gateway_token"])
	// Administrators use the web pages only with a passkey; a fresh enrolment link
	// each start lets a developer try that.
	inv, err := client.New(fc.PublicURL, tokens["admin_token"], nil).InviteAdmin(ctx, "admin@hospital.example")
	if err != nil {
		return fmt.Errorf("invite the development administrator: %w", err)
	}
	fmt.Fprintf(w, "  admin pages:  %s/admin  (enrol admin@hospital.example's passkey first: %s )\n", fc.PublicURL, inv.Link)
	fmt.Fprintf(w, "  SMTP gateway: %s  (relays into the mail sink; nothing leaves this machine)\n", smtpAddr)
	if sample != "" {
		f, err := os.Open(sample)
		if err != nil {
			return fmt.Errorf("sample message: %w", err)
		}
		defer f.Close()
		from, _ := mail.ParseAddress("Dr. Alice Example <alice@hospital.example>")
		to, _ := mail.ParseAddress("bob@patient.example")
		b, err := fc.loadBrand()
		if err != nil {
			return err
		}
		job := sealJob{Brand: b, KeyServer: fc.PublicURL, Token: tokens["gateway_token"], From: from, Recipients: []*mail.Address{to},
			Out: filepath.Join(abs, "sample"), Online: true, WriteMail: true, Expires: 30 * 24 * time.Hour}
		results, err := job.run(ctx, f)
		if err != nil {
			return fmt.Errorf("seal the sample message: %w", err)
		}
		r := results[0]
		fmt.Fprintf(w, "\nSealed %s for %s. Read it as the recipient would:\n", sample, r.Recipient)
		fmt.Fprintf(w, "  1. Open the envelope in a browser and select Open:\n       file://%s\n", r.File)
		fmt.Fprintf(w, "     (or the open-online link: %s )\n", r.OnlineURL)
		fmt.Fprintf(w, "  2. Register as Bob: the 6-digit code arrives as a file in %s\n", filepath.Join(abs, "mail"))
		fmt.Fprintf(w, "  3. Create a passkey (or choose a password); the message is decrypted in the browser.\n")
		fmt.Fprintf(w, "  Your passkeys and password: %s/account\n", fc.PublicURL)
		fmt.Fprintf(w, "  The wrapper mail that would carry it: %s\n", r.Mail)
		fmt.Fprintf(w, "\nAdminister it:\n  WAXSEAL_TOKEN=%s bin/waxseal admin --keyserver %s envelopes\n", tokens["admin_token"], fc.PublicURL)
	}
	host, port, _ := net.SplitHostPort(smtpAddr.String())
	fmt.Fprintf(w, "\nSend a message through the gateway (\"send secure\" or \"PHI:\" in the subject seals it):\n")
	fmt.Fprintf(w, "  swaks --server %s --port %s --from alice@hospital.example --to bob@patient.example \\\n", host, port)
	fmt.Fprintf(w, "        --header 'Subject: PHI: test results' --body 'Hello Bob'\n")
	fmt.Fprintf(w, "  The envelope, and your \"sent securely\" confirmation, land in the mail sink.\n")
	fmt.Fprintf(w, "  What would the gateway do?  bin/waxseal policy --config %s --from alice@hospital.example \\\n", filepath.Join(abs, "waxseal.toml"))
	fmt.Fprintf(w, "        --to bob@patient.example --to carol@hospital.example --subject 'send secure: results'\n")
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
	return nil
}

// devContentRules turns the SSN and NPI content rules on in a development
// installation (waxseal init leaves them off).
const devContentRules = `
# Development: content rules on, so mail holding an SSN or NPI is sealed without a trigger.
[[gateway.content.rules]]
name = "SSN"
kind = "ssn"
action = "seal_and_notify"

[[gateway.content.rules]]
name = "NPI"
kind = "npi"
action = "seal_and_notify"
`

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
