// Package demo runs the exporter's commands without an Informatica
// account: it starts the simulated Informatica (informatica/fake) on
// loopback and configures one account against it.
package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/config"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// Account is the demo account's settings: the --demo.* flags of serve.
type Account struct {
	Entitlement float64
	CallbackURL string
	Breakdowns  string // comma-separated, as in the breakdowns key
	IPUPrice    float64
	Currency    string
}

// Start starts the simulated Informatica on loopback and returns one
// account configured against it, with fast jobs and a short poll interval so
// that metrics appear within seconds. With a callback URL, polls are a
// minute apart, so that it is the callback that brings the data in seconds.
// The entitlement, the breakdowns and the price are checked as the
// configuration file's are.
func Start(d Account) (*fake.Server, collector.Settings, error) {
	if err := config.CheckEntitlement("--demo.ipu-entitlement", d.Entitlement); err != nil {
		return nil, collector.Settings{}, err
	}
	var kinds []string
	for kind := range strings.SplitSeq(d.Breakdowns, ",") {
		if kind = strings.TrimSpace(kind); kind != "" {
			kinds = append(kinds, kind)
		}
	}
	breakdown, err := config.Breakdowns(kinds)
	if err != nil {
		return nil, collector.Settings{}, fmt.Errorf("--demo.%w", err)
	}
	var price float64
	if d.IPUPrice != 0 {
		if price, err = config.Price(d.IPUPrice, d.Currency); err != nil {
			return nil, collector.Settings{}, fmt.Errorf("--demo.ipu-price and --demo.currency: %w", err)
		}
	}
	f := fake.New(fake.Options{})
	if err := f.Start("127.0.0.1:0"); err != nil {
		return nil, collector.Settings{}, err
	}
	settings := collector.Settings{
		Refresh: collector.RefreshSettings{
			Interval:     5 * time.Minute,
			Lookback:     45 * 24 * time.Hour,
			PollInterval: time.Second,
			JobTimeout:   time.Minute,
			MaxAge:       26 * time.Hour,
		},
		Accounts: []collector.AccountSettings{{
			Name:        "demo",
			Entitlement: &d.Entitlement,
			Breakdown:   breakdown,
			// Every contract source, read once a day; the demo's edition
			// and licence IDs have names.
			Contract: collector.ContractSettings{Sources: collector.ContractSourceNames(), Names: fake.DemoContractNames},
			IPUPrice: price,
			Currency: d.Currency,
			Client: informatica.Config{
				LoginURL: f.URL(),
				Username: f.Username(),
				Password: f.Password(),
			},
		}},
	}
	if price == 0 {
		settings.Accounts[0].Currency = ""
	}
	if d.CallbackURL != "" {
		settings.Accounts[0].Client.CallbackURL = d.CallbackURL
		settings.Refresh.PollInterval, settings.Refresh.JobTimeout = time.Minute, 5*time.Minute
	}
	return f, settings, nil
}
