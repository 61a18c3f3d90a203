package admin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/posgate/posgate/adminapi"
)

// writeJSON sends v with status. Admin responses are never cached: some hold activation codes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own wire types are encoded; they always marshal
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeBody decodes the request's JSON body into v: at most limit bytes, one value, no unknown
// fields. An empty body is accepted only when optional (v keeps its zero value). Error messages
// name fields but never echo values.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return badRequest(adminapi.CodeUnsupportedMedia, "request body must be application/json")
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return badRequest(adminapi.CodeBadRequest, "request body is empty")
	}
	if err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return jsonError(err)
		}
		return badRequest(adminapi.CodeBadRequest, "request body must hold one JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a request error without quoting the body.
func jsonError(err error) error {
	var (
		mb *http.MaxBytesError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mb):
		return badRequest(adminapi.CodeTooLarge, "request body larger than "+strconv.FormatInt(mb.Limit, 10)+" bytes")
	case errors.As(err, &te) && te.Field != "":
		return invalidField(te.Field, "has the wrong JSON type (want "+te.Type.String()+")")
	}
	// encoding/json has no typed error for DisallowUnknownFields; its message is stable
	// (`json: unknown field "name"`), and only the field name is taken from it.
	const unknown = `json: unknown field "`
	if s := err.Error(); len(s) > len(unknown) && s[:len(unknown)] == unknown {
		name := s[len(unknown) : len(s)-1]
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		return badRequest(adminapi.CodeBadRequest, "unknown field "+strconv.Quote(name))
	}
	return badRequest(adminapi.CodeBadRequest, "request body is not valid JSON")
}
