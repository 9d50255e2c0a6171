package console

import (
	"net/http"
	"net/url"
	"time"

	"github.com/broadcast-dev/broadcast/internal/api"
	"github.com/broadcast-dev/broadcast/internal/engage"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// report is what the broadcast's page charts: the send's outcomes and
// the reads over time, each drawn from the table that is its text
// alternative (report.js), and the department breakdown when asked for:
// it reads every recipient sent the message, so never on every view.
type report struct {
	Deliveries     []deliveryRow
	DeliveryTotals store.DeliveryPoint
	Reads          []readRow
	ReadTotals     engage.Point
	Delivered      int64
	// Since is where the series start: the send's start.
	Since           time.Time
	Departments     []api.DepartmentEngagement
	ShowDepartments bool
	DepartmentsURL  string
}

// deliveryRow and readRow are a bucket of the series; Hour: it counts
// an hour (after the first hour from the start), else a minute.
type deliveryRow struct {
	store.DeliveryPoint
	Hour bool
}

type readRow struct {
	engage.Point
	Hour bool
}

// reportOf reads the engagement report of broadcast id through the API,
// with its department breakdown when r asks for it.
func (c *Console) reportOf(r *http.Request, s *session, id string) (report, *apiError) {
	rp := report{ShowDepartments: r.URL.Query().Get("breakdown") == "department"}
	q := url.Values{}
	if rp.ShowDepartments {
		q.Set("breakdown", "department")
	}
	var er api.EngagementReport
	if e := c.call(r, s, http.MethodGet, "/v1/broadcasts/"+id+"/engagement", q, nil, "", &er); e != nil {
		return rp, e
	}
	rp.Delivered, rp.Departments, rp.Since = er.Delivered, er.Departments, er.Since
	for i, ps := range [][]store.DeliveryPoint{er.Deliveries.Minutes, er.Deliveries.Hours} {
		for _, p := range ps {
			rp.Deliveries = append(rp.Deliveries, deliveryRow{DeliveryPoint: p, Hour: i == 1})
			rp.DeliveryTotals.Sent += p.Sent
			rp.DeliveryTotals.Blocked += p.Blocked
			rp.DeliveryTotals.Failed += p.Failed
		}
	}
	for i, ps := range [][]engage.Point{er.Series.Minutes, er.Series.Hours} {
		for _, p := range ps {
			rp.Reads = append(rp.Reads, readRow{Point: p, Hour: i == 1})
			rp.ReadTotals.Read += p.Read
			rp.ReadTotals.Acknowledged += p.Acknowledged
		}
	}
	q = filters(r, "state", "engagement")
	q.Set("breakdown", "department")
	rp.DepartmentsURL = "/broadcasts/" + url.PathEscape(id) + "?" + q.Encode() + "#departments"
	return rp, nil
}
