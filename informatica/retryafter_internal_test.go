package informatica

import (
	"net/http"
	"testing"
	"time"
)

// TestRetryAfterForms: every form a Retry-After header can take, well
// formed or not. Numbers too large for a time.Duration are the longest
// one, never a wrapped-around short or negative delay.
func TestRetryAfterForms(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.June, 15, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		date  string // the answer's Date header
		want  time.Duration
		ok    bool
	}{
		{"0", "", 0, true},
		{" 30 ", "", 30 * time.Second, true},
		{"9223372036", "", 9223372036 * time.Second, true}, // the most seconds a Duration holds
		{"9223372037", "", maxDuration, true},
		{"18446744074", "", maxDuration, true}, // wrapped to 290ms before
		{"36893488147", "", maxDuration, true}, // wrapped below zero before
		{"99999999999999999999999999", "", maxDuration, true},
		{"-1", "", 0, false},
		{"-18446744074", "", 0, false},
		{"+5", "", 0, false},
		{"1.5", "", 0, false},
		{"1e3", "", 0, false},
		{"soon", "", 0, false},
		// The three HTTP date forms, measured from now without a Date.
		{"Sat, 15 Jun 2024 10:01:30 GMT", "", 90 * time.Second, true},
		{"Saturday, 15-Jun-24 10:01:30 GMT", "", 90 * time.Second, true},
		{"Sat Jun 15 10:01:30 2024", "", 90 * time.Second, true},
		// Measured from the server's Date when there is one.
		{"Sat, 15 Jun 2024 12:01:30 GMT", "Sat, 15 Jun 2024 12:00:00 GMT", 90 * time.Second, true},
		{"Sat, 15 Jun 2024 09:00:00 GMT", "", 0, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", "", maxDuration, true},
		{"Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", 0, true},
	} {
		h := http.Header{"Retry-After": {tc.value}}
		if tc.date != "" {
			h.Set("Date", tc.date)
		}
		got, ok := retryAfter(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Retry-After %q (Date %q) = %v, %v; want %v, %v", tc.value, tc.date, got, ok, tc.want, tc.ok)
		}
	}
}
