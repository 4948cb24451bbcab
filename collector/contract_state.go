package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/informatica"
)

// An account's contract is stored in a file of its own next to its summary,
// written after each run that read something: a few kilobytes, one JSON
// value.

// contractStateVersion changes whenever the stored format does; a file of
// another version is ignored, never misread.
const contractStateVersion = 1

type contractState struct {
	Version  int    `json:"version"`
	Account  string `json:"account"`
	LoginURL string `json:"login_url"`
	Username string `json:"username"`
	// Sources hold the entries of each source by its name, then by org ID.
	Sources map[string]map[string]contractEntry `json:"sources"`
}

// contractStatePath is where an account's contract lives under dir.
// Summary files end in .state.json.gz, breakdowns in .breakdown.json.gz.
func contractStatePath(dir, account string) string {
	return filepath.Join(dir, url.PathEscape(account)+".contract.json.gz")
}

func saveContract(dir string, s contractState, d *contractData) error {
	s.Version, s.Sources = contractStateVersion, map[string]map[string]contractEntry{}
	for i, src := range contractSources {
		if len(d.sources[i]) > 0 {
			s.Sources[src.name] = d.sources[i]
		}
	}
	return writeState(dir, contractStatePath(dir, s.Account), func(enc *json.Encoder) error { return enc.Encode(s) })
}

// loadContract reads an account's stored contract. Any damage is an error
// naming the file: the caller serves none of it.
func loadContract(dir, account string) (contractState, *contractData, error) {
	path := contractStatePath(dir, account)
	lines, closeFile, err := openStateLines(path)
	if err != nil {
		return contractState{}, nil, err
	}
	defer closeFile()
	var s contractState
	if err := lines.decode(&s); err != nil {
		return s, nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if s.Version != contractStateVersion {
		return s, nil, fmt.Errorf("read state %s: version %d, this exporter reads version %d", path, s.Version, contractStateVersion)
	}
	d := &contractData{}
	for name, entries := range s.Sources {
		i := contractSourceIndex(name)
		if i < 0 {
			return s, nil, fmt.Errorf("read state %s: %q is not a contract source", path, name)
		}
		for org, e := range entries {
			if err := e.check(i); org == "" || err != nil {
				return s, nil, fmt.Errorf("read state %s: %s of org %q: %w", path, name, org, cmpErr(err, errors.New("empty org ID")))
			}
		}
		d.sources[i] = entries
	}
	return s, d, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

func contractSourceIndex(name string) int {
	for i, src := range contractSources {
		if src.name == name {
			return i
		}
	}
	return -1
}

// check fails on an entry that cannot be the source's: a stored file is
// no more trusted than Informatica's answers.
func (e *contractEntry) check(i int) error {
	var texts []string
	switch i {
	case srcLicense:
		if e.License == nil {
			return errors.New("no licence")
		}
		for _, l := range append(append([]informatica.Expiring{}, e.License.Editions...), e.License.CustomLicenses...) {
			texts = append(texts, l.ID, l.Type)
		}
		for _, l := range e.License.Limits {
			texts = append(texts, l.ID)
		}
	case srcOrgTree:
		if len(e.Tree) == 0 {
			return errors.New("no org")
		}
		for _, o := range e.Tree {
			texts = append(texts, o.ID, o.Name, o.ParentID)
		}
	}
	for _, t := range texts {
		if !utf8.ValidString(t) {
			return errors.New("text that is not valid UTF-8")
		}
	}
	return nil
}

// persistContract stores the account's contract; a failure costs only the
// restart cache.
func (a *account) persistContract() {
	d := a.contractData()
	if a.storageDir == "" || d == nil {
		return
	}
	s := contractState{Account: a.settings.Name, LoginURL: a.settings.Client.LoginURL, Username: a.settings.Client.Username}
	if err := saveContract(a.storageDir, s, d); err != nil {
		level.Warn(a.logger).Log("msg", "Cannot store the contract; a restart will serve none until it is read again", "err", err)
	}
}

// restoreContract serves the contract stored by an earlier run of the
// exporter with the summary it goes with, and resumes its schedule: each
// org's entry is read again a contract interval after it was taken.
// Entries older than max_age are not served (they stay stored until read
// again), and a contract of another login is ignored.
func (a *account) restoreContract() {
	if len(a.settings.Contract.Sources) == 0 {
		return
	}
	path := contractStatePath(a.storageDir, a.settings.Name)
	removeTempStates(path)
	s, d, err := loadContract(a.storageDir, a.settings.Name)
	switch {
	case errors.Is(err, errNoState):
		return
	case err != nil:
		level.Warn(a.logger).Log("msg", "Ignoring the stored contract", "err", err)
		return
	case s.LoginURL != a.settings.Client.LoginURL || s.Username != a.settings.Client.Username:
		level.Info(a.logger).Log("msg", "Ignoring the stored contract of another login")
		return
	}
	now := a.now()
	a.state.mu.Lock()
	for i, src := range contractSources {
		if !a.settings.Contract.On(src.name) {
			d.sources[i] = nil
			continue
		}
		t := &a.state.contract[i]
		t.attempts, t.causes, t.failing = map[string]time.Time{}, map[string]string{}, map[string]int{}
		for org, e := range d.sources[i] {
			// As with the summary: an entry dated in the future counts as
			// taken now, and is read again at once.
			if e.Taken.After(now) {
				e.Taken = now
				d.sources[i][org] = e
			} else {
				t.attempts[org] = e.Taken
			}
			if e.Taken.After(t.lastSuccess) {
				t.lastSuccess = e.Taken
			}
		}
	}
	a.state.mu.Unlock()
	a.contract.Store(d)
	level.Info(a.logger).Log("msg", "Serving the stored contract", "file", path)
}

// removeContractState deletes the stored contract of an account whose
// contract reads are all off.
func (a *account) removeContractState() {
	if a.storageDir == "" {
		return
	}
	if err := os.Remove(contractStatePath(a.storageDir, a.settings.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		level.Warn(a.logger).Log("msg", "Cannot remove the stored contract", "err", err)
	}
}
