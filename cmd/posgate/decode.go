package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/posgate/posgate/codec"
)

func runDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "terminal", "message profile: terminal or upstream")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate decode [--profile terminal|upstream] [--json] [HEX]")
		fmt.Fprintln(stderr, "Reads hex from HEX or stdin (whitespace ignored). Terminal frames may carry the")
		fmt.Fprintln(stderr, "length prefix, TPDU and header or not; decode detects which.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 1 {
		return fail(stderr, "decode", exitUsage, errors.New("at most one HEX argument"))
	}
	p, err := codec.ProfileByName(*profile)
	if err != nil {
		return fail(stderr, "decode", exitUsage, fmt.Errorf("--profile %q: %w", *profile, err))
	}
	var text []byte
	if fs.NArg() == 1 {
		text = []byte(fs.Arg(0))
	} else if text, err = io.ReadAll(io.LimitReader(stdin, 1<<20)); err != nil {
		return fail(stderr, "decode", exitFail, err)
	}
	raw, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
	if err != nil {
		return fail(stderr, "decode", exitUsage, errors.New("input is not hex"))
	}
	if len(raw) == 0 {
		return fail(stderr, "decode", exitUsage, errors.New("no input"))
	}
	d, err := decodeMessage(p, raw)
	if err != nil {
		return fail(stderr, "decode", exitUsage, err)
	}
	if *asJSON {
		_, err = stdout.Write(d.appendJSON(nil))
	} else {
		err = d.writeTable(stdout)
	}
	if err != nil {
		return fail(stderr, "decode", exitFail, err)
	}
	return exitOK
}

// decoded is a message with its framing parts, as decode prints it.
type decoded struct {
	length       int // -1 when absent
	tpdu, header []byte
	msg          *codec.Message
}

func decodeMessage(p *codec.Profile, raw []byte) (decoded, error) {
	d := decoded{length: -1, msg: codec.NewMessage(p)}
	body := raw
	if p == codec.Terminal {
		parts := codec.Detect(raw)
		switch parts {
		case codec.PartsFramed:
			d.length = int(binary.BigEndian.Uint16(raw))
			body = raw[2:]
			fallthrough
		case codec.PartsTPDU:
			f, err := codec.ParseFrame(body)
			if err != nil {
				return d, err
			}
			d.tpdu, d.header, body = f.TPDU[:], f.Header[:], f.Body
		}
	}
	if err := d.msg.Unpack(body); err != nil {
		if p == codec.Terminal && d.length < 0 && d.tpdu == nil && len(raw) >= 3 && raw[2] == 0x60 {
			// Not a bare message; most likely a framed one whose length prefix does not match.
			return d, fmt.Errorf("length prefix says %d bytes, %d follow", binary.BigEndian.Uint16(raw), len(raw)-2)
		}
		return d, err
	}
	return d, nil
}

// appendJSON writes {"length":N,"tpdu":…,"header":…,"mti":…,"fields":{…}} with fields in
// numeric order and values in display form (masked or redacted where sensitive).
func (d decoded) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if d.length >= 0 {
		b = append(b, `"length":`...)
		b = strconv.AppendInt(b, int64(d.length), 10)
		b = append(b, ',')
	}
	if d.tpdu != nil {
		b = append(b, `"tpdu":"`...)
		b = append(b, strings.ToUpper(hex.EncodeToString(d.tpdu))...)
		b = append(b, `","header":"`...)
		b = append(b, strings.ToUpper(hex.EncodeToString(d.header))...)
		b = append(b, `",`...)
	}
	b = append(b, `"mti":"`...)
	b = append(b, d.msg.MTI()...)
	b = append(b, `","fields":{`...)
	var val []byte
	for n := d.msg.Next(0); n != 0; n = d.msg.Next(n) {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `":`...)
		val = d.msg.AppendDisplay(val[:0], n)
		b = appendJSONString(b, val)
	}
	return append(b, "}}\n"...)
}

// appendJSONString appends v as a JSON string without HTML escaping ("<redacted>" stays
// readable). Invalid UTF-8 (GBK text) becomes U+FFFD, as encoding/json does.
func appendJSONString(b, v []byte) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(string(v)) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

func (d decoded) writeTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	if d.length >= 0 {
		fmt.Fprintf(tw, "length\t\t%d\n", d.length)
	}
	if d.tpdu != nil {
		fmt.Fprintf(tw, "TPDU\t\t%X\n", d.tpdu)
		fmt.Fprintf(tw, "header\t\t%X\n", d.header)
	}
	fmt.Fprintf(tw, "MTI\t\t%s\n", d.msg.MTI())
	p := d.msg.Profile()
	var val []byte
	for n := d.msg.Next(0); n != 0; n = d.msg.Next(n) {
		spec, _ := p.Field(n)
		val = d.msg.AppendDisplay(val[:0], n)
		fmt.Fprintf(tw, "%d\t%s\t%s\n", n, spec.Name, strconv.Quote(string(val)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
