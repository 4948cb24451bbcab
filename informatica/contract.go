package informatica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Endpoints of the contract reads: an org's licences, the org tree and the
// IPU alert thresholds its administrators set. They label requests like the
// export endpoints do.
const (
	EndpointLicense  = "license"
	EndpointOrg      = "org"
	EndpointIPUAlert = "ipu_alert"
)

const (
	licensePath  = "/public/core/v3/license/org/"
	orgPath      = "/api/v2/org"
	ipuAlertPath = "/public/core/v3/metering/ipuAlert/org"
)

// License is what Informatica holds of one org's licences
// (GET /public/core/v3/license/org/<orgId>): editions and custom licences
// with their expiry, and custom limits. IDs are opaque: Informatica returns
// no names for them.
type License struct {
	OrgID          string
	Editions       []Expiring
	CustomLicenses []Expiring
	Limits         []Limit
}

// Expiring is an edition or a custom licence. Expires is zero when
// Informatica gives no expiration date.
type Expiring struct {
	ID      string
	Type    string // custom licences only: TRIAL, SUBSCRIPTION, FREE, NONE
	Expires time.Time
}

// Limit is a custom limit; Value -1 means no maximum, as documented.
type Limit struct {
	ID    string
	Value float64
}

// Unlimited reports Informatica's "no maximum".
func (l Limit) Unlimited() bool { return l.Value == -1 }

// License reads an org's licences. orgID is the 22-character v3 org ID.
func (c *Client) License(ctx context.Context, orgID string) (License, error) {
	var raw struct {
		ID             string `json:"id"`
		CustomLicenses []struct {
			LicenseDef     string   `json:"licenseDef"`
			LicenseType    string   `json:"licenseType"`
			ExpirationDate jsonTime `json:"expirationDate"`
		} `json:"customLicenses"`
		AssignedEditions []struct {
			Edition        string   `json:"edition"`
			ExpirationDate jsonTime `json:"expirationDate"`
		} `json:"assignedEditions"`
		CustomLimits []struct {
			LimitDefinition string     `json:"limitDefinition"`
			Value           jsonNumber `json:"value"`
		} `json:"customLimits"`
	}
	var body json.RawMessage
	if err := c.getJSON(ctx, EndpointLicense, licensePath+url.PathEscape(orgID), false, &body); err != nil {
		return License{}, fmt.Errorf("read licences of org %s: %w", orgID, err)
	}
	// Documented as one object; a list of one, as the org resource's
	// "list format", is read too.
	if body = bytes.TrimSpace(body); len(body) > 0 && body[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(body, &list); err != nil || len(list) > 1 {
			return License{}, fmt.Errorf("read licences of org %s: response is not the expected JSON (a list of %d)", orgID, len(list))
		}
		body = []byte("{}")
		if len(list) == 1 {
			body = list[0]
		}
	}
	if err := json.Unmarshal(body, &raw); err != nil && !bytes.Equal(body, []byte("null")) {
		return License{}, fmt.Errorf("read licences of org %s: response is not the expected JSON (%w)", orgID, err)
	}
	l := License{OrgID: c.clean(raw.ID)}
	if l.OrgID == "" {
		l.OrgID = orgID
	}
	for _, e := range raw.AssignedEditions {
		if id := c.clean(e.Edition); id != "" {
			l.Editions = append(l.Editions, Expiring{ID: id, Expires: e.ExpirationDate.Time})
		}
	}
	for _, e := range raw.CustomLicenses {
		if id := c.clean(e.LicenseDef); id != "" {
			l.CustomLicenses = append(l.CustomLicenses, Expiring{ID: id, Type: strings.ToUpper(c.clean(e.LicenseType)), Expires: e.ExpirationDate.Time})
		}
	}
	for _, lim := range raw.CustomLimits {
		if id := c.clean(lim.LimitDefinition); id != "" && lim.Value.set {
			l.Limits = append(l.Limits, Limit{ID: id, Value: lim.Value.value})
		}
	}
	return l, nil
}

