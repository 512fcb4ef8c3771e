// Package policy decides, per recipient, what the gateway does with a message:
// relay it as it is, relay it over TLS that must succeed, or seal it into an
// envelope. The gateway and `waxseal policy` (the administrators' dry run) call the
// same Decide, so the dry run can never disagree with what the gateway does.
package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Triggers are the subject rules that ask for a message to be sealed. Both rule
// sets of the systems in use today are supported (docs/ARCHITECTURE.md, "Trigger rules"):
//
//   - Phrases, Cisco style: the phrase anywhere in the subject, case-insensitive,
//     its words joined or separated by any amount of white space, but with nothing
//     else between them ("send YourMessage secure" does not trigger).
//   - Prefixes, portal style: the subject begins with the prefix (such as "PHI:"),
//     case-insensitive, the space after it optional, blanks before its colon
//     allowed. Reply and forward markers ("Re:", "AW:", "RE[2]:") and tags
//     ("[EXTERNAL]") before it do not hide it: "Re: PHI: x" triggers and the
//     recipient sees "Re: x".
//
// Matching is on normalised text (see normalise): a subject is matched in every
// reading of it (see readings), and triggers if any reading does.
type Triggers struct {
	phrases  []*regexp.Regexp
	prefixes []*regexp.Regexp
	names    []string // the configured rule, for reasons; phrases first
	lead     *regexp.Regexp
}

// Default rule sets.
var (
	DefaultPhrases  = []string{"send secure"}
	DefaultPrefixes = []string{"ePHI:", "PHI:", "Secure:"}
	// DefaultReplyMarkers are the reply and forward markers of the mail clients
	// in use (English, German, Nordic, Dutch, French, Spanish, Polish, Chinese),
	// each matched with any case, an optional counter ("RE[2]:", "Re(3):") and
	// blanks before its colon.
	DefaultReplyMarkers = []string{"Re", "Fwd", "Fw", "AW", "WG", "SV", "VS", "RV", "TR", "Antw", "Doorst", "Odp",
		"回复", "转发", "回覆", "轉寄"}
	// DefaultSubjectTags are the tags mail systems put before a subject. "[*]"
	// stands for any bracketed tag of up to 40 characters ("[SPAM]", "[Ticket
	// 123]"); the others are literal, any case.
	DefaultSubjectTags = []string{"[EXTERNAL]", "[EXT]", "*EXTERNAL*", "[*]"}
)

// anyBracketTag is what the subject tag "[*]" stands for.
const anyBracketTag = `\[[^\[\]]{1,40}\]`

// NewTriggers compiles rule sets with the default reply markers and subject
// tags. An empty list disables that rule set.
func NewTriggers(phrases, prefixes []string) (*Triggers, error) {
	return NewTriggersWith(phrases, prefixes, DefaultReplyMarkers, DefaultSubjectTags)
}

// NewTriggersWith compiles rule sets with the given reply markers (words, such
// as "Re") and subject tags (literal, or "[*]").
func NewTriggersWith(phrases, prefixes, markers, tags []string) (*Triggers, error) {
	t := &Triggers{}
	for _, p := range phrases {
		words := strings.Fields(normalise(p))
		if len(words) == 0 {
			return nil, fmt.Errorf("trigger phrase %q is empty", p)
		}
		for i, w := range words {
			words[i] = regexp.QuoteMeta(w)
		}
		t.phrases = append(t.phrases, regexp.MustCompile(`(?i)`+strings.Join(words, ` *`)))
		t.names = append(t.names, p)
	}
	for _, p := range prefixes {
		n := strings.TrimSpace(normalise(p))
		if n == "" {
			return nil, fmt.Errorf("trigger prefix %q is empty", p)
		}
		// Blanks before the colon are allowed ("PHI :x"): some clients and
		// people put them there.
		pat := regexp.QuoteMeta(n)
		if head, ok := strings.CutSuffix(n, ":"); ok {
			pat = regexp.QuoteMeta(strings.TrimSpace(head)) + ` *:`
		}
		t.prefixes = append(t.prefixes, regexp.MustCompile(`(?i)^`+pat+` ?`))
		t.names = append(t.names, p)
	}
	var lead []string
	for _, m := range markers {
		n := strings.TrimSpace(normalise(m))
		n = strings.TrimSpace(strings.TrimSuffix(n, ":"))
		if n == "" || strings.ContainsAny(n, " []") {
			return nil, fmt.Errorf("reply marker %q: want a word such as \"Re\"", m)
		}
		lead = append(lead, regexp.QuoteMeta(n)+` *(?:\[\d{1,4}\]|\(\d{1,4}\))? *:`)
	}
	for _, tag := range tags {
		n := strings.TrimSpace(normalise(tag))
		switch {
		case n == "":
			return nil, fmt.Errorf("subject tag %q is empty", tag)
		case n == "[*]":
			lead = append(lead, anyBracketTag)
		default:
			lead = append(lead, regexp.QuoteMeta(n))
		}
	}
	if len(lead) > 0 {
		t.lead = regexp.MustCompile(`(?i)^(?: *(?:` + strings.Join(lead, "|") + `))+ *`)
	}
	return t, nil
}

