package informatica_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestExportProjectUsage runs PROJECT_FOLDER jobs of at most 30 days
// against the fake and reads back every row it served.
func TestExportProjectUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{}, nil)
	to := e.clock.Now()
	from := day(to.AddDate(0, 0, -45))
	var got []informatica.ProjectRow
	res, err := e.client.ExportProjectUsage(context.Background(), from, to, func(r *informatica.ProjectRow) error {
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.requests(fake.EndpointExport)
	if len(reqs) != 2 || res.Jobs != 2 {
		t.Fatalf("%d export requests for 46 days, want 2 jobs of at most 30 days", len(reqs))
	}
	for _, r := range reqs {
		if !strings.HasSuffix(r.Path, "/public/core/v3/license/metering/ExportMeteringData") ||
			r.Body["jobType"] != "PROJECT_FOLDER" || r.Body["allLinkedOrgs"] != "TRUE" {
			t.Errorf("export request %s %v", r.Path, r.Body)
		}
		start, _ := time.Parse(time.RFC3339, r.Body["startDate"].(string))
		end, _ := time.Parse(time.RFC3339, r.Body["endDate"].(string))
		if end.Sub(start) > 30*24*time.Hour {
			t.Errorf("a job covers %s to %s, more than 30 days", start, end)
		}
	}
	served := e.srv.ServedProjects()
	if len(got) != len(served) || res.Rows != len(served) || len(served) == 0 {
		t.Fatalf("read %d rows (result says %d), the fake served %d", len(got), res.Rows, len(served))
	}
	blank := 0
	for i, s := range served {
		g := got[i]
		if g.OrgID != s.Org.ID || g.OrgType != s.Org.Type || g.Project != s.Project || g.Folder != s.Folder ||
			!g.Date.Equal(s.Date) || g.IPU != s.IPU {
			t.Fatalf("row %d = %+v, served %+v", i, g, s)
		}
		if s.Project == "" {
			blank++
		}
	}
	if blank == 0 {
		t.Error("the fake served no usage of deleted assets; the test does not cover blank projects")
	}
}

func TestReadProjectCSV(t *testing.T) {
	read := func(content string) ([]informatica.ProjectRow, error) {
		var rows []informatica.ProjectRow
		_, err := informatica.ReadProjectCSV("p.csv", strings.NewReader(content), func(r *informatica.ProjectRow) error {
			rows = append(rows, *r)
			return nil
		})
		return rows, err
	}
	rows, err := read("\ufeffConsumption (IPUs),Meter Name,Folder,Project,Org ID,Date,Something New\r\n" +
		"1.5,Data Integration,Daily,\"Finance, ETL\",o1,2025-06-01,x\r\n" +
		"null,Data Integration,,,o1,6/22/2025,\r\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []informatica.ProjectRow{
		{OrgID: "o1", Project: "Finance, ETL", Folder: "Daily", Date: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), IPU: 1.5},
		{OrgID: "o1", Date: time.Date(2025, 6, 22, 0, 0, 0, 0, time.UTC)},
	}
	if len(rows) != 2 || rows[0] != want[0] || rows[1] != want[1] {
		t.Errorf("rows = %+v\nwant %+v", rows, want)
	}
	if rows, err := read("OrgId,Project Name,Date (in UTC),IPU\no2,P,2025-06-01T00:00:00Z,2\n"); err != nil || len(rows) != 1 || rows[0].IPU != 2 {
		t.Errorf("other header spellings: %+v, %v", rows, err)
	}
	for _, c := range []struct{ content, want string }{
		{"Project,Org ID,Consumption (IPUs)\nP,o1,1\n", `column "Date": required column is missing`},
		{"Date,Project,Org ID,Consumption (IPUs)\n2025-06-01,P,o1,lots\n", `line 2, column "Consumption (IPUs)", value "lots": not a finite number`},
		{"Date,Project,Org ID,Consumption (IPUs)\nJune 1st,P,o1,1\n", `line 2, column "Date", value "June 1st"`},
		{"Date,Project,Org ID,Consumption (IPUs)\n2025-06-01,P\n", "line 2: row has 2 fields, the header has 4"},
	} {
		_, err := read(c.content)
		var ce *informatica.CSVError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want a CSVError containing %q", c.content, err, c.want)
		}
	}
}

// TestImplausibleDates: a year before 1970 is bad data in both readers (the
// zero time, year 1, also stands for a missing date).
func TestImplausibleDates(t *testing.T) {
	const header = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
	for _, row := range []string{
		"o,m,M,0001-01-01,,,1,1,S,C,O,T,1\n",
		"o,m,M,2025-06-01,1900-01-01,2025-06-30,1,1,S,C,O,T,1\n",
	} {
		_, err := informatica.ReadUsageCSV("u.csv", strings.NewReader(header+row), func(*informatica.UsageRow) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "not a date between 1970 and 9999") {
			t.Errorf("%q: error %v", row, err)
		}
	}
	_, err := informatica.ReadProjectCSV("p.csv", strings.NewReader("Date,Project,Org ID,IPU\n1969-12-31,P,o,1\n"), func(*informatica.ProjectRow) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not a date between 1970 and 9999") {
		t.Errorf("project row from 1969: error %v", err)
	}
}
