package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Inline SVG charts, drawn by hand so that report.html needs no script and no network. Every
// element is closed, so the page is also well-formed XML (tested).

const (
	chartW  = 760.0
	chartH  = 300.0
	marginL = 64.0
	marginR = 36.0
	marginT = 30.0
	marginB = 46.0
)

// Colours of the series, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

type point struct{ x, y float64 }

type series struct {
	name   string
	color  string
	dashed bool
	pts    []point
}

type tick struct {
	v     float64
	label string
}

// plot maps data coordinates into the drawing area.
type plot struct {
	x0, x1, y0, y1 float64
}

func (p plot) px(x float64) float64 {
	if p.x1 == p.x0 {
		return marginL
	}
	return marginL + (x-p.x0)/(p.x1-p.x0)*(chartW-marginL-marginR)
}

func (p plot) py(y float64) float64 {
	if p.y1 == p.y0 {
		return chartH - marginB
	}
	return chartH - marginB - (y-p.y0)/(p.y1-p.y0)*(chartH-marginT-marginB)
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || math.IsInf(hi, 0) || math.IsNaN(hi) {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for k := math.Floor(lo / step); len(out) < 50; k++ {
		v := k * step
		out = append(out, v)
		if v >= hi-step*1e-9 {
			break
		}
	}
	return out
}

func numLabel(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func autoTicks(lo, hi float64) []tick {
	var ts []tick
	for _, v := range niceTicks(lo, hi, 6) {
		ts = append(ts, tick{v, numLabel(v)})
	}
	return ts
}

// frame opens an svg element with its title, axes, grid and tick labels.
func frame(b *strings.Builder, title, xLabel, yLabel string, p plot, xt, yt []tick) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img">`,
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%.0f" y="18" class="t">%s</text>`, marginL, html.EscapeString(title))
	for _, t := range yt {
		y := p.py(t.v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="g"/>`, marginL, y, chartW-marginR, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="yl">%s</text>`, marginL-6, y+4, html.EscapeString(t.label))
	}
	for _, t := range xt {
		x := p.px(t.v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="g"/>`, x, marginT, x, chartH-marginB)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="xl">%s</text>`, x, chartH-marginB+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="a"/>`, marginL, chartH-marginB, chartW-marginR, chartH-marginB)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="a"/>`, marginL, marginT, marginL, chartH-marginB)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="xt">%s</text>`, (marginL+chartW-marginR)/2, chartH-8, html.EscapeString(xLabel))
	fmt.Fprintf(b, `<text x="14" y="%.1f" class="yt" transform="rotate(-90 14 %.1f)">%s</text>`,
		(marginT+chartH-marginB)/2, (marginT+chartH-marginB)/2, html.EscapeString(yLabel))
}

// legend draws the series names at the top right.
func legend(b *strings.Builder, ss []series) {
	x := chartW - marginR
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		w := 22 + 7*float64(len(s.name))
		x -= w
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="14" x2="%.1f" y2="14" stroke="%s" stroke-width="2"%s/>`, x, x+16, s.color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="18" class="lg">%s</text>`, x+19, html.EscapeString(s.name))
	}
}

// emptyChart is drawn when there is nothing to plot.
func emptyChart(title string) string {
	var b strings.Builder
	p := plot{0, 1, 0, 1}
	frame(&b, title, "", "", p, nil, nil)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="xl">no data</text></svg>`, chartW/2, chartH/2)
	return b.String()
}

// lineChart draws series against shared axes; xt nil means automatic x ticks. The y axis starts
// at 0.
func lineChart(title, xLabel, yLabel string, ss []series, xt []tick) string {
	p := plot{x0: math.Inf(1), x1: math.Inf(-1), y0: 0, y1: 0}
	n := 0
	for _, s := range ss {
		for _, pt := range s.pts {
			p.x0, p.x1 = math.Min(p.x0, pt.x), math.Max(p.x1, pt.x)
			p.y1 = math.Max(p.y1, pt.y)
			n++
		}
	}
	if n == 0 {
		return emptyChart(title)
	}
	if p.x1 == p.x0 {
		p.x1 = p.x0 + 1
	}
	if p.y1 == 0 {
		p.y1 = 1
	}
	yt := autoTicks(0, p.y1*1.05)
	p.y1 = yt[len(yt)-1].v
	if xt == nil {
		xt = autoTicks(p.x0, p.x1)
		xt = clipTicks(xt, p.x0, p.x1)
	}
	var b strings.Builder
	frame(&b, title, xLabel, yLabel, p, xt, yt)
	for _, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		b.WriteString(`<polyline fill="none" stroke-width="1.6" stroke="` + s.color + `"` + dash + ` points="`)
		for i, pt := range s.pts {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", p.px(pt.x), p.py(pt.y))
		}
		b.WriteString(`"/>`)
		if len(s.pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, p.px(s.pts[0].x), p.py(s.pts[0].y), s.color)
		}
	}
	legend(&b, ss)
	b.WriteString(`</svg>`)
	return b.String()
}

func clipTicks(ts []tick, lo, hi float64) []tick {
	out := ts[:0]
	for _, t := range ts {
		if t.v >= lo-1e-9 && t.v <= hi+1e-9 {
			out = append(out, t)
		}
	}
	return out
}

// barChart draws vertical bars, one per label, evenly spaced; every labelEvery-th label is
// printed under its bar.
func barChart(title, xLabel, yLabel string, labels []string, values []float64, labelEvery int) string {
	if len(values) == 0 {
		return emptyChart(title)
	}
	maxV := 0.0
	for _, v := range values {
		maxV = math.Max(maxV, v)
	}
	if maxV == 0 {
		maxV = 1
	}
	yt := autoTicks(0, maxV*1.05)
	p := plot{x0: 0, x1: float64(len(values)), y0: 0, y1: yt[len(yt)-1].v}
	var xt []tick
	if labelEvery < 1 {
		labelEvery = 1
	}
	for i := 0; i < len(labels); i += labelEvery {
		xt = append(xt, tick{float64(i) + 0.5, labels[i]})
	}
	var b strings.Builder
	frame(&b, title, xLabel, yLabel, p, xt, yt)
	bw := (chartW - marginL - marginR) / float64(len(values))
	for i, v := range values {
		x := p.px(float64(i)) + bw*0.1
		y := p.py(v)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
			x, y, bw*0.8, chartH-marginB-y, palette[0], html.EscapeString(labels[i]), numLabel(v))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// hbarChart draws one horizontal bar per label with its value printed at the end.
func hbarChart(title string, labels []string, values []int64, colors []string) string {
	if len(values) == 0 {
		return emptyChart(title)
	}
	rowH := 24.0
	h := marginT + rowH*float64(len(values)) + 12
	var maxV int64 = 1
	for _, v := range values {
		maxV = max(maxV, v)
	}
	left, right := 150.0, 110.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img">`, chartW, h, chartW, h)
	fmt.Fprintf(&b, `<title>%s</title><text x="%.0f" y="18" class="t">%s</text>`, html.EscapeString(title), marginL, html.EscapeString(title))
	for i, v := range values {
		y := marginT + rowH*float64(i)
		w := (chartW - left - right) * float64(v) / float64(maxV)
		c := palette[0]
		if i < len(colors) && colors[i] != "" {
			c = colors[i]
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="yl">%s</text>`, left-8, y+rowH/2+4, html.EscapeString(labels[i]))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, left, y+3, math.Max(w, 1), rowH-6, c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="lg">%d</text>`, left+math.Max(w, 1)+6, y+rowH/2+4, v)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
