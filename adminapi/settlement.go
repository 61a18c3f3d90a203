package adminapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// PathSettlementRuns lists settlement runs; PathSettlementRuns/{date} is one run (date
// YYYY-MM-DD or YYYYMMDD) and PathSettlementRuns/{date}/files/{name} one of its files
// (merchants.csv, transactions.csv, batches.csv, summary.json).
const PathSettlementRuns = "/v1/settlement/runs"

// SettlementFileInfo describes one file of a run.
type SettlementFileInfo struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	Rows   int64  `json:"rows"`
}

// SettlementSummary is a run's summary.json: amounts in fen, net = gross − refunds − fees.
type SettlementSummary struct {
	BusinessDate       string               `json:"business_date"`
	CutOff             string               `json:"cut_off"`
	Records            int64                `json:"records"`
	Duplicates         int64                `json:"duplicates"`
	Transactions       int64                `json:"transactions"`
	Settled            int64                `json:"settled"`
	Deducted           int64                `json:"deducted"`
	Excluded           int64                `json:"excluded"`
	GrossFen           int64                `json:"gross_fen"`
	RefundsFen         int64                `json:"refunds_fen"`
	FeesFen            int64                `json:"fees_fen"`
	NetFen             int64                `json:"net_fen"`
	Merchants          int64                `json:"merchants"`
	UnknownMerchants   int64                `json:"unknown_merchants"`
	NegativeMerchants  int64                `json:"negative_merchants"`
	Batches            int64                `json:"batches"`
	BatchesNotBalanced int64                `json:"batches_not_balanced"`
	BatchDifferences   int64                `json:"batch_differences"`
	Files              []SettlementFileInfo `json:"files"`
}

// SettlementRun is the record of the latest run of a business date.
type SettlementRun struct {
	BusinessDate string `json:"business_date"`
	// Run numbers the date's runs (1, then re-runs); SettledRun is the first finished final
	// run (0: the date is not settled yet).
	Run        int    `json:"run"`
	SettledRun int    `json:"settled_run,omitempty"`
	State      string `json:"state"` // running, finished, failed
	Open       bool   `json:"open,omitempty"`
	Rerun      bool   `json:"rerun,omitempty"`
	Identical  *bool  `json:"identical,omitempty"`
	Node       string `json:"node,omitempty"`
	// Dir is where the node that ran it wrote the files (they are served by that node).
	Dir           string             `json:"dir,omitempty"`
	StartedAt     string             `json:"started_at"`
	FinishedAt    string             `json:"finished_at,omitempty"`
	Error         string             `json:"error,omitempty"`
	Summary       *SettlementSummary `json:"summary,omitempty"`
	SummarySHA256 string             `json:"summary_sha256,omitempty"`
}

// SettlementRunList is the answer of GET PathSettlementRuns, latest business date first.
type SettlementRunList struct {
	Runs []SettlementRun `json:"runs"`
}

// ListSettlementRuns returns every recorded run, latest business date first.
func (c *Client) ListSettlementRuns(ctx context.Context) (SettlementRunList, error) {
	var l SettlementRunList
	err := c.do(ctx, http.MethodGet, PathSettlementRuns, nil, nil, &l)
	return l, err
}

// GetSettlementRun returns the run of date (YYYY-MM-DD). ErrNotFound if there is none.
func (c *Client) GetSettlementRun(ctx context.Context, date string) (SettlementRun, error) {
	var r SettlementRun
	err := c.do(ctx, http.MethodGet, PathSettlementRuns+"/"+url.PathEscape(date), nil, nil, &r)
	return r, err
}

// SettlementFile copies file name of date's run to w. ErrNotFound if there is no such run or
// file on the node asked.
func (c *Client) SettlementFile(ctx context.Context, date, name string, w io.Writer) error {
	path := PathSettlementRuns + "/" + url.PathEscape(date) + "/files/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("adminapi: GET %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("adminapi: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return responseError(resp.StatusCode, raw)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("adminapi: GET %s: %w", path, err)
	}
	return nil
}
