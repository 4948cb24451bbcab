package informatica_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// answer serves body with status for every request to one endpoint.
func answer(e *env, endpoint string, status int, body string) {
	e.srv.Inject(fake.Fault{Endpoint: endpoint, Times: 100, Status: status, Body: body})
}

func TestLicense(t *testing.T) {
	t.Parallel()
	prod, sub := fake.DemoOrgs[0].ID, fake.DemoOrgs[1].ID

	t.Run("the fake's demo contract", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		l, err := e.client.License(context.Background(), prod)
		if err != nil {
			t.Fatal(err)
		}
		day := t0.Truncate(24 * time.Hour)
		if l.OrgID != prod || len(l.Editions) != 2 || !l.Editions[0].Expires.Equal(day.AddDate(0, 0, 20)) {
			t.Errorf("licence %+v: want 2 editions, the first expiring 20 days after %s", l, day)
		}
		if len(l.CustomLicenses) != 1 || l.CustomLicenses[0].Type != "SUBSCRIPTION" {
			t.Errorf("custom licences %+v", l.CustomLicenses)
		}
		unlimited := 0
		for _, lim := range l.Limits {
			if lim.Unlimited() {
				unlimited++
			}
		}
		if len(l.Limits) != 2 || unlimited != 1 {
			t.Errorf("limits %+v: want 2, one of them -1 (no maximum)", l.Limits)
		}
		for _, r := range e.requests(fake.EndpointLicense) {
			if r.Path != "/saas/public/core/v3/license/org/"+prod || r.Session == "" {
				t.Errorf("licence request %+v: want the v3 path with INFA-SESSION-ID", r)
			}
		}
		// The sub-org has no custom licence or limit: absent, not an error.
		if l, err := e.client.License(context.Background(), sub); err != nil || len(l.CustomLicenses) != 0 || len(l.Limits) != 0 {
			t.Errorf("sub-org licence %+v, %v", l, err)
		}
	})

	// Forms the documentation shows, and those it leaves open.
	for _, c := range []struct {
		name, body string
		expires    []time.Time // of the editions, then the custom licences
		limits     []float64
	}{
		{
			"documented example",
			`{"id":"1ax3wad2FEsz35asd2892s","parentOrg":null,"customLicenses":[{"licenseType":"SUBSCRIPTION","expirationDate":"2017-11-05T18:01:24Z","licenseDef":"a5Xjp3VF3sjcyZUDa6UaWh"}],"assignedEditions":[{"expirationDate":"2017-11-05T18:01:24Z","edition":"4sdvnCrYEjfcKjTvAoigEF"}],"customLimits":[{"value":-1,"limitDefinition":"09cX4Tmi1qSfrS997ORMYl"}]}`,
			[]time.Time{time.Date(2017, 11, 5, 18, 1, 24, 0, time.UTC), time.Date(2017, 11, 5, 18, 1, 24, 0, time.UTC)},
			[]float64{-1},
		},
		{
			"fractional seconds, an offset, strings for numbers",
			`{"customLicenses":[{"licenseType":"trial","expirationDate":"2027-01-31T23:59:59.123+01:00","licenseDef":"L1"}],"assignedEditions":[{"expirationDate":"2027-02-01T00:00:00.000Z","edition":"E1"}],"customLimits":[{"value":"-1","limitDefinition":"M1"},{"value":"250","limitDefinition":"M2"}]}`,
			[]time.Time{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 31, 22, 59, 59, 123e6, time.UTC)},
			[]float64{-1, 250},
		},
		{
			"epoch milliseconds, a date alone, no date",
			`{"customLicenses":[{"expirationDate":null,"licenseDef":"L1"}],"assignedEditions":[{"expirationDate":1801440000000,"edition":"E1"},{"expirationDate":"2027-02-01","edition":"E2"}]}`,
			[]time.Time{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), {}},
			nil,
		},
		{"empty object", `{}`, nil, nil},
		{
			"a list of one, limits missing",
			`[{"id":"1ax3wad2FEsz35asd2892s","assignedEditions":[{"expirationDate":"2027-02-01T00:00:00Z","edition":"E1"}]}]`,
			[]time.Time{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
			nil,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			answer(e, fake.EndpointLicense, 200, c.body)
			l, err := e.client.License(context.Background(), prod)
			if err != nil {
				t.Fatal(err)
			}
			var got []time.Time
			for _, x := range append(slices.Clone(l.Editions), l.CustomLicenses...) {
				got = append(got, x.Expires)
			}
			if !slices.EqualFunc(got, c.expires, time.Time.Equal) {
				t.Errorf("expiries %v, want %v", got, c.expires)
			}
			var limits []float64
			for _, lim := range l.Limits {
				limits = append(limits, lim.Value)
			}
			if !slices.Equal(limits, c.limits) {
				t.Errorf("limits %v, want %v", limits, c.limits)
			}
			if l.OrgID == "" {
				t.Error("no org ID")
			}
		})
	}
}

