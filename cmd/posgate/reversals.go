package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/posgate/posgate/adminapi"
)

const reversalsUsage = "reversals [--tid TID] [--rrn RRN] [--txn PREFIX] [--since 24h|RFC3339] [--until RFC3339] [--limit N] [--json]"

// runReversals is `posgate reversals`: the reversals delivered upstream (newest first, kept at
// least 7 days) and those still queued (oldest first), through the admin API.
func runReversals(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newTermCmd("reversals", reversalsUsage, stdin, stdout, stderr)
	c.name = "reversals"
	var req adminapi.ReversalsRequest
	c.fs.StringVar(&req.TID, "tid", "", "only this terminal's reversals")
	c.fs.StringVar(&req.RRN, "rrn", "", "only reversals of the original with this retrieval reference number")
	c.fs.StringVar(&req.Txn, "txn", "", "only reversals whose id starts with this (the original's transaction id)")
	since := c.fs.String("since", "", "delivered (or queued) since: a duration back from now (24h) or an RFC 3339 time")
	until := c.fs.String("until", "", "delivered (or queued) until: an RFC 3339 time")
	c.fs.IntVar(&req.Limit, "limit", 0, "at most this many of each list (default 100, at most 1000)")
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: posgate "+reversalsUsage)
			c.fs.SetOutput(stderr)
			c.fs.PrintDefaults()
			return exitOK
		}
		return fail(stderr, c.name, exitUsage, err)
	}
	if c.fs.NArg() > 0 {
		return fail(stderr, c.name, exitUsage, fmt.Errorf("unexpected argument %q (usage: posgate %s)", c.fs.Arg(0), reversalsUsage))
	}
	now := time.Now()
	var err error
	if req.Since, err = parseSince(*since, now); err != nil {
		return fail(stderr, c.name, exitUsage, err)
	}
	if *until != "" {
		if req.Until, err = time.Parse(time.RFC3339, *until); err != nil {
			return fail(stderr, c.name, exitUsage, fmt.Errorf("--until %q: want an RFC 3339 time such as 2026-03-14T10:00:00Z", *until))
		}
	}
	if req.Limit < 0 || req.Limit > adminapi.MaxReversalsLimit {
		return fail(stderr, c.name, exitUsage, fmt.Errorf("--limit must be 0 (default 100) to %d", adminapi.MaxReversalsLimit))
	}
	cl, err := c.client()
	if err != nil {
		return fail(stderr, c.name, exitUsage, err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	l, err := cl.Reversals(ctx, req)
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(l)
	}
	return printReversals(c, l)
}

// parseSince reads --since: a positive duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a positive duration such as 24h or an RFC 3339 time", s)
}

func printReversals(c *termCmd, l adminapi.ReversalList) int {
	fmt.Fprintf(c.stdout, "delivered: %d (newest first)\n", len(l.Delivered))
	if len(l.Delivered) > 0 {
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERED\tTID\tRRN\tAMOUNT FEN\tROUTE\tREASON\tANSWER\tATTEMPTS\tQUEUED\tID")
		for _, d := range l.Delivered {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s %s\t%d\t%s\t%s\n", fmtTime(&d.DeliveredAt), dash(d.TID), dash(d.RRN),
				d.AmountFen, d.Route, dash(d.Reason), d.MTI, d.ResponseCode, d.Attempts, fmtTime(&d.QueuedAt), d.ID)
		}
		if err := tw.Flush(); err != nil {
			return fail(c.stderr, c.name, exitFail, err)
		}
	}
	fmt.Fprintf(c.stdout, "pending: %d (oldest first)\n", len(l.Pending))
	if len(l.Pending) > 0 {
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "QUEUED\tTID\tRRN\tAMOUNT FEN\tROUTE\tREASON\tALERT\tID")
		for _, p := range l.Pending {
			alert := "-"
			if p.OverBudget {
				alert = "past retry budget"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", fmtTime(&p.QueuedAt), dash(p.TID), dash(p.RRN),
				p.AmountFen, p.Route, dash(p.Reason), alert, p.ID)
		}
		if err := tw.Flush(); err != nil {
			return fail(c.stderr, c.name, exitFail, err)
		}
	}
	return exitOK
}
