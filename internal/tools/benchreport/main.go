// Command benchreport turns `go test -bench` output into the Markdown table of
// docs/BENCHMARKS.md: each benchmark's median beside the baseline measured in the
// same run, as a ratio, with the target it must meet.
//
//	go test -run '^$' -bench . -count 6 ./envelope | go run ./internal/tools/benchreport
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// row compares a benchmark with its baseline. Throughput ratios are baseline time
// over benchmark time (higher is better); cost ratios are the inverse.
type row struct {
	label, bench, baseline string
	cost                   bool // report bench/baseline time instead of throughput
	target                 string
	ok                     func(ratio float64) bool
}

var rows = []row{
	{"Seal 10 MB, 1 recipient (throughput)", "Seal/recipients=1", "BaselineSecretboxSeal", false, ">= 0.8", func(r float64) bool { return r >= 0.8 }},
	{"Seal 10 MB, 50 recipients (time vs 1 recipient)", "Seal/recipients=50", "Seal/recipients=1", true, "<= 2.0", func(r float64) bool { return r <= 2 }},
	{"Open 10 MB: unwrap + decrypt (throughput)", "Open", "BaselineSecretboxOpen", false, ">= 0.8", func(r float64) bool { return r >= 0.8 }},
	{"Open securedoc.html: parse + base64 + decrypt (throughput)", "OpenHTML", "BaselineBase64SecretboxOpen", false, "(info)", nil},
	{"Open securedoc.html vs raw secretbox alone (throughput)", "OpenHTML", "BaselineSecretboxOpen", false, "(info)", nil},
	{"Write one recipient's securedoc.html (throughput)", "WriteHTML", "BaselineSecretboxSeal", false, "(info)", nil},
	// keyserver/brand_test.go: the organisation's brand on the pages.
	{"Render the home page with the brand (time vs without)", "PageRender/page=home/brand=sample", "PageRender/page=home/brand=none", true, "(info)", nil},
	{"Render the open page with the brand (time vs without)", "PageRender/page=open/brand=sample", "PageRender/page=open/brand=none", true, "(info)", nil},
	{"Render /account with the brand (time vs without)", "PageRender/page=account/brand=sample", "PageRender/page=account/brand=none", true, "(info)", nil},
}

// measure is a reported metric of one benchmark, with the target it must meet.
type measure struct {
	label, bench, unit, target string
	ok                         func(float64) bool
}

var measures = []measure{
	{"Key releases per second, 16 clients", "Release/clients=16", "req/s", ">= 5000", func(v float64) bool { return v >= 5000 }},
	{"Key releases per second, 64 clients", "Release/clients=64", "req/s", ">= 5000", func(v float64) bool { return v >= 5000 }},
	{"Key release p50 latency, 16 clients (ms)", "Release/clients=16", "p50-ms", "(info)", nil},
	{"Key release p99 latency, 16 clients (ms)", "Release/clients=16", "p99-ms", "< 25", func(v float64) bool { return v < 25 }},
	{"Key release p50 latency, 64 clients (ms)", "Release/clients=64", "p50-ms", "(info)", nil},
	{"Key release p99 latency, 64 clients (ms)", "Release/clients=64", "p99-ms", "< 25", func(v float64) bool { return v < 25 }},
	{"Baseline GET /healthz per second, 16 clients", "BaselineGet/clients=16", "req/s", "(baseline)", nil},
	{"Baseline GET /healthz per second, 64 clients", "BaselineGet/clients=64", "req/s", "(baseline)", nil},
	{"Baseline GET /healthz p99, 64 clients (ms)", "BaselineGet/clients=64", "p99-ms", "(baseline)", nil},
}

// contentMeasures are the content rules' costs (server/content_test.go,
// server/policy/content_bench_test.go).
var contentMeasures = []measure{
	{"Gateway, 100 KB text mail: content rules on / off (throughput)", "ContentRules", "on/off", ">= 0.95", func(v float64) bool { return v >= 0.95 }},
	{"Policy decision, 100 KB text message, content rules on (ms)", "PolicyContent10MB/size=100KB/body=text", "ms/decision", "(info)", nil},
	{"Policy decision, 10 MB text message, content rules on (ms)", "PolicyContent10MB/size=10240KB/body=text", "ms/decision", "< 20", func(v float64) bool { return v < 20 }},
	{"Policy decision, 10 MB multipart text + HTML, content rules on (ms)", "PolicyContent10MB/size=10240KB/body=multipart-html", "ms/decision", "(info)", nil},
}

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)
var metric = regexp.MustCompile(`([\d.]+) ([\w/-]+)`)