// Match is the outcome of matching a subject.
type Match struct {
	Triggered bool
	// Rule describes the rule that matched, e.g. `phrase "send secure"`.
	Rule string
	// Subject is the subject without the trigger (the decoded subject when not
	// triggered).
	Subject string
}

// Match checks a decoded subject against the rules and removes every trigger
// found, so that "PHI: send secure results" shows as "results". A triggered
// subject comes back normalised; one that did not trigger comes back as it was.
func (t *Triggers) Match(subject string) Match {
	m := Match{Subject: subject}
	s := normalise(subject)
	// Removing one trigger can make another ("PHI:PHI: x", "send send
	// securesecure", "send[send secure]secure" once the brackets go), so remove
	// and tidy until nothing matches: a cleaned subject that still triggered would
	// keep the gateway's own last check from ever letting the envelope out.
	for {
		rule, rest, ok := t.removeOnce(s)
		if !ok {
			if m.Triggered {
				m.Subject = s
			}
			return m
		}
		if !m.Triggered {
			m.Rule = rule
		}
		m.Triggered = true
		s = t.tidy(rest)
	}
}

// MatchRaw matches a raw Subject header (as written, RFC 2047 encoded words
// allowed) in every reading of it: the first reading that triggers gives the
// subject without its trigger.
func (t *Triggers) MatchRaw(raw string) Match {
	for _, s := range readings(raw) {
		if m := t.Match(s); m.Triggered {
			return m
		}
	}
	return Match{Subject: DecodeSubject(raw)}
}

// leadLen is how many bytes of s are reply markers and tags.
func (t *Triggers) leadLen(s string) int {
	if t.lead == nil {
		return 0
	}
	if loc := t.lead.FindStringIndex(s); loc != nil {
		return loc[1]
	}
	return 0
}

// removeOnce removes the first rule's triggers that match s.
func (t *Triggers) removeOnce(s string) (rule, rest string, ok bool) {
	n := t.leadLen(s)
	for i, re := range t.prefixes {
		if loc := re.FindStringIndex(s[n:]); loc != nil {
			return fmt.Sprintf("prefix %q", t.names[len(t.phrases)+i]), s[:n] + " " + s[n+loc[1]:], true
		}
	}
	for i, re := range t.phrases {
		if re.MatchString(s) {
			return fmt.Sprintf("phrase %q", t.names[i]), re.ReplaceAllString(s, " "), true
		}
	}
	return "", s, false
}

var (
	emptyBrackets = regexp.MustCompile(`[\[(<{] *[\])>}]`)
	blanks        = regexp.MustCompile(` +`)
	// repeated separators left where the trigger stood: "Results -  - today"
	// (only separators standing alone, so "Note: -5" keeps its minus)
	doubleSep = regexp.MustCompile(`([-–—:|,;/])(?: +[-–—:|,;/])+( )`)
)

// separators may be left at either end once a trigger is cut out
// ("[send secure] - Results", "Results | send secure").
const separators = " -–—:|,;/*"

// tidy removes what a trigger leaves behind: empty brackets, doubled or dangling
// separators, runs of blanks. The reply markers and tags at the start stay as
// they are ("Re: results", not "Re results").
func (t *Triggers) tidy(s string) string {
	for {
		r := emptyBrackets.ReplaceAllString(s, "")
		if r == s {
			break
		}
		s = r
	}
	s = strings.TrimLeft(blanks.ReplaceAllString(s, " "), " ")
	n := t.leadLen(s)
	lead, rest := strings.TrimSpace(s[:n]), s[n:]
	rest = doubleSep.ReplaceAllString(rest, "$1$2")
	rest = strings.Trim(rest, separators)
	switch {
	case lead == "":
		return rest
	case rest == "":
		return lead
	}
	return lead + " " + rest
}