// Org is one org of the tree the login org sees.
type Org struct {
	// ID is the 22-character org ID that usage rows and the v3 API use,
	// when Informatica gave it; else the v2 ID (6 characters in the v2
	// login's documentation), and ShortID says so.
	ID      string
	ShortID bool
	Name    string
	// ParentID is "" for an org without a parent (v2's parentOrgId "0").
	ParentID string
	DevOrg   bool
}

// OrgTree reads the login org and its sub-orgs (GET /api/v2/org). The
// documentation says the answer is "in list format"; public code reads one
// object: both are read. A sub-org listed only by a short ID is read on its
// own (GET /api/v2/org/<id>) for its long ID; when that fails, it keeps the
// short ID. The login org comes first.
func (c *Client) OrgTree(ctx context.Context) ([]Org, error) {
	top, err := c.readOrgs(ctx, orgPath)
	if err != nil {
		return nil, fmt.Errorf("read the org tree: %w", err)
	}
	if len(top) == 0 {
		return nil, errors.New("read the org tree: the answer holds no org")
	}
	root := top[0]
	orgs := []Org{root.org(c)}
	seen := map[string]bool{orgs[0].ID: true}
	for _, sub := range root.SubOrgs {
		o := Org{ID: c.clean(sub.ID), Name: c.clean(sub.Name), ParentID: orgs[0].ID}
		if o.ID == "" || seen[o.ID] {
			continue
		}
		if !isLongOrgID(o.ID) {
			if full, err := c.readOrgs(ctx, orgPath+"/"+url.PathEscape(o.ID)); err == nil && len(full) > 0 {
				long := full[0].org(c)
				if !long.ShortID {
					o.ID, o.ShortID, o.DevOrg = long.ID, false, long.DevOrg
				} else {
					o.ShortID = true
				}
				if o.Name == "" {
					o.Name = long.Name
				}
			} else {
				o.ShortID = true
			}
		}
		seen[o.ID] = true
		orgs = append(orgs, o)
	}
	return orgs, nil
}

