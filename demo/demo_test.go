package demo

import (
	"math"
	"strings"
	"testing"
)

// TestStartChecksAsTheConfigDoes: the demo account's settings pass the
// configuration file's rules, and errors name the flag.
func TestStartChecksAsTheConfigDoes(t *testing.T) {
	for _, c := range []struct {
		account Account
		want    string // "" when accepted
	}{
		{Account{Entitlement: 0, Currency: "USD"}, ""},
		{Account{Entitlement: 15000, Breakdowns: "asset, task", IPUPrice: 0.5, Currency: "EUR"}, ""},
		{Account{Entitlement: -5}, "--demo.ipu-entitlement: -5 is not a number of IPUs >= 0"},
		{Account{Entitlement: math.Inf(1)}, "--demo.ipu-entitlement: +Inf"},
		{Account{Breakdowns: "asset,tasks"}, `--demo.breakdowns: "tasks" is not a breakdown`},
		{Account{IPUPrice: -1, Currency: "USD"}, "--demo.ipu-price and --demo.currency: ipu_price: -1 is not a price > 0"},
		{Account{IPUPrice: 1, Currency: "usd"}, `--demo.ipu-price and --demo.currency: currency: "usd" is not an active ISO 4217`},
	} {
		f, settings, err := Start(c.account)
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v refused: %v", c.account, err)
				continue
			}
			f.Close()
			if a := settings.Accounts[0]; a.Client.LoginURL != f.URL() || *a.Entitlement != c.account.Entitlement {
				t.Errorf("%+v: account %+v, want one against the simulated Informatica", c.account, a)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%+v: error %v, want %q", c.account, err, c.want)
		}
	}
}
