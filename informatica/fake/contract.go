package fake

import (
	"net/http"
	"strings"
	"time"
)

// Contract is what the fake's contract resources answer: each org's
// licences and IPU alert, and the shape of the org tree.
type Contract struct {
	// Licenses by org ID; an org without one answers 404.
	Licenses map[string]License
	// LicenseForbidden lists orgs whose licence call answers 403, as for a
	// linked org the login user cannot switch into.
	LicenseForbidden map[string]bool
	// Alerts by org ID; an org without one answers {} (no threshold set).
	Alerts map[string]Alert
	// TreeAsList answers /api/v2/org with a list holding the org ("in
	// list format", as documented) instead of one object (public code).
	TreeAsList bool
	// ShortSubOrgIDs lists sub-orgs in subOrgs by their 6-character v2 ID,
	// so that a client must read each one for its 22-character ID.
	ShortSubOrgIDs bool
	// TreeOrgs are the org IDs in the tree (the login org and its
	// sub-orgs); the other orgs of the data are linked orgs, absent from
	// the tree as the documentation leads to expect. Default: the first
	// two orgs.
	TreeOrgs []string
}

// License is one org's licence answer. Dates are RFC 3339.
type License struct {
	Editions       []Expiring
	CustomLicenses []Expiring
	Limits         map[string]float64
}

// Expiring is an edition or a custom licence with its expiry.
type Expiring struct {
	ID, Type string
	Expires  time.Time
}

// Alert is an org's IPU alert threshold: IPUs, or percent when Percentage.
type Alert struct {
	Threshold  float64
	Percentage bool
}

// DemoContract is the demo's contract relative to now: the production org
// has an edition that expires in 20 days and a percentage IPU alert (80%
// of the entitlement: with the demo's 15000 IPUs, more than the demo data
// reaches in a month), the sub-org no custom licence and an absolute alert
// of 20 IPUs, which its demo usage crosses on the first day of every
// period (at least 40 IPUs, from DemoOrgs and DemoMeters), and the
// sandbox's licence call answers 403.
func DemoContract(now time.Time) *Contract {
	day := now.UTC().Truncate(24 * time.Hour)
	prod, sub, sandbox := DemoOrgs[0].ID, DemoOrgs[1].ID, DemoOrgs[2].ID
	return &Contract{
		Licenses: map[string]License{
			prod: {
				Editions: []Expiring{
					{ID: "4sdvnCrYEjfcKjTvAoigEF", Expires: day.AddDate(0, 0, 20)},
					{ID: "9hTq2LmXw0aZs1PdVbN8Kc", Expires: day.AddDate(1, 0, 0)},
				},
				CustomLicenses: []Expiring{{ID: "a5Xjp3VF3sjcyZUDa6UaWh", Type: "SUBSCRIPTION", Expires: day.AddDate(1, 0, 0)}},
				Limits:         map[string]float64{"09cX4Tmi1qSfrS997ORMYl": -1, "1bYv7RkP3sQw9TzXc2LmNd": 25},
			},
			sub: {Editions: []Expiring{{ID: "4sdvnCrYEjfcKjTvAoigEF", Expires: day.AddDate(0, 0, 200)}}},
		},
		LicenseForbidden: map[string]bool{sandbox: true},
		Alerts: map[string]Alert{
			prod: {Threshold: 80, Percentage: true},
			sub:  {Threshold: 20},
		},
		ShortSubOrgIDs: true,
	}
}

// DemoContractNames are display names of DemoContract's edition and
// licence IDs, as a user maps Informatica's opaque IDs.
var DemoContractNames = map[string]string{
	"4sdvnCrYEjfcKjTvAoigEF": "Advanced Integration",
	"9hTq2LmXw0aZs1PdVbN8Kc": "Data Quality",
	"a5Xjp3VF3sjcyZUDa6UaWh": "IPU subscription",
}

// shortID is the fake's 6-character v2 form of an org ID.
func shortID(id string) string { return id[:min(6, len(id))] }

func (s *Server) contract() *Contract {
	if s.opts.Contract == nil {
		s.opts.Contract = DemoContract(s.opts.Now())
	}
	return s.opts.Contract
}

