package policy

import (
	"testing"
)

func defaultPolicy(t *testing.T) *Policy {
	t.Helper()
	tr, err := NewTriggers(DefaultPhrases, DefaultPrefixes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{InternalDomains: []string{"hospital.example"}, SecureChannelDomains: []string{"partner.example"},
		ForcedTLSDomains: []string{"insurer.example"}, Triggers: tr})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTriggerRules covers every rule in docs/ARCHITECTURE.md "Trigger rules", the negative
// cases among them, and what is left of the subject once the trigger is removed.
func TestTriggerRules(t *testing.T) {
	p := defaultPolicy(t)
	cases := []struct {
		name, raw string
		triggered bool
		clean     string
	}{
		// Cisco style: anywhere, any case, joined or spaced, nothing between.
		{"phrase alone", "send secure", true, ""},
		{"phrase first", "send secure Lab results", true, "Lab results"},
		{"phrase last", "Lab results send secure", true, "Lab results"},
		{"phrase in the middle", "Lab results send secure for Bob", true, "Lab results for Bob"},
		{"upper case", "SEND SECURE: Lab results", true, "Lab results"},
		{"mixed case", "Lab results - Send Secure", true, "Lab results"},
		{"joined", "sendsecure Lab results", true, "Lab results"},
		{"joined upper", "Lab results SENDSECURE", true, "Lab results"},
		{"several spaces", "send   secure Lab results", true, "Lab results"},
		{"tab between", "send\tsecure Lab results", true, "Lab results"},
		{"in brackets", "[send secure] Lab results", true, "Lab results"},
		{"in parentheses at the end", "Lab results (send secure)", true, "Lab results"},
		{"between separators", "Lab results - send secure - today", true, "Lab results - today"},
		{"after a reply prefix", "Re: send secure Lab results", true, "Re: Lab results"},
		{"inside other words", "Please resend secure copy", true, "Please re copy"},
		{"text between the words", "send YourMessage secure", false, ""},
		{"words reversed", "secure send", false, ""},
		{"only one word", "send the results securely", false, ""},
		{"hyphen between the words", "send-secure results", false, ""},
		// Portal style: only at the start, any case, space after the colon optional.
		{"PHI with space", "PHI: Lab results", true, "Lab results"},
		{"PHI without space", "PHI:Lab results", true, "Lab results"},
		{"phi lower case", "phi: Lab results", true, "Lab results"},
		{"ePHI", "ePHI: Lab results", true, "Lab results"},
		{"EPHI upper case", "EPHI:Lab results", true, "Lab results"},
		{"Secure prefix", "Secure: Lab results", true, "Lab results"},
		{"SECURE prefix no space", "SECURE:Lab results", true, "Lab results"},
		{"prefix alone", "PHI:", true, ""},
		{"leading blank before the prefix", "  PHI: Lab results", true, "Lab results"},
		{"PHI not at the start", "Lab results PHI: Bob", false, ""},
		{"PHI after a reply prefix", "Re: PHI: Lab results", true, "Re: Lab results"},
		{"PHI without colon", "PHI Lab results", false, ""},
		{"Secure without colon", "Secure message for you", false, ""},
		{"word ending in phi", "Graphi: plots", false, ""},
		{"both rule sets", "PHI: send secure Lab results", true, "Lab results"},
		// RFC 2047: matched after decoding.
		{"encoded phrase", "=?utf-8?q?send_secure_Laborbefund?=", true, "Laborbefund"},
		{"encoded base64 prefix", "=?UTF-8?B?UEhJOiBHcsO8w59l?=", true, "Grüße"},
		{"phrase split over encoded words", "=?utf-8?q?send?= =?utf-8?q?_secure_results?=", true, "results"},
		{"latin1 encoded", "=?iso-8859-1?q?send_secure_caf=E9?=", true, "café"},
		{"encoded, no trigger", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", false, ""},
		{"encoded text between", "=?utf-8?q?send_YourMessage_secure?=", false, ""},
		{"folded header", "Lab results\r\n send secure", true, "Lab results"},
		{"empty", "", false, ""},
		{"nested phrase", "send send securesecure results", true, "results"},
		{"phrase made by tidying", "send[send secure]secure results", true, "results"},
		{"prefix twice", "PHI:PHI: results", true, "results"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := p.Decide("alice@hospital.example", []string{"bob@patient.example"}, c.raw)
			if r.Triggered != c.triggered {
				t.Fatalf("Decide(%q): triggered = %v (rule %q), want %v", c.raw, r.Triggered, r.Rule, c.triggered)
			}
			d := r.Decisions[0]
			if c.triggered {
				if d.Action != Envelope || r.Clean != c.clean || d.Subject != c.clean {
					t.Errorf("Decide(%q) = %+v, clean %q; want envelope with subject %q", c.raw, d, r.Clean, c.clean)
				}
			} else if d.Action != Plain || d.Subject != r.Subject || r.Clean != r.Subject {
				t.Errorf("Decide(%q) = %+v, want plain with the subject unchanged", c.raw, d)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	p := defaultPolicy(t)
	rcpts := []string{"carol@hospital.example", "lab@lab.hospital.example", "dan@partner.example", "eve@insurer.example",
		"bob@patient.example", "Bob@PATIENT.example", "postmaster", "x@hospital.example.evil"}
	want := map[bool][]Action{
		true:  {Plain, Plain, TLS, TLS, Envelope, Envelope, Plain, Envelope},
		false: {Plain, Plain, TLS, TLS, Plain, Plain, Plain, Plain},
	}
	for triggered, subject := range map[bool]string{true: "PHI: results", false: "results"} {
		r := p.Decide("alice@hospital.example", rcpts, subject)
		for i, d := range r.Decisions {
			if d.Action != want[triggered][i] || d.Reason == "" {
				t.Errorf("triggered=%v %s: %s (%s), want %s", triggered, d.Recipient, d.Action, d.Reason, want[triggered][i])
			}
		}
	}
	if !p.Internal("a@HOSPITAL.example") || p.Internal("a@patient.example") {
		t.Error("Internal is wrong")
	}
}

func TestConfigurableRules(t *testing.T) {
	tr, err := NewTriggers([]string{"[secure]"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Triggers: tr})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Decide("a@x.example", []string{"b@y.example"}, "[SECURE] results"); !r.Triggered || r.Clean != "results" {
		t.Errorf("custom phrase: %+v", r)
	}
	for _, s := range []string{"send secure results", "PHI: results"} {
		if r := p.Decide("a@x.example", []string{"b@y.example"}, s); r.Triggered {
			t.Errorf("disabled rule set still triggers on %q", s)
		}
	}
	if _, err := NewTriggers([]string{"  "}, nil); err == nil {
		t.Error("empty phrase accepted")
	}
	if _, err := New(Config{InternalDomains: []string{"a@b"}, Triggers: tr}); err == nil {
		t.Error("address accepted as a domain")
	}
}
