package keyserver

import (
	"strings"
	"testing"
)

// TestPasswordRefusal checks the policy of NIST SP 800-63B: common, breached and
// personal passwords are refused with a reason; long passwords, passphrases and
// any Unicode are accepted, with no composition rules.
func TestPasswordRefusal(t *testing.T) {
	personal := []string{"alice.liddell@example.com", "Alice", "Liddell"}
	tests := []struct {
		pw   string
		want string // "" to accept, else text the reason must contain
	}{
		{"password123", "\u201cpassword\u201d is on lists of common and breached passwords"},
		{"P@ssw0rd2024", "on lists of common and breached passwords"},
		{"qwertyuiop12", "on lists of common and breached passwords"},
		{"1234567890", "sequences such as 123"},
		{"aaaaaaaaaaaa", "repeated characters"},
		{"alice.liddell1", "your email address or name"},
		{"short", "at least 10 characters"},
		{strings.Repeat("k", 257), "at most 256 characters"},
		// No composition rules: lowercase words alone, or one long string, are fine.
		{"correct horse battery", ""},
		{"zebra lantern oboe tulip", ""},
		{"kx8#Lm2pQz", ""},
		// Any Unicode, counted in characters, not bytes.
		{"Ünïcödé-pässwörd-ok", ""},
		{"大家好我的密码很长很长", ""},
		{"мой пароль длинный и странный", ""},
		// At least 64 characters, and up to 256; a long password is judged by its
		// strongest stretch, so a common start does not spoil it.
		{strings.Repeat("Lorem7 ipsum? Dolor! ", 3) + "s", ""},
		{"password123 " + strings.Repeat("vq3!Rk9#Zp", 20), ""},
		{strings.Repeat("password", 32), "on lists of common and breached passwords"},
	}
	for _, tt := range tests {
		got := passwordRefusal(normalizePassword(tt.pw), 10, personal)
		switch {
		case tt.want == "" && got != "":
			t.Errorf("%q refused: %s", tt.pw, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("%q: got %q, want a refusal saying %q", tt.pw, got, tt.want)
		}
	}
}

// TestPasswordNormalised checks that a password typed with a combining accent
// matches the same password typed with a precomposed character, and that a hash
// of a non-normalised password (made before normalisation) still verifies.
func TestPasswordNormalised(t *testing.T) {
	p := Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}
	nfc, nfd := "caf\u00e9 au lait sans sucre", "cafe\u0301 au lait sans sucre"
	h := hashPassword(nfd, p)
	if !checkPassword(nfc, h) || !checkPassword(nfd, h) {
		t.Fatal("the NFC and NFD forms of one password do not both verify")
	}
	if checkPassword("cafe au lait sans sucre", h) {
		t.Fatal("a different password verifies")
	}
	old := hashPasswordForm(nfd, p)
	if !checkPassword(nfd, old) {
		t.Fatal("a hash of the unnormalised form no longer verifies")
	}
}