func (s *Server) handleContract() {
	s.mux.HandleFunc("GET /saas/public/core/v3/license/org/{id}", s.handleLicense)
	s.mux.HandleFunc("GET /saas/api/v2/org", s.handleOrg)
	s.mux.HandleFunc("GET /saas/api/v2/org/{id}", s.handleOrg)
	s.mux.HandleFunc("GET /saas/public/core/v3/metering/ipuAlert/{org}", s.handleIPUAlert)
}

func (s *Server) handleLicense(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointLicense, nil)
	if !s.authorize(w, r) {
		return
	}
	c, id := s.contract(), r.PathValue("id")
	if c.LicenseForbidden[id] {
		writeError(w, http.StatusForbidden, "AUTH_03", "The user does not have access to the organization.")
		return
	}
	l, ok := c.Licenses[id]
	if !ok {
		writeError(w, http.StatusNotFound, "CORE_404", "Organization not found.")
		return
	}
	expiring := func(es []Expiring, idKey string) []map[string]any {
		out := []map[string]any{}
		for _, e := range es {
			m := map[string]any{idKey: e.ID, "expirationDate": e.Expires.UTC().Format(time.RFC3339)}
			if e.Type != "" {
				m["licenseType"] = e.Type
			}
			out = append(out, m)
		}
		return out
	}
	limits := []map[string]any{}
	for id, v := range l.Limits {
		limits = append(limits, map[string]any{"limitDefinition": id, "value": v})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "parentOrg": nil,
		"customLicenses":   expiring(l.CustomLicenses, "licenseDef"),
		"assignedEditions": expiring(l.Editions, "edition"),
		"customLimits":     limits,
	})
}

func (s *Server) handleOrg(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointOrg, nil)
	if !s.authorizeHeader(w, r, "icSessionId") {
		return
	}
	c := s.contract()
	tree := c.TreeOrgs
	if tree == nil {
		for _, o := range s.opts.Orgs[:min(2, len(s.opts.Orgs))] {
			tree = append(tree, o.ID)
		}
	}
	names := map[string]string{}
	for _, o := range s.opts.Orgs {
		names[o.ID] = o.Name
	}
	object := func(id, parent string, subs []string) map[string]any {
		m := map[string]any{
			"@type": "org", "id": shortID(id), "orgId": shortID(id), "orgUuid": id,
			"name": names[id], "parentOrgId": parent, "devOrg": false, "description": "",
		}
		if subs != nil {
			list := []map[string]any{}
			for _, sub := range subs {
				subID := sub
				if c.ShortSubOrgIDs {
					subID = shortID(sub)
				}
				list = append(list, map[string]any{"id": subID, "name": names[sub]})
			}
			m["subOrgs"] = list
		}
		return m
	}
	var answer map[string]any
	if want := r.PathValue("id"); want == "" {
		answer = object(tree[0], "0", tree[1:])
	} else {
		for _, id := range tree[1:] {
			if want == id || want == shortID(id) {
				answer = object(id, shortID(tree[0]), nil)
			}
		}
		if answer == nil {
			writeError(w, http.StatusNotFound, "CORE_404", "Organization not found.")
			return
		}
	}
	if c.TreeAsList {
		writeJSON(w, http.StatusOK, []any{answer})
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Server) handleIPUAlert(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointIPUAlert, nil)
	if !s.authorize(w, r) {
		return
	}
	org, ok := strings.CutPrefix(r.PathValue("org"), "org('")
	org, ok2 := strings.CutSuffix(org, "')")
	if !ok || !ok2 {
		writeError(w, http.StatusBadRequest, "MTR_400", "The org must be given as org('<orgId>').")
		return
	}
	a, ok := s.contract().Alerts[org]
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	kind := "ABSOLUTE"
	if a.Percentage {
		kind = "PERCENTAGE"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"orgName": "", "orgId": org, "parentOrgId": nil,
		"thresholdValue": a.Threshold, "ipuConsumed": 0, "ipuThresholdPrefType": kind,
	})
}
