// Command postflood measures the key server's memory under a flood of
// securedoc.html form posts (docs/BENCHMARKS.md): a recipient posts an envelope
// and keeps its held token, then n clients (each from its own 127.0.x.1 address)
// post the same envelope's fields with a payload of the largest size at once;
// the recipient's held envelope must still be served. It prints the key server
// process's peak resident set (VmHWM) before and after.
//
//	postflood -url http://localhost:8080 -pid PID -file securedoc.html [-n 32] [-mb 27] [-chunked]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

var chunked = flag.Bool("chunked", false, "send bodies without a Content-Length")

func main() {
	base := flag.String("url", "http://localhost:8080", "key server")
	pid := flag.Int("pid", 0, "key server process id")
	file := flag.String("file", "", "a securedoc.html registered at the key server")
	n := flag.Int("n", 32, "concurrent flood posts")
	mb := flag.Int("mb", 27, "payload of each flood post, in MB of base64")
	flag.Parse()
	page, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	fields := map[string]string{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`).FindAllStringSubmatch(string(page), -1) {
		fields[m[1]] = m[2]
	}
	id := regexp.MustCompile(`/open/([0-9a-f]{32})`).FindStringSubmatch(string(page))
	if id == nil || fields["payload"] == "" {
		log.Fatal("not a securedoc.html")
	}
	fmt.Printf("before: %s\n", rss(*pid))

	status, body := post(*base, id[1], "127.0.0.1", fields, strings.NewReader(fields["payload"]), int64(len(fields["payload"])))
	held := regexp.MustCompile(`data-held="([A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
	if status != 200 || held == nil {
		log.Fatalf("recipient's post: %d", status)
	}

	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[int]int{}
	size := int64(*mb) << 20 &^ 3
	for i := range *n {
		wg.Go(func() {
			st, _ := post(*base, id[1], fmt.Sprintf("127.0.%d.1", 10+i), fields, repeat('A'), size)
			mu.Lock()
			answers[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Printf("flood: %d posts of %d MB in %s, answers %v\n", *n, *mb, time.Since(start).Round(time.Millisecond), answers)
	fmt.Printf("after: %s\n", rss(*pid))

	resp, err := http.Get(*base + "/open/" + id[1] + "/posted/" + held[1])
	if err != nil {
		log.Fatal(err)
	}
	blob, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("recipient's held envelope after the flood: %d, %d bytes\n", resp.StatusCode, len(blob))
}

// post sends the form's fields with size bytes of payload as its payload field,
// from ip, with a Content-Length as browsers send (or chunked).
func post(base, id, ip string, fields map[string]string, payload io.Reader, size int64) (int, string) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, name := range []string{"version", "header", "key"} {
		mw.WriteField(name, fields[name])
	}
	mw.CreateFormField("payload")
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, _ := http.NewRequest("POST", base+"/open/"+id, io.MultiReader(&head, io.LimitReader(payload, size), strings.NewReader(tail)))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if !*chunked {
		req.ContentLength = int64(head.Len()) + size + int64(len(tail))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// rss is the process's resident set now and at its peak.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, []byte("VmRSS")) || bytes.HasPrefix(line, []byte("VmHWM")) {
			out = append(out, strings.Join(strings.Fields(string(line)), " "))
		}
	}
	return strings.Join(out, ", ")
}
