package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// dayConsumedFamily is the metric the backfill writes: one sample per org,
// meter and day, at 00:00 UTC of the day.
var dayConsumedFamily = &dto.MetricFamily{
	Name: proto.String("informatica_ipu_day_consumed_ipus"),
	Help: proto.String("IPUs consumed by an org on a meter during one UTC day; the sample's timestamp is 00:00 UTC of the day."),
	Type: dto.MetricType_GAUGE.Enum(),
}

// MergeExports folds tables read from several exports into one: for the
// orgs a later table holds, the days it covers replace those of earlier
// ones, so that overlapping exports never add up twice.
func MergeExports(tables ...*usage.Table) *usage.Table {
	var merged *usage.Table
	for _, t := range tables {
		from, to := int32(math.MaxInt32), int32(math.MinInt32)
		t.Each(func(r *informatica.UsageRow) {
			d := usage.DayNumber(r.Date)
			from, to = min(from, d), max(to, d)
		})
		merged = usage.Merge(merged, t, usage.Coverage{From: from, To: to}, math.MinInt32)
	}
	if merged == nil {
		merged = usage.NewBuilder().Table()
	}
	return merged
}

// WriteOpenMetrics writes the daily IPU consumption of the tables for the
// days from from to to, inclusive, as OpenMetrics text ending in # EOF, the
// input of `promtool tsdb create-blocks-from openmetrics`. An org that
// several tables hold is written from the first. It returns the number of
// samples written.
func WriteOpenMetrics(w io.Writer, tables []*usage.Table, from, to time.Time) (int, error) {
	// expfmt writes a family's HELP and TYPE before its samples. Series are
	// encoded one at a time, to keep memory flat, so the header is written
	// once and cut from each series' encoding.
	var header, buf bytes.Buffer
	if _, err := expfmt.MetricFamilyToOpenMetrics(&header, dayConsumedFamily); err != nil {
		return 0, err
	}
	if _, err := w.Write(header.Bytes()); err != nil {
		return 0, err
	}
	first, last := usage.DayNumber(from), usage.DayNumber(to)
	written := 0
	var series []*dto.Metric
	var labels []*dto.LabelPair
	var key [2]string
	flush := func() error {
		if len(series) == 0 {
			return nil
		}
		mf := &dto.MetricFamily{Name: dayConsumedFamily.Name, Help: dayConsumedFamily.Help, Type: dayConsumedFamily.Type, Metric: series}
		buf.Reset()
		if _, err := expfmt.MetricFamilyToOpenMetrics(&buf, mf); err != nil {
			return err
		}
		body, ok := bytes.CutPrefix(buf.Bytes(), header.Bytes())
		if !ok {
			return errors.New("OpenMetrics encoder wrote an unexpected family header")
		}
		written += len(series)
		series = series[:0]
		_, err := w.Write(body)
		return err
	}
	owner := map[string]int{} // org ID -> index of the table that writes it
	var err error
	for i, t := range tables {
		t.Each(func(r *informatica.UsageRow) {
			if err != nil {
				return
			}
			if o, seen := owner[r.OrgID]; seen && o != i {
				return
			}
			owner[r.OrgID] = i
			day := usage.DayNumber(r.Date)
			if day < first || day > last {
				return
			}
			if key != [2]string{r.OrgID, r.MeterID} {
				if err = flush(); err != nil {
					return
				}
				key = [2]string{r.OrgID, r.MeterID}
				labels = []*dto.LabelPair{
					{Name: proto.String("meter_id"), Value: proto.String(r.MeterID)},
					{Name: proto.String("meter_name"), Value: proto.String(r.MeterName)},
					{Name: proto.String("org_id"), Value: proto.String(r.OrgID)},
					{Name: proto.String("org_name"), Value: proto.String(r.OrgName)},
				}
			}
			series = append(series, &dto.Metric{
				Label:       labels,
				Gauge:       &dto.Gauge{Value: proto.Float64(r.IPU)},
				TimestampMs: proto.Int64(usage.DayTime(day).UnixMilli()),
			})
		})
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return written, fmt.Errorf("write OpenMetrics: %w", err)
	}
	if _, err := expfmt.FinalizeOpenMetrics(w); err != nil {
		return written, fmt.Errorf("write OpenMetrics: %w", err)
	}
	return written, nil
}