func main() {
	if err := report(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func report(r io.Reader, w io.Writer) error {
	times := map[string][]float64{}
	metrics := map[string][]float64{} // unit → values, over all benchmarks
	perBench := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		times[m[1]] = append(times[m[1]], ns)
		for _, mm := range metric.FindAllStringSubmatch(m[4], -1) {
			if !strings.Contains(mm[2], "/op") && mm[2] != "MB/s" {
				v, _ := strconv.ParseFloat(mm[1], 64)
				metrics[mm[2]] = append(metrics[mm[2]], v)
				if perBench[m[1]] == nil {
					perBench[m[1]] = map[string][]float64{}
				}
				perBench[m[1]][mm[2]] = append(perBench[m[1]][mm[2]], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(times) == 0 {
		return fmt.Errorf("no benchmark lines in the input")
	}
	fmt.Fprintln(w, "| measurement | median | baseline (same run) | median | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		b, base := median(times[r.bench]), median(times[r.baseline])
		if b == 0 && base == 0 {
			continue // that package was not benchmarked in this run
		}
		if b == 0 || base == 0 {
			return fmt.Errorf("missing %s or %s in the input", r.bench, r.baseline)
		}
		ratio := base / b
		if r.cost {
			ratio = b / base
		}
		met := ""
		if r.ok != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[r.ok(ratio)]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f× | %s | %s |\n", r.label, ms(b), r.baseline, ms(base), ratio, r.target, met)
	}
	if v := median(metrics["wire/msg"]); v > 0 {
		fmt.Fprintf(w, "| Wrapper mail on the wire / original message (10 MB) | | | | %.3f× | <= 1.37 | %s |\n", v, map[bool]string{true: "yes", false: "**no**"}[v <= 1.37])
	}
	if len(perBench["Release/clients=16"]) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| key server, HTTP on loopback, bbolt with fsync | median | target | met |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, m := range measures {
			v := median(perBench[m.bench][m.unit])
			met := ""
			if m.ok != nil {
				met = map[bool]string{true: "yes", false: "**no**"}[m.ok(v)]
			}
			fmt.Fprintf(w, "| %s | %.1f | %s | %s |\n", m.label, v, m.target, met)
		}
		rel, get := median(perBench["Release/clients=16"]["req/s"]), median(perBench["BaselineGet/clients=16"]["req/s"])
		if get > 0 {
			fmt.Fprintf(w, "| Releases / GET baseline, 16 clients | %.2f× | (info) | |\n", rel/get)
		}
	}
	var content []string
	for _, m := range contentMeasures {
		if vs := perBench[m.bench][m.unit]; len(vs) > 0 {
			v := median(vs)
			met := ""
			if m.ok != nil {
				met = map[bool]string{true: "yes", false: "**no**"}[m.ok(v)]
			}
			content = append(content, fmt.Sprintf("| %s | %.2f | %s | %s |", m.label, v, m.target, met))
		}
	}
	if len(content) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| content rules (SSN, NPI, an MRN regex) | median | target | met |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, l := range content {
			fmt.Fprintln(w, l)
		}
	}
	if gw := gatewayRows(perBench); len(gw) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| gateway (server/bench_test.go), sealed and pass-through interleaved | pass-through msgs/s | sealed msgs/s | sealed / pass-through | target | met |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, l := range gw {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

// gatewayRows are the BenchmarkGateway lines: the ratio is measured inside each
// benchmark, where pass-through and sealed rounds alternate.
func gatewayRows(perBench map[string]map[string][]float64) []string {
	var names []string
	for name := range perBench {
		if strings.HasPrefix(name, "Gateway/") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []string
	for _, name := range names {
		m := perBench[name]
		r := median(m["sealed/pass"])
		target, met := "(info)", ""
		// The target is for the default configuration at 100 KB, with the key
		// server in the gateway's process (online) or on its own CPU (remote).
		if strings.Contains(name, "size=100KB/") && (strings.HasSuffix(name, "keyserver=online") || strings.HasSuffix(name, "keyserver=remote")) {
			target, met = ">= 0.7", map[bool]string{true: "yes", false: "**no**"}[r >= 0.7]
		}
		out = append(out, fmt.Sprintf("| %s | %.1f | %.2f | %.2f× | %s | %s |", strings.TrimPrefix(name, "Gateway/"),
			median(m["pass-msgs/s"]), median(m["sealed-msgs/s"]), r, target, met))
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(ns float64) string { return fmt.Sprintf("%.1f ms", ns/1e6) }