// A date or a type the client cannot read fails the read with an error
// naming the value, rather than publish a wrong expiry or threshold.
func TestContractBadValues(t *testing.T) {
	t.Parallel()
	prod := fake.DemoOrgs[0].ID
	e := newEnv(t, fake.Options{}, nil)
	answer(e, fake.EndpointLicense, 200, `{"assignedEditions":[{"expirationDate":"next year","edition":"E1"}]}`)
	if _, err := e.client.License(context.Background(), prod); err == nil || !strings.Contains(err.Error(), `"next year" is not ISO 8601`) {
		t.Errorf("licence with a bad date: %v", err)
	}
	answer(e, fake.EndpointIPUAlert, 200, `{"thresholdValue":10,"ipuThresholdPrefType":"CREDITS"}`)
	if _, _, err := e.client.IPUAlert(context.Background(), prod); err == nil || !strings.Contains(err.Error(), `unknown ipuThresholdPrefType "CREDITS"`) {
		t.Errorf("IPU alert of an unknown type: %v", err)
	}
}

func TestOrgTree(t *testing.T) {
	t.Parallel()
	prod, sub := fake.DemoOrgs[0], fake.DemoOrgs[1]
	for _, c := range []struct {
		name     string
		contract func(*fake.Contract)
		lookups  int // per-sub-org reads
	}{
		{"object, sub-orgs by 6-character ID", func(c *fake.Contract) {}, 1},
		{"list, sub-orgs by 22-character ID", func(c *fake.Contract) { c.TreeAsList, c.ShortSubOrgIDs = true, false }, 0},
		{"list, sub-orgs by 6-character ID", func(c *fake.Contract) { c.TreeAsList = true }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			contract := fake.DemoContract(t0)
			c.contract(contract)
			e := newEnv(t, fake.Options{Contract: contract}, nil)
			orgs, err := e.client.OrgTree(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := []informatica.Org{
				{ID: prod.ID, Name: prod.Name},
				{ID: sub.ID, Name: sub.Name, ParentID: prod.ID},
			}
			if !slices.Equal(orgs, want) {
				t.Errorf("org tree %+v, want %+v", orgs, want)
			}
			reqs := e.requests(fake.EndpointOrg)
			if len(reqs) != 1+c.lookups {
				t.Errorf("%d org requests, want %d", len(reqs), 1+c.lookups)
			}
			for _, r := range reqs {
				if r.Session != "" {
					t.Errorf("org request %s sent INFA-SESSION-ID; the v2 API takes icSessionId", r.Path)
				}
			}
		})
	}

	t.Run("documented fields only: short IDs kept and flagged, parent 0 is none, devOrg as a string", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(
			fake.Fault{Endpoint: fake.EndpointOrg, Status: 200, Body: `{"id":"a1B2c3","orgId":"a1B2c3","name":"Top","parentOrgId":"0","devOrg":"false","subOrgs":[{"id":"d4E5f6","name":"Dev"}]}`},
			fake.Fault{Endpoint: fake.EndpointOrg, Status: 200, Body: `[{"id":"d4E5f6","name":"Dev","parentOrgId":"a1B2c3","devOrg":true}]`},
		)
		orgs, err := e.client.OrgTree(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []informatica.Org{
			{ID: "a1B2c3", ShortID: true, Name: "Top"},
			{ID: "d4E5f6", ShortID: true, Name: "Dev", ParentID: "a1B2c3"},
		}
		if !slices.Equal(orgs, want) {
			t.Errorf("org tree %+v, want %+v", orgs, want)
		}
	})
}

