package main

import (
	"strings"
	"testing"
)

// TestDemoEntitlementChecked: --demo.ipu-entitlement is refused where
// ipu_entitlement would be.
func TestDemoEntitlementChecked(t *testing.T) {
	for _, v := range []string{"-5", "NaN", "+Inf"} {
		logs := &syncBuffer{}
		stop := make(chan struct{})
		close(stop) // an exporter that starts stops at once
		if code := run([]string{"--demo", "--demo.ipu-entitlement=" + v, "--web.listen-address=127.0.0.1:0"}, logs, hooks{stop: stop}); code != 1 ||
			!strings.Contains(logs.String(), "--demo.ipu-entitlement: "+v) {
			t.Errorf("--demo.ipu-entitlement=%s: exit %d, want 1 naming the flag:\n%s", v, code, logs)
		}
	}
}
