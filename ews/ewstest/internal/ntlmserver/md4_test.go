package ntlmserver

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestMD4_RFC1320(t *testing.T) {
	// The test suite of RFC 1320, appendix A.5.
	tests := []struct{ in, want string }{
		{"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
		{"a", "bde52cb31de33e46245e05fbdbd6fb24"},
		{"abc", "a448017aaf21d8525fc10ae87aa6729d"},
		{"message digest", "d9130a8164549fe818874806e1c7014b"},
		{"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"},
		{strings.Repeat("1234567890", 8), "e33b4ddc9c38f2199c3e7b164fcc0536"},
	}
	for _, tt := range tests {
		got := md4Sum([]byte(tt.in))
		if h := hex.EncodeToString(got[:]); h != tt.want {
			t.Errorf("md4(%q) = %s, want %s", tt.in, h, tt.want)
		}
	}
}

func TestMD4_BlockBoundaries(t *testing.T) {
	// Lengths around the 56/64-byte padding boundaries must not panic and
	// must differ from each other.
	seen := map[[16]byte]int{}
	for n := 50; n < 140; n++ {
		s := md4Sum([]byte(strings.Repeat("x", n)))
		if prev, ok := seen[s]; ok {
			t.Fatalf("md4 of %d and %d bytes collide", prev, n)
		}
		seen[s] = n
	}
}
