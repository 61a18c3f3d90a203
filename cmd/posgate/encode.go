package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/posgate/posgate/codec"
)

// encodeInput is the JSON decode --json prints, with clear values.
type encodeInput struct {
	Length *int              `json:"length"` // ignored: the length is computed
	TPDU   string            `json:"tpdu"`
	Header string            `json:"header"`
	MTI    string            `json:"mti"`
	Fields map[string]string `json:"fields"`
}

func runEncode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "terminal", "message profile: terminal or upstream")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate encode [--profile terminal|upstream] < message.json")
		fmt.Fprintln(stderr, `Reads {"tpdu":…,"header":…,"mti":"0200","fields":{"3":"000000",…}} (clear values;`)
		fmt.Fprintln(stderr, "binary fields as hex) and prints the message as hex, framed with length, TPDU and")
		fmt.Fprintln(stderr, "header when both are given.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail(stderr, "encode", exitUsage, errors.New("encode takes no arguments; the JSON comes on stdin"))
	}
	p, err := codec.ProfileByName(*profile)
	if err != nil {
		return fail(stderr, "encode", exitUsage, fmt.Errorf("--profile %q: %w", *profile, err))
	}
	dec := json.NewDecoder(io.LimitReader(stdin, 1<<20))
	dec.DisallowUnknownFields()
	var in encodeInput
	if err := dec.Decode(&in); err != nil {
		return fail(stderr, "encode", exitUsage, fmt.Errorf("bad JSON: %w", err))
	}
	out, err := encodeMessage(p, in)
	if err != nil {
		return fail(stderr, "encode", exitUsage, err)
	}
	if _, err := fmt.Fprintf(stdout, "%X\n", out); err != nil {
		return fail(stderr, "encode", exitFail, err)
	}
	return exitOK
}

func encodeMessage(p *codec.Profile, in encodeInput) ([]byte, error) {
	m := codec.NewMessage(p)
	if err := m.SetMTI(in.MTI); err != nil {
		return nil, err
	}
	if len(in.Fields) == 0 {
		return nil, errors.New("no fields")
	}
	for key, val := range in.Fields {
		n, err := strconv.Atoi(key)
		if err != nil || n < 2 || n > 128 {
			return nil, fmt.Errorf("field %q: not a field number 2–128", key)
		}
		spec, ok := p.Field(n)
		if !ok {
			return nil, &codec.FieldError{Field: n, Err: codec.ErrUnknownField}
		}
		if val == codec.RedactedText {
			return nil, &codec.FieldError{Field: n, Err: codec.ErrValueRedacted}
		}
		v := []byte(val)
		if spec.Format == codec.FormatB {
			if v, err = hex.DecodeString(val); err != nil {
				return nil, &codec.FieldError{Field: n, Err: errors.New("binary value is not hex")}
			}
		}
		if err := m.Set(n, v); err != nil {
			return nil, err
		}
	}
	if (in.TPDU == "") != (in.Header == "") {
		return nil, errors.New("tpdu and header go together")
	}
	if in.TPDU == "" {
		return m.Pack(nil)
	}
	if p != codec.Terminal {
		return nil, errors.New("only terminal messages have a TPDU and header")
	}
	var tpdu codec.TPDU
	var hdr codec.Header
	if b, err := hex.DecodeString(in.TPDU); err != nil || len(b) != len(tpdu) {
		return nil, errors.New("tpdu: want 10 hex characters")
	} else {
		copy(tpdu[:], b)
	}
	if b, err := hex.DecodeString(in.Header); err != nil || len(b) != len(hdr) {
		return nil, errors.New("header: want 12 hex characters")
	} else {
		copy(hdr[:], b)
	}
	out, err := codec.AppendFrame(nil, tpdu, hdr, m)
	if err != nil {
		return nil, err
	}
	if _, err := codec.ParseFrame(out[2:]); err != nil { // e.g. a TPDU id other than 0x60
		return nil, err
	}
	return out, nil
}
