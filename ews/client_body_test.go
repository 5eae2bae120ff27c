package ews

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadLimited checks readLimited against io.ReadAll of a reader
// limited to one byte past max, for bodies around the limit and the chunk
// size, with declared lengths that are right, short, long or unknown, and
// readers that return a byte at a time or data with io.EOF.
func TestReadLimited(t *testing.T) {
	const max = 3*readChunkBytes + 100
	sizes := []int{0, 1, 7, readChunkBytes - 1, readChunkBytes, readChunkBytes + 1,
		2 * readChunkBytes, max - 1, max, max + 1, max + readChunkBytes}
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"data+EOF": iotest.DataErrReader,
		"half":     iotest.HalfReader,
	}
	for _, n := range sizes {
		body := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, declared := range []int64{-1, int64(n), int64(n) - 1, int64(n) + 1, 0, max, max + 1, maxPreallocBytes + 1} {
			for name, wrap := range readers {
				if name == "one byte" && n > 2*readChunkBytes {
					continue // slow, and the plain reader covers the sizes
				}
				t.Run(fmt.Sprintf("%d/declared=%d/%s", n, declared, name), func(t *testing.T) {
					got, err := readLimited(wrap(bytes.NewReader(body)), declared, max)
					if n > max {
						if !errors.Is(err, ErrResponseTooLarge) || got != nil {
							t.Fatalf("got %d bytes, err %v; want ErrResponseTooLarge", len(got), err)
						}
						return
					}
					if err != nil || !bytes.Equal(got, body) {
						t.Fatalf("got %d bytes (equal %v), err %v; want the %d-byte body", len(got), bytes.Equal(got, body), err, n)
					}
				})
			}
		}
	}
}

// TestReadLimited_ReaderError checks that an error from the body, io.ErrUnexpectedEOF
// included (net/http's for a body shorter than its Content-Length), is
// returned and not taken for the end of the body.
func TestReadLimited_ReaderError(t *testing.T) {
	for _, n := range []int{0, 10, readChunkBytes, readChunkBytes + 10} {
		for _, declared := range []int64{-1, int64(n), int64(n) + 10} {
			for _, want := range []error{io.ErrUnexpectedEOF, iotest.ErrTimeout} {
				r := io.MultiReader(bytes.NewReader(make([]byte, n)), iotest.ErrReader(want))
				got, err := readLimited(r, declared, 1<<20)
				if !errors.Is(err, want) || got != nil {
					t.Errorf("n=%d declared=%d: got %d bytes, err %v; want %v", n, declared, len(got), err, want)
				}
			}
		}
	}
}

// TestReadLimited_MaxInt64 checks that the largest limit does not wrap.
func TestReadLimited_MaxInt64(t *testing.T) {
	const max = int64(^uint64(0) >> 1)
	for _, declared := range []int64{-1, 5} {
		got, err := readLimited(strings.NewReader("hello"), declared, max)
		if err != nil || string(got) != "hello" {
			t.Fatalf("declared=%d: got %q, %v", declared, got, err)
		}
	}
}

// TestClient_LyingContentLength answers with a Content-Length that does
// not match the body, on a raw connection: a shorter body is a network
// error (never a truncated response decoded as if whole), and a longer one
// is read as far as its Content-Length.
func TestClient_LyingContentLength(t *testing.T) {
	valid := readTestdata(t, "getfolder", "legacy.response.xml")
	for _, tc := range []struct {
		name     string
		declared int
		ok       bool
	}{
		{"short body", len(valid) + 100, false},
		{"exact", len(valid), true},
		{"long body", len(valid) - 20, false}, // cut inside the envelope: malformed
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", tc.declared)
				_, _ = buf.Write(valid)
				_ = buf.Flush()
			}))
			defer srv.Close()
			c, _ := New(srv.URL, &Options{Retry: noRetry()})
			_, err := c.GetFolder(context.Background(), GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("err = %v", err)
			case !tc.ok && tc.declared > len(valid):
				var ne *NetworkError
				if !errors.As(err, &ne) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %v, want a *NetworkError wrapping io.ErrUnexpectedEOF", err)
				}
			case !tc.ok && !errors.Is(err, ErrMalformedResponse):
				t.Fatalf("err = %v, want ErrMalformedResponse", err)
			}
		})
	}
}

// BenchmarkReadLimited reads a small answer and a 512-change page's worth
// of bytes with and without a declared length, beside io.ReadAll (what
// readLimited did before) for comparison.
func BenchmarkReadLimited(b *testing.B) {
	for _, n := range []int{2 << 10, 700 << 10} {
		body := bytes.Repeat([]byte("x"), n)
		r := bytes.NewReader(body)
		for _, bc := range []struct {
			name string
			read func() ([]byte, error)
		}{
			{"declared", func() ([]byte, error) { return readLimited(r, int64(n), DefaultMaxResponseBytes) }},
			{"unknown", func() ([]byte, error) { return readLimited(r, -1, DefaultMaxResponseBytes) }},
			{"io.ReadAll", func() ([]byte, error) { return io.ReadAll(io.LimitReader(r, DefaultMaxResponseBytes+1)) }},
		} {
			b.Run(fmt.Sprintf("%dKiB/%s", n>>10, bc.name), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(body)
					if got, err := bc.read(); err != nil || len(got) != n {
						b.Fatal(len(got), err)
					}
				}
			})
		}
	}
}