// v2Org is the v2 org object, with the spellings of the org's long ID seen
// in documentation and public code.
type v2Org struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"orgId"`
	OrgUUID     string    `json:"orgUuid"`
	OrgUUIDCaps string    `json:"orgUUID"`
	UUID        string    `json:"uuid"`
	Name        string    `json:"name"`
	ParentOrgID string    `json:"parentOrgId"`
	DevOrg      jsonBool  `json:"devOrg"`
	SubOrgs     []v2Named `json:"subOrgs"`
}

type v2Named struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (o v2Org) org(c *Client) Org {
	out := Org{Name: c.clean(o.Name), DevOrg: o.DevOrg.value}
	for _, id := range []string{o.OrgUUID, o.OrgUUIDCaps, o.UUID, o.OrgID, o.ID} {
		if id = c.clean(strings.TrimSpace(id)); isLongOrgID(id) {
			out.ID = id
			break
		}
	}
	if out.ID == "" {
		out.ID, out.ShortID = c.clean(strings.TrimSpace(firstNonEmpty(o.ID, o.OrgID))), true
	}
	if p := c.clean(strings.TrimSpace(o.ParentOrgID)); p != "0" {
		out.ParentID = p
	}
	return out
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isLongOrgID tells the 22-character org ID of the v3 API and the usage
// files from the v2 API's short one.
func isLongOrgID(id string) bool { return len(id) == 22 }

// readOrgs reads one v2 org answer, an object or a list of them.
func (c *Client) readOrgs(ctx context.Context, path string) ([]v2Org, error) {
	var raw json.RawMessage
	if err := c.getJSON(ctx, EndpointOrg, path, true, &raw); err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []v2Org
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("response is not the expected JSON (%w)", err)
		}
		return list, nil
	}
	var one v2Org
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("response is not the expected JSON (%w)", err)
	}
	return []v2Org{one}, nil
}

// IPUAlert is the IPU consumption alert an org's administrators set in the
// Metering UI. Informatica e-mails when the org's billing-period
// consumption reaches Threshold: IPUs when Percentage is false, percent of
// the entitlement when it is true.
type IPUAlert struct {
	OrgID      string
	Threshold  float64
	Percentage bool
}

// IPUAlert reads an org's IPU alert threshold
// (GET /public/core/v3/metering/ipuAlert/org('<orgId>')). ok is false when
// no threshold is set: an empty answer or one without thresholdValue (the
// resource exists only once an administrator configured an alert).
func (c *Client) IPUAlert(ctx context.Context, orgID string) (alert IPUAlert, ok bool, err error) {
	var raw json.RawMessage
	path := ipuAlertPath + "('" + url.PathEscape(orgID) + "')"
	if err := c.getJSON(ctx, EndpointIPUAlert, path, false, &raw); err != nil {
		return IPUAlert{}, false, fmt.Errorf("read the IPU alert of org %s: %w", orgID, err)
	}
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return IPUAlert{}, false, fmt.Errorf("read the IPU alert of org %s: response is not the expected JSON (%w)", orgID, err)
		}
		if len(list) == 0 {
			return IPUAlert{}, false, nil
		}
		raw = list[0]
	}
	var a struct {
		OrgID     string     `json:"orgId"`
		Threshold jsonNumber `json:"thresholdValue"`
		Type      string     `json:"ipuThresholdPrefType"`
	}
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &a); err != nil {
			return IPUAlert{}, false, fmt.Errorf("read the IPU alert of org %s: response is not the expected JSON (%w)", orgID, err)
		}
	}
	if !a.Threshold.set {
		return IPUAlert{}, false, nil
	}
	alert = IPUAlert{OrgID: c.clean(a.OrgID), Threshold: a.Threshold.value}
	if alert.OrgID == "" {
		alert.OrgID = orgID
	}
	switch t := strings.ToUpper(strings.TrimSpace(a.Type)); t {
	case "ABSOLUTE", "":
	case "PERCENTAGE", "PERCENT":
		alert.Percentage = true
	default:
		return IPUAlert{}, false, fmt.Errorf("read the IPU alert of org %s: unknown ipuThresholdPrefType %q", orgID, Shorten(c.clean(t), 40))
	}
	return alert, true, nil
}

// getJSON sends an authenticated GET to the session's API base and decodes
// the JSON answer into v.
func (c *Client) getJSON(ctx context.Context, endpoint, path string, v2 bool, v any) error {
	resp, err := c.call(ctx, request{
		endpoint: endpoint,
		method:   http.MethodGet,
		path:     path,
		accept:   "application/json",
		timeout:  c.cfg.RequestTimeout,
		v2:       v2,
	})
	if err != nil {
		return err
	}
	return c.decodeJSON(resp, v)
}

// jsonTime reads the dates of the licence resource: documented as ISO 8601
// UTC ("2017-11-05T18:01:24Z"); with or without fractional seconds, with an
// offset, a date alone, or Unix milliseconds (a Java Date) are read too.
// null or "" is no date.
type jsonTime struct{ time.Time }

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" || s == `""` {
		return nil
	}
	if s != "" && s[0] != '"' {
		ms, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("date %s is neither a string nor a number", Shorten(s, 40))
		}
		// Seconds before 2286 are below 1e10; milliseconds of any date
		// after 1970-04 are above it.
		if ms < 1e10 {
			ms *= 1000
		}
		t.Time = time.UnixMilli(int64(ms)).UTC()
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	str = strings.TrimSpace(str)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", time.DateOnly} {
		if parsed, err := time.Parse(layout, str); err == nil {
			t.Time = parsed.UTC()
			return nil
		}
	}
	return fmt.Errorf("date %q is not ISO 8601", Shorten(ValidUTF8(str), 40))
}

// jsonNumber reads a number given as a JSON number or a string.
type jsonNumber struct {
	value float64
	set   bool
}

func (n *jsonNumber) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", Shorten(ValidUTF8(s), 40))
	}
	n.value, n.set = v, true
	return nil
}

// jsonBool reads a boolean given as a JSON boolean or a string.
type jsonBool struct{ value bool }

func (v *jsonBool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(string(b)), `"`)) {
	case "true", "1", "yes":
		v.value = true
	case "false", "0", "no", "null", "":
		v.value = false
	default:
		return fmt.Errorf("%s is not a boolean", Shorten(ValidUTF8(string(b)), 40))
	}
	return nil
}