func TestIPUAlert(t *testing.T) {
	t.Parallel()
	prod, sub, sandbox := fake.DemoOrgs[0].ID, fake.DemoOrgs[1].ID, fake.DemoOrgs[2].ID
	e := newEnv(t, fake.Options{}, nil)
	for _, c := range []struct {
		org  string
		want informatica.IPUAlert
		ok   bool
	}{
		{prod, informatica.IPUAlert{OrgID: prod, Threshold: 80, Percentage: true}, true},
		{sub, informatica.IPUAlert{OrgID: sub, Threshold: 20}, true},
		{sandbox, informatica.IPUAlert{}, false},
	} {
		a, ok, err := e.client.IPUAlert(context.Background(), c.org)
		if err != nil || ok != c.ok || a != c.want {
			t.Errorf("org %s: %+v, %v, %v; want %+v, %v", c.org, a, ok, err, c.want, c.ok)
		}
	}
	if r := e.requests(fake.EndpointIPUAlert); len(r) == 0 || r[0].Path != "/saas/public/core/v3/metering/ipuAlert/org('"+prod+"')" {
		t.Errorf("requests %+v: want the documented org('<orgId>') path", r)
	}

	for _, c := range []struct {
		name, body string
		want       informatica.IPUAlert
		ok         bool
	}{
		{
			"documented example", `{"orgName":"Infa","orgId":"3nqii4jGTiLda0M3ympy4E","parentOrgId":null,"thresholdValue":35,"ipuConsumed":100,"ipuThresholdPrefType":"ABSOLUTE"}`,
			informatica.IPUAlert{OrgID: "3nqii4jGTiLda0M3ympy4E", Threshold: 35},
			true,
		},
		{"percentage in a list, value as a string", `[{"thresholdValue":"75","ipuThresholdPrefType":"percentage"}]`, informatica.IPUAlert{OrgID: prod, Threshold: 75, Percentage: true}, true},
		{"null threshold", `{"orgId":"x","thresholdValue":null}`, informatica.IPUAlert{}, false},
		{"empty list", `[]`, informatica.IPUAlert{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			answer(e, fake.EndpointIPUAlert, 200, c.body)
			a, ok, err := e.client.IPUAlert(context.Background(), prod)
			if err != nil || ok != c.ok || a != c.want {
				t.Errorf("%+v, %v, %v; want %+v, %v", a, ok, err, c.want, c.ok)
			}
		})
	}
}

// Every contract read fails cleanly: an error naming the resource, no
// secret, and a session Informatica rejects is renewed once.
func TestContractFaults(t *testing.T) {
	t.Parallel()
	prod := fake.DemoOrgs[0].ID
	reads := map[string]func(*informatica.Client, context.Context) error{
		fake.EndpointLicense: func(c *informatica.Client, ctx context.Context) error {
			_, err := c.License(ctx, prod)
			return err
		},
		fake.EndpointOrg: func(c *informatica.Client, ctx context.Context) error {
			_, err := c.OrgTree(ctx)
			return err
		},
		fake.EndpointIPUAlert: func(c *informatica.Client, ctx context.Context) error {
			_, _, err := c.IPUAlert(ctx, prod)
			return err
		},
	}
	for endpoint, read := range reads {
		t.Run(endpoint, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				name   string
				fault  fake.Fault
				status int    // of the APIError, 0 for none
				substr string // of the error
			}{
				{"403", fake.Fault{Status: 403, Body: `{"error":{"code":"AUTH_03","message":"No privilege."}}`}, 403, "No privilege"},
				{"404", fake.Fault{Status: 404, Body: `{"error":{"code":"CORE_404","message":"Not found."}}`}, 404, "Not found"},
				{"5xx until the last try", fake.Fault{Times: 10, Status: 503, Body: "<html>busy</html>"}, 503, ""},
				{"malformed JSON", fake.Fault{Status: 200, Body: `{"customLicenses":[{`}, 0, "not the expected JSON"},
				{"timeout", fake.Fault{Times: 10, Hang: time.Minute}, 0, ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					e := newEnv(t, fake.Options{}, func(cfg *informatica.Config) {
						cfg.RequestTimeout, cfg.MaxAttempts, cfg.RetryBackoff = 200*time.Millisecond, 2, time.Millisecond
					})
					f := c.fault
					f.Endpoint = endpoint
					if endpoint == fake.EndpointOrg && c.name == "malformed JSON" {
						f.Body = `[{"id":`
					}
					e.srv.Inject(f)
					err := read(e.client, context.Background())
					if err == nil {
						t.Fatal("no error")
					}
					var apiErr *informatica.APIError
					if c.status != 0 && (!errors.As(err, &apiErr) || apiErr.StatusCode != c.status) {
						t.Errorf("error %v, want an APIError with status %d", err, c.status)
					}
					if !strings.Contains(err.Error(), c.substr) || strings.Contains(err.Error(), testPassword) {
						t.Errorf("error %q: want %q in it and no password", err, c.substr)
					}
					for _, id := range e.srv.SessionIDs() {
						if strings.Contains(err.Error(), id) {
							t.Errorf("error %q holds a session ID", err)
						}
					}
				})
			}
			t.Run("401 logs in again", func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{}, nil)
				if err := read(e.client, context.Background()); err != nil {
					t.Fatal(err)
				}
				e.srv.ExpireSessions()
				if err := read(e.client, context.Background()); err != nil {
					t.Fatal(err)
				}
				if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
					t.Errorf("%d logins, want 2", n)
				}
				if got := e.codes(endpoint); !slices.Contains(got, "401") {
					t.Errorf("codes %v, want a 401 answered by a new login", got)
				}
			})
		})
	}
}
