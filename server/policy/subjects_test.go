package policy

import "testing"

// TestSubjects is the table of issue 11: what the gateway does with a subject
// and what the external recipient sees. Reply and forward markers and tags do
// not hide a prefix, normalisation undoes what cannot be seen, every reading
// of an undecodable subject counts, and near misses stay plain.
func TestSubjects(t *testing.T) {
	p := defaultPolicy(t)
	const seal, plain = Envelope, Plain
	cases := []struct {
		raw    string
		action Action
		shown  string // the subject the recipient sees
	}{
		// Every reply and forward marker before a prefix.
		{"Re: PHI: results", seal, "Re: results"},
		{"RE: PHI: results", seal, "RE: results"},
		{"re:PHI:results", seal, "re: results"},
		{"Re : PHI: results", seal, "Re : results"},
		{"RE[2]: PHI: results", seal, "RE[2]: results"},
		{"Re(3): PHI: results", seal, "Re(3): results"},
		{"Fwd: PHI: results", seal, "Fwd: results"},
		{"FWD: ePHI: results", seal, "FWD: results"},
		{"Fw: PHI: results", seal, "Fw: results"},
		{"FW: PHI: results", seal, "FW: results"},
		{"AW: PHI: Befund", seal, "AW: Befund"},
		{"WG: PHI: Befund", seal, "WG: Befund"},
		{"SV: PHI: svar", seal, "SV: svar"},
		{"VS: PHI: vastaus", seal, "VS: vastaus"},
		{"RV: PHI: resultados", seal, "RV: resultados"},
		{"TR: PHI: résultats", seal, "TR: résultats"},
		{"Antw: PHI: uitslag", seal, "Antw: uitslag"},
		{"Doorst: PHI: uitslag", seal, "Doorst: uitslag"},
		{"Odp: PHI: wyniki", seal, "Odp: wyniki"},
		{"回复: PHI: 结果", seal, "回复: 结果"},
		{"回复：PHI：结果", seal, "回复: 结果"},
		{"转发: PHI: 结果", seal, "转发: 结果"},
		{"Re: Secure: results", seal, "Re: results"},
		// Tags, and markers and tags stacked.
		{"[EXTERNAL] PHI: results", seal, "[EXTERNAL] results"},
		{"[EXT] PHI: results", seal, "[EXT] results"},
		{"*EXTERNAL* PHI: results", seal, "*EXTERNAL* results"},
		{"[SPAM] PHI: results", seal, "[SPAM] results"},
		{"[external]PHI:results", seal, "[external] results"},
		{"RE: Fwd: [EXTERNAL] PHI: x", seal, "RE: Fwd: [EXTERNAL] x"},
		{"[EXTERNAL] Re: AW: FW: PHI: x", seal, "[EXTERNAL] Re: AW: FW: x"},
		{"Re: Re: Re: PHI: x", seal, "Re: Re: Re: x"},
		{"Re: [Ticket 42] *EXTERNAL* Secure: x", seal, "Re: [Ticket 42] *EXTERNAL* x"},
		{"Re: PHI:", seal, "Re:"},
		{"Re: send secure results", seal, "Re: results"},
		{"[EXTERNAL] results send secure", seal, "[EXTERNAL] results"},
		// Prefixes: blank before the colon, case.
		{"PHI :x", seal, "x"},
		{"PHI  : x", seal, "x"},
		{"Re: phi : x", seal, "Re: x"},
		{"pHi:x", seal, "x"},
		{"SeCuRe: x", seal, "x"},
		// Normalisation: zero-width and format characters, odd spaces, NFKC, controls.
		{"send\u200bsecure results", seal, "results"},
		{"send\u200b secure results", seal, "results"},
		{"\ufeffPHI: results", seal, "results"},
		{"P\u200bHI: results", seal, "results"},
		{"PH\ufeffI: results", seal, "results"},
		{"PH\u00adI: results", seal, "results"},
		{"P\u2060H\u200dI\u200c: results", seal, "results"},
		{"\u200ePHI: results", seal, "results"},
		{"PHI\u200f: results", seal, "results"},
		{"send\u2002secure results", seal, "results"},
		{"send\u3000secure results", seal, "results"},
		{"send\u00a0secure results", seal, "results"},
		{"send\u205fsecure results", seal, "results"},
		{"send\u2009\u200asecure results", seal, "results"},
		{"\uff30HI: results", seal, "results"},
		{"\uff30\uff28\uff29\uff1a results", seal, "results"},
		{"ｓｅｎｄ ｓｅｃｕｒｅ results", seal, "results"},
		{"PHI\x00: results", seal, "results"},
		{"send\x00secure results", seal, "results"},
		{"=?utf-8?q?PHI=00=3A_results?=", seal, "results"},
		{"=?utf-8?q?P=E2=80=8BHI=3A_results?=", seal, "results"},
		{"=?utf-8?q?Re=3A_PHI=3A_results?=", seal, "Re: results"},
		{"Re: =?utf-8?b?UEhJOiByZXN1bHRz?=", seal, "Re: results"},
		// Encoded words in charsets, known and unknown.
		{"=?cp932?B?UEhJOiB0ZXN0?=", seal, "test"},
		{"=?utf-7?Q?PHI:_t?=", seal, "t"},
		{"=?x-bogus?q?PHI=3A_t?=", seal, "t"},
		{"=?us-ascii*en?q?PHI:_t?=", seal, "t"},
		{"=?utf-8*en?q?send_secure_t?=", seal, "t"},
		{"=?shift_jis?B?UEhJOiB0ZXN0?=", seal, "test"},
		{"=?windows-1252?q?send_secure_caf=E9?=", seal, "café"},
		{"=?koi8-r?q?PHI:_=F4=C5=D3=D4?=", seal, "Тест"},
		{"=?gb18030?b?UEhJOiDE47rD?=", seal, "你好"},
		{"=?x-bogus?q?send_secure?= results", seal, "results"},
		{"=?utf-8?q?PHI=3A?==?x-bogus?q?_t?=", seal, "t"},
		{"=?utf-8?b?broken base64?= send secure", seal, "=?utf-8?b?broken base64?="},
		// Must not trigger.
		{"send YourMessage secure", plain, "send YourMessage secure"},
		{"Regarding PHI: results", plain, "Regarding PHI: results"},
		{"Insecure: test", plain, "Insecure: test"},
		{"Re: Physics: lab", plain, "Re: Physics: lab"},
		{"Re: Physics:", plain, "Re: Physics:"},
		{"Secure-ish update", plain, "Secure-ish update"},
		{"Secure message for you", plain, "Secure message for you"},
		{"Re: PHIL: meeting", plain, "Re: PHIL: meeting"},
		{"Re: the PHI: question", plain, "Re: the PHI: question"},
		{"Pre: PHI: x", plain, "Pre: PHI: x"},
		{"Ref: PHI: x", plain, "Ref: PHI: x"},
		{"[EXTERNAL] Graphi: plots", plain, "[EXTERNAL] Graphi: plots"},
		{"send-secure results", plain, "send-secure results"},
		{"sending securely", plain, "sending securely"},
		{"=?x-bogus?q?Hello?=", plain, "Hello"},
		{"Re: lab results", plain, "Re: lab results"},
		{"", plain, ""},
	}
	if len(cases) < 80 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		r := p.Decide("alice@hospital.example", []string{"bob@patient.example"}, c.raw)
		d := r.Decisions[0]
		if d.Action != c.action || d.Subject != c.shown {
			t.Errorf("%q: %s %q (rule %s), want %s %q", c.raw, d.Action, d.Subject, r.Rule, c.action, c.shown)
		}
		if c.action == seal {
			// What the recipient sees must not trigger again, or the gateway's own
			// last check would hold the envelope back.
			if again := p.Decide("", []string{"bob@patient.example"}, d.Subject); again.Triggered {
				t.Errorf("%q: shown subject %q triggers again (%s)", c.raw, d.Subject, again.Rule)
			}
		}
	}
}

func TestHasControl(t *testing.T) {
	for raw, want := range map[string]bool{
		"PHI: results":                  false,
		"folded\r\n results":            false,
		"tab\there":                     false,
		"PHI\x00: results":              true,
		"bell\x07":                      true,
		"=?utf-8?q?PHI=00=3A_results?=": true,
		"=?utf-8?q?del=7F?=":            true,
		"=?utf-8?q?caf=C3=A9?=":         false,
	} {
		if got := HasControl(raw); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", raw, got, want)
		}
	}
}
