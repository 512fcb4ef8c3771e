package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The key server and the gateway send system mail from one identity, whatever
// of the three settings names it.
func TestSystemSender(t *testing.T) {
	for _, tc := range []struct{ name, conf, want string }{
		{"default", ``, `"waxseal" <noreply@keys.hospital.example>`},
		{"brand", "[brand]\nname = \"St Example\"\nmail_from = \"securemail@hospital.example\"\n", `"St Example" <securemail@hospital.example>`},
		{"brand with display name", "[brand]\nmail_from = \"securemail@hospital.example\"\nmail_from_name = \"Secure Mail\"\n", `"Secure Mail" <securemail@hospital.example>`},
		{"legacy [mail] from", "[mail]\nfrom = \"Secure <noreply@hospital.example>\"\n", `"Secure" <noreply@hospital.example>`},
		{"legacy notify_from", "[gateway]\nnotify_from = \"postmaster@hospital.example\"\n", `"waxseal" <postmaster@hospital.example>`},
		{"the same address twice", "[mail]\nfrom = \"noreply@hospital.example\"\n[brand]\nname = \"St Example\"\nmail_from = \"NoReply@hospital.example\"\n", `"St Example" <NoReply@hospital.example>`},
		{"subdomain", "[brand]\nmail_from = \"noreply@mail.hospital.example\"\n", `"waxseal" <noreply@mail.hospital.example>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "waxseal.toml")
			conf := "public_url = \"https://keys.hospital.example\"\norg_domains = [\"hospital.example\"]\n" + tc.conf
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			fc, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fc.systemSender()
			if err != nil || got != tc.want {
				t.Fatalf("systemSender = %q, %v; want %q", got, err, tc.want)
			}
			if fc.Gateway == nil {
				fc.Gateway = &gatewayConfig{}
			}
			gc, err := gatewayServerConfig(fc)
			if err != nil || gc.NotifyFrom != tc.want {
				t.Fatalf("gateway NotifyFrom = %q, %v; want %q", gc.NotifyFrom, err, tc.want)
			}
		})
	}
}

// A development installation ships the sample brand, and a new installation
// names its sender at the organisation's domain.
func TestInstallationsBrand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	cfgPath, _, err := devInstallation(dir, "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fc.loadBrand()
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "St Example Hospital" || b.Logo == nil || b.Logo.Type != "image/svg+xml" || b.HelpPhone == "" {
		t.Errorf("dev brand %+v", b)
	}
	if from, err := fc.systemSender(); err != nil || from != `"St Example Hospital Secure Mail" <securemail@hospital.example>` {
		t.Errorf("dev sender %q, %v", from, err)
	}

	cfgPath, _, _, err = initDir(filepath.Join(t.TempDir(), "prod"), "https://keys.hospital.example", "127.0.0.1:8080", []string{"hospital.example"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if fc, err = loadConfig(cfgPath); err != nil {
		t.Fatal(err)
	}
	if b, err := fc.loadBrand(); err != nil || b.Shown() || b.Sender.Address != "noreply@hospital.example" {
		t.Errorf("init's brand %+v, %v", b, err)
	}
}
