package notify

import (
	"strconv"
	"strings"
)

// AffinityCookieName is the cookie Exchange sets on a Subscribe carrying
// X-AnchorMailbox and X-PreferServerAffinity: true, and that later
// subscription requests of the group send back.
const AffinityCookieName = "X-BackEndOverrideCookie"

// AffinityCookie returns the X-BackEndOverrideCookie value that routes to
// backend: "<backend>~<number>", the shape Exchange uses.
func AffinityCookie(backend string) string {
	return backend + "~" + strconv.FormatUint(uint64(dbToken("affinity:"+backend)), 10)
}

// CookieBackend returns the backend an X-BackEndOverrideCookie value routes
// to, and false for a value this server did not issue.
func CookieBackend(v string) (string, bool) {
	i := strings.LastIndexByte(v, '~')
	if i <= 0 || AffinityCookie(v[:i]) != v {
		return "", false
	}
	return v[:i], true
}
