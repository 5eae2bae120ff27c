package throttle_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/throttle"
)

func ExampleLimiter_Busy() {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	l, err := throttle.New(throttle.Config{BackOff: 3 * time.Second}, ok)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(l)
	defer srv.Close()

	l.Busy(1) // the next request is refused
	for range 2 {
		resp, err := http.Post(srv.URL, "text/xml", nil)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	fmt.Println(l.Refused(), "refused")
	// Output:
	// 500
	// 200
	// 1 refused
}
