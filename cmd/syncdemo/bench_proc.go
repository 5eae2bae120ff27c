package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// countingTransport counts HTTP round trips and the bytes sent and received
// (bodies as they cross the wire, before any decompression by the caller).
type countingTransport struct {
	base           http.RoundTripper
	requests, sent atomic.Int64
	received       atomic.Int64
}

func newCountingTransport() *countingTransport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &countingTransport{base: t}
}

// RoundTrip implements http.RoundTripper.
func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	c.sent.Add(max(r.ContentLength, 0))
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.received}
	}
	return resp, err
}

func (c *countingTransport) client() *http.Client { return &http.Client{Transport: c} }

func (c *countingTransport) closeIdle() {
	if t, ok := c.base.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// errNoProc is returned where /proc/self is not available (not Linux).
var errNoProc = errors.New("/proc/self not available")

// procStatus returns a "kB" field of /proc/self/status (VmHWM, VmRSS) in
// bytes.
func procStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, errNoProc
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0+), reporting
// whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// mb converts bytes to MB (10^6 bytes).
func mb(n int64) float64 { return float64(n) / 1e6 }

// userHZ is the unit of /proc/self/stat's utime and stime: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// procCPU returns the CPU time (user + system) the process has used, from
// /proc/self/stat.
func procCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, errNoProc
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after it start with field 3 (state).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("/proc/self/stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("/proc/self/stat: too few fields")
	}
	var ticks int64
	for _, v := range f[11:13] { // utime (14), stime (15)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// percentile returns the p-quantile (0–1) of d by the nearest-rank rule, in
// milliseconds.
func percentileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}
