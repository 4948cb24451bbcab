package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

func stateTable(t *testing.T) *usage.Table {
	return buildTable(t,
		row{org: "o1", meter: "m1", date: "2025-06-01", start: "2025-06-01", end: "2025-06-30", usage: 10.5, ipu: 1.25, rate: 0.119, hasRate: true},
		row{org: "o1", meter: "m2", date: "2025-06-02", start: "2025-06-01", end: "2025-06-30", usage: 3, ipu: 0.1},
		row{org: "o2 with, comma", meter: "m1", date: "2025-05-31", usage: 7, ipu: 2.5e-7},
	)
}

func rowsOf(t *usage.Table) []informatica.UsageRow {
	var out []informatica.UsageRow
	t.Each(func(r *informatica.UsageRow) { out = append(out, *r) })
	return out
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	table := stateTable(t)
	h := stateHeader{
		Account: "prod/eu", LoginURL: "https://dm-em.informaticacloud.com", Username: "u",
		LoginOrgID: "o1", Taken: date("2025-06-15T12:00:00Z"), ExportRows: 3, Partial: true,
	}
	if err := saveState(dir, h, table); err != nil {
		t.Fatal(err)
	}
	got, loaded, err := loadState(dir, "prod/eu")
	if err != nil {
		t.Fatal(err)
	}
	if got.Account != h.Account || got.LoginURL != h.LoginURL || got.Username != h.Username || got.LoginOrgID != "o1" ||
		!got.Taken.Equal(h.Taken) || got.ExportRows != 3 || !got.Partial {
		t.Errorf("header = %+v, want %+v", got, h)
	}
	if want, have := rowsOf(table), rowsOf(loaded); !reflect.DeepEqual(want, have) {
		t.Errorf("rows after a round trip:\n got %+v\nwant %+v", have, want)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
		t.Errorf("files in the storage folder = %v, want only the state file", files)
	}
	if _, _, err := loadState(dir, "other"); !errors.Is(err, errNoState) {
		t.Errorf("loading an account with no state: %v, want errNoState", err)
	}
}

