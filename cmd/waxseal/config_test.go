package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/waxseal/waxseal/keyserver/mailer"
)

// Without smtp_port the mailer picks the port for the TLS mode: a config that only
// says smtp_tls = "tls" must dial 465, not the plaintext port 25.
func TestSMTPPortFollowsTLSMode(t *testing.T) {
	for _, tc := range []struct{ tls, port, want string }{
		{`"tls"`, "", "mail.hospital.example:465"},
		{`"starttls"`, "", "mail.hospital.example:587"},
		{`"none"`, "", "mail.hospital.example:25"},
		{`"tls"`, "smtp_port = 2465", "mail.hospital.example:2465"},
	} {
		path := filepath.Join(t.TempDir(), "waxseal.toml")
		conf := "public_url = \"https://keys.hospital.example\"\n[mail]\nmode = \"smtp\"\nsmtp_host = \"mail.hospital.example\"\nsmtp_tls = " + tc.tls + "\n" + tc.port + "\n"
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		fc, err := loadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newSender(fc)
		if err != nil {
			t.Fatalf("smtp_tls = %s: %v", tc.tls, err)
		}
		if got := s.(*mailer.SMTP).Addr(); got != tc.want {
			t.Errorf("smtp_tls = %s %s: dials %s, want %s", tc.tls, tc.port, got, tc.want)
		}
	}
}

// wrapper_reply_to in [gateway] becomes the gateway's wrapper Reply-To.
func TestWrapperReplyToSetting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "waxseal.toml")
	conf := "public_url = \"https://keys.hospital.example\"\n[gateway]\nwrapper_reply_to = \"Secure Mail <secure-reply@hospital.example>\"\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gatewayServerConfig(fc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WrapperReplyTo != "Secure Mail <secure-reply@hospital.example>" {
		t.Errorf("WrapperReplyTo = %q", cfg.WrapperReplyTo)
	}
}