// TestStateSurvivesCrashMidWrite: a write that dies before its rename
// leaves a temporary file behind and the previous state in place.
func TestStateSurvivesCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	h := stateHeader{Account: "prod", LoginURL: "https://x", Username: "u", Taken: date("2025-06-15T12:00:00Z")}
	old := stateTable(t)
	if err := saveState(dir, h, old); err != nil {
		t.Fatal(err)
	}
	// A newer write, cut off halfway as a crash would leave it.
	newer := buildTable(t, row{org: "o9", meter: "m9", date: "2025-06-14", usage: 1, ipu: 1})
	if err := saveState(t.TempDir(), h, newer); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(statePath(dir, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(statePath(dir, "prod"))+".123456.tmp")
	if err := os.WriteFile(tmp, full[:len(full)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, loaded, err := loadState(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rowsOf(loaded), rowsOf(old)) {
		t.Errorf("after a crash mid-write the previous state did not load")
	}
}

// TestStateDamageIsAnError: every kind of damaged file is refused with an
// error naming it, never a panic or half a table.
func TestStateDamageIsAnError(t *testing.T) {
	dir := t.TempDir()
	h := stateHeader{Account: "prod", LoginURL: "https://x", Username: "u", Taken: date("2025-06-15T12:00:00Z")}
	if err := saveState(dir, h, stateTable(t)); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(statePath(dir, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"empty":         {},
		"not gzip":      []byte(`{"version":1}`),
		"truncated":     good[:len(good)-12],
		"garbage":       append(append([]byte{}, good[:20]...), strings.Repeat("x", 200)...),
		"other version": gzipped(t, `{"version":99,"account":"prod","days":0}`),
		"missing rows":  gzipped(t, `{"version":1,"account":"prod","days":5}`+"\n"),
		"bad row":       gzipped(t, `{"version":1,"account":"prod","days":1}`+"\n"+`["o","n","t","m","n","s","c","not a date",0,0,1,1,null]`),
		"short row":     gzipped(t, `{"version":1,"account":"prod","days":1}`+"\n"+`["o","n"]`),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(statePath(dir, "prod"), content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, table, err := loadState(dir, "prod")
			if err == nil {
				t.Fatalf("damaged state loaded: %d entries", len(table.Days))
			}
			if !strings.Contains(err.Error(), statePath(dir, "prod")) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestRestartServesStoredState runs an exporter with storage, then a second
// one on the same folder: the second serves the first's data at once, and
// waits for its turn before exporting again.
func TestRestartServesStoredState(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	dir := t.TempDir()
	settings := Settings{Accounts: []AccountSettings{accountFor("prod", f, nil)}, Refresh: refreshSettings(time.Hour)}

	logger, _ := newTestLogger()
	first := New(logger, WithClock(now), WithStorage(dir))
	if err := first.Apply(settings); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the state file", func() bool { _, err := os.Stat(statePath(dir, "prod")); return err == nil })
	firstSamples := samplesOf(t, first).with(usageNames...)
	first.Stop()
	if len(firstSamples) == 0 {
		t.Fatal("no usage after the first refresh")
	}

	exports := f.Calls(fake.EndpointExport)
	logger, logs := newTestLogger()
	second := New(logger, WithClock(now), WithStorage(dir))
	t.Cleanup(second.Stop)
	if err := second.Apply(settings); err != nil {
		t.Fatal(err)
	}
	if !second.Ready() {
		t.Error("not ready although stored state is served")
	}
	assertSamples(t, samplesOf(t, second).with(usageNames...), firstSamples)
	if got := samplesOf(t, second)[key("informatica_up", "account", "prod")]; got != 1 {
		t.Errorf("informatica_up = %v with fresh stored state, want 1", got)
	}
	time.Sleep(100 * time.Millisecond)
	if n := f.Calls(fake.EndpointExport); n != exports {
		t.Errorf("the restarted exporter exported at once although its stored state is younger than refresh.interval")
	}
	if len(logs.Lines("Serving stored state")) != 1 {
		t.Errorf("no log line says stored state is served:\n%s", logs)
	}
}

// TestStaleStoredStateRefreshesAtOnce: state older than refresh.interval is
// served, and an export starts at once.
func TestStaleStoredStateRefreshesAtOnce(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	dir := t.TempDir()
	acct := accountFor("prod", f, nil)
	h := stateHeader{Account: "prod", LoginURL: acct.Client.LoginURL, Username: acct.Client.Username, Taken: now().Add(-2 * time.Hour)}
	if err := saveState(dir, h, stateTable(t)); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, "."+filepath.Base(statePath(dir, "prod"))+".42.tmp")
	if err := os.WriteFile(leftover, []byte("cut off"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger, _ := newTestLogger()
	e := New(logger, WithClock(now), WithStorage(dir))
	t.Cleanup(e.Stop)
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := samplesOf(t, e).withLabel("org_id", "o1"); len(got) == 0 {
		t.Error("stored state is not served before the first refresh")
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("the temporary file of a cut-off write was not removed: %v", err)
	}
	waitFor(t, "an export", func() bool { return f.Calls(fake.EndpointDownload) > 0 })
	waitFor(t, "the stored data to be replaced", func() bool { return len(samplesOf(t, e).withLabel("org_id", "o1")) == 0 })
}

// TestUnusableStoredStateStartsEmpty: a corrupt file, or one stored for
// another login, is a log line and an empty start.
func TestUnusableStoredStateStartsEmpty(t *testing.T) {
	t.Parallel()
	f := startFake(t, fake.Options{}, movingClock())
	acct := accountFor("prod", f, nil)
	for _, c := range []struct {
		name, log string
		write     func(dir string)
	}{
		{"corrupt", "level=warn", func(dir string) { os.WriteFile(statePath(dir, "prod"), []byte("\x1f\x8bnot really"), 0o600) }},
		{"other login", "Ignoring stored state of another login", func(dir string) {
			saveState(dir, stateHeader{Account: "prod", LoginURL: "https://elsewhere.example", Username: acct.Client.Username, Taken: time.Now()}, stateTable(t))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.write(dir)
			logger, logs := newTestLogger()
			e := New(logger, WithClock(func() time.Time { return time.Now() }), WithStorage(dir))
			t.Cleanup(e.Stop)
			// A long poll interval keeps the first refresh from finishing
			// while the test looks at the start.
			refresh := refreshSettings(time.Hour)
			refresh.PollInterval = time.Hour
			if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refresh}); err != nil {
				t.Fatal(err)
			}
			if got := samplesOf(t, e).with(usageNames...); len(got) != 0 {
				t.Errorf("unusable state was served:\n%s", got)
			}
			if len(logs.Lines(c.log)) != 1 {
				t.Errorf("want one log line with %q:\n%s", c.log, logs)
			}
		})
	}
}

// TestStateWrittenAfterRefresh: each successful refresh replaces the file.
func TestStateWrittenAfterRefresh(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f := startFake(t, fake.Options{}, now)
	dir := t.TempDir()
	logger, _ := newTestLogger()
	e := New(logger, WithClock(now), WithStorage(dir))
	t.Cleanup(e.Stop)
	if err := e.Apply(Settings{Accounts: []AccountSettings{accountFor("prod", f, nil)}, Refresh: refreshSettings(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the state file", func() bool { _, err := os.Stat(statePath(dir, "prod")); return err == nil })
	h, table, err := loadState(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	snap := accountNamed(e, "prod").snap.Load()
	if !reflect.DeepEqual(rowsOf(table), rowsOf(snap.table)) {
		t.Error("stored table differs from the served one")
	}
	if h.LoginOrgID != fake.DemoOrgs[0].ID || h.ExportRows != len(f.Served()) || !h.Taken.Equal(snap.taken) {
		t.Errorf("stored header = %+v", h)
	}
}

func samplesOf(t *testing.T, e *Exporter) samples {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	return gatherSamples(t, reg)
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readStateRowReference reads a state row with encoding/json alone, as
// every version of the exporter before stateRowReader did.
func readStateRowReference(line []byte) (informatica.UsageRow, error) {
	var raw [13]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return informatica.UsageRow{}, err
	}
	return parseStateRow(raw)
}

// stateRowSeeds are rows as saveState writes them and rows it never
// writes: escapes, spaces, invalid UTF-8, numbers of every JSON form,
// values of the wrong type, too few or too many fields.
var stateRowSeeds = []string{
	`["o1","Org","Sub","m1","Data Integration","Compute Units","CDI","2025-06-01",1748736000,1751241600,1.25,10.5,0.119]`,
	`["o1","Org","Sub","m1","Data Integration","Compute Units","CDI","2025-06-01",0,0,2.5e-7,3,null]`,
	`["o2 with, comma","Org \u003cb\u003e","","m1","M","","","2025-05-31",0,0,-0,1E+2,1e-400]`,
	`["o1","Zürich ☃","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3]`,
	"[\"o1\",\"bad \xff utf8\",\"Sub\",\"m1\",\"M\",\"S\",\"C\",\"2025-06-01\",0,0,1,2,3]",
	"[\"o1\",\"tab\there\",\"Sub\",\"m1\",\"M\",\"S\",\"C\",\"2025-06-01\",0,0,1,2,3]",
	`["o1","quote \" and \\ backslash","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3]`,
	`[ "o1" , "Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3 ]`,
	"[\"o1\",\"Org\",\"Sub\",\"m1\",\"M\",\"S\",\"C\",\"2025-06-01\",0,0,1,2,3]\r\n",
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3,4]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",1.5,0,1,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",1e3,0,1,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",99999999999999999999,0,1,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",-5,+5,1,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,01,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,1.,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,.5,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,1e999,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,NaN,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,"1",2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2,nul]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-31",0,0,1,2,3]`,
	`["o1","Org","Sub","m1","M","S","C","2025-6-1",0,0,1,2,3]`,
	`["","Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3]`,
	`["o1","Org","Sub","","M","S","C","2025-06-01",0,0,1,2,3]`,
	`[null,"Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3]`,
	`["o1",null,"Sub","m1","M","S","C","2025-06-01",null,null,null,null,null]`,
	`["o1","Org","Sub","m1","M","S","C","2025-06-01",0,0,1,2,3]x`,
	`{"version":1}`,
	``,
	`[`,
}

// FuzzStateRow: stateRowReader reads every line as encoding/json reads it
// (readStateRowReference): the same row, or an error where it errs.
func FuzzStateRow(f *testing.F) {
	for _, s := range stateRowSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		want, wantErr := readStateRowReference(line)
		var rd stateRowReader
		got, err := rd.read(line)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, encoding/json's %v", line, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", line, got, want)
		}
	})
}

// TestStateRowsReadWithoutEncodingJSON: every row saveState writes takes
// stateRowReader's own path, the one a restore of millions of rows can
// afford, and reads back as it was.
func TestStateRowsReadWithoutEncodingJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := buildTable(t,
		row{org: "o1", meter: "m1", date: "2025-06-01", start: "2025-06-01", end: "2025-06-30", usage: 10.5, ipu: 1.25, rate: 0.119, hasRate: true},
		row{org: "o1", meter: "m1", date: "2025-06-02", start: "2025-06-01", end: "2025-06-30", usage: 1e-9, ipu: 123456789.125},
		row{org: "Zürich ☃", meter: "m2", date: "2025-06-02", usage: 0, ipu: -0.5},
	)
	if err := saveState(dir, stateHeader{Account: "prod"}, table); err != nil {
		t.Fatal(err)
	}
	lines, closeFile, err := openStateLines(statePath(dir, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFile()
	var h stateHeader
	if err := lines.decode(&h); err != nil {
		t.Fatal(err)
	}
	var rd stateRowReader
	var got []informatica.UsageRow
	for {
		line, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r, ok := rd.fast(line)
		if !ok {
			t.Fatalf("row %q needs encoding/json", line)
		}
		if want, err := readStateRowReference(line); err != nil || !reflect.DeepEqual(r, want) {
			t.Fatalf("row %q: %+v, encoding/json reads %+v (%v)", line, r, want, err)
		}
		got = append(got, r)
	}
	if want := rowsOf(table); !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", got, want)
	}
}

// TestStateLineTooLong: a state file whose line never ends (damage) is an
// error naming the bound, not a read of the whole file into memory.
func TestStateLineTooLong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := `{"version":1,"account":"prod","days":1}` + "\n" + `["` + strings.Repeat("x", maxStateLine+1)
	if err := os.WriteFile(statePath(dir, "prod"), gzipped(t, long), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadState(dir, "prod")
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("loading a state with an endless line: %v, want an error naming the bound", err)
	}
}

// TestStateLongLine: a line longer than the read buffer (64 KiB) reads
// whole.
func TestStateLongLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := strings.Repeat("long org name ", 10_000)
	table := buildTable(t, row{org: name, meter: "m1", date: "2025-06-01", usage: 1, ipu: 2})
	if err := saveState(dir, stateHeader{Account: "prod"}, table); err != nil {
		t.Fatal(err)
	}
	_, loaded, err := loadState(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if want, have := rowsOf(table), rowsOf(loaded); !reflect.DeepEqual(want, have) {
		t.Errorf("rows after a round trip differ: %d rows, want %d", len(have), len(want))
	}
}
