package broadcast

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxJSONDepth bounds the nesting of a request's objects and arrays. A
// card's elements stop at maxCardDepth levels, two JSON levels each, so
// only a body built to exhaust the server comes near it; it is refused
// while the body is scanned, before anything is built from it.
const MaxJSONDepth = 100

// decodeStrict decodes one JSON object into v. The body is scanned first
// (checkJSON), then decoded with unknown fields refused; every error names
// the field by its JSON path. Both passes are linear in the body's size.
//
// The decoder is go-json-experiment/json (encoding/json/v2 outside a
// GOEXPERIMENT): encoding/json keeps the last of duplicate keys, replaces
// invalid UTF-8 silently, names an unknown field without its path and
// matches names case-insensitively.
func decodeStrict(r io.Reader, v any) error {
	body, err := io.ReadAll(r) // the caller bounds r (http.MaxBytesReader)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := checkJSON(body, ""); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return decodeError(err)
	}
	return nil
}

// checkJSON scans data token by token, without building anything: one
// JSON value with nothing after it, valid UTF-8, no object with a key
// twice (readers differ on which one they keep: the validator and Teams
// must see the same card), at most MaxJSONDepth levels. Fields are named
// under root.
func checkJSON(data []byte, root string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return Invalid(orBody(root), "empty: a JSON object is required")
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(data))
	for {
		if _, err := dec.ReadToken(); err != nil {
			return scanError(dec, err, root)
		}
		if dec.StackDepth() > MaxJSONDepth {
			return Invalid(fieldPath(root, dec.StackPointer(), stackIsArray(dec)),
				"nested more than %d levels deep (objects and arrays)", MaxJSONDepth)
		}
		if dec.StackDepth() == 0 {
			break
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return Invalid(orBody(root), "unexpected data after the JSON value")
	}
	return nil
}

// scanError names the field a scan failed at.
func scanError(dec *jsontext.Decoder, err error, root string) error {
	var syn *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return Invalid(orBody(root), "malformed JSON: unexpected end of input")
	case !errors.As(err, &syn):
		return fmt.Errorf("read body: %w", err)
	}
	field := fieldPath(root, syn.JSONPointer, stackIsArray(dec))
	switch {
	case errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return Invalid(field, "given twice: give each key of an object once")
	case syn.Err != nil && strings.Contains(syn.Err.Error(), "UTF-8"): // jsonwire.ErrInvalidUTF8 is internal
		return Invalid(field, "not valid UTF-8")
	case syn.Err != nil && strings.Contains(syn.Err.Error(), "surrogate"):
		return Invalid(field, `not valid Unicode: a \uD800-\uDFFF escape must be half of a surrogate pair`)
	case field == orBody(root):
		return Invalid(field, "malformed JSON at byte %d: %s", syn.ByteOffset, syn.Err)
	}
	return Invalid(orBody(root), "malformed JSON at byte %d, in %s: %s", syn.ByteOffset, clipPath(field), syn.Err)
}

// decodeError names the field a semantic error is about: an unknown field
// or a value of the wrong kind.
func decodeError(err error) error {
	var sem *json.SemanticError
	if !errors.As(err, &sem) {
		var syn *jsontext.SyntacticError
		if errors.As(err, &syn) { // checkJSON passed: only a bug gets here
			return Invalid("body", "malformed JSON at byte %d: %s", syn.ByteOffset, syn.Err)
		}
		return fmt.Errorf("decode body: %w", err)
	}
	field := fieldPath("", sem.JSONPointer, nil)
	switch {
	case errors.Is(sem.Err, json.ErrUnknownName):
		return Invalid(field, "unknown field")
	case sem.Err != nil:
		return Invalid(field, "cannot be decoded: %s", sem.Err)
	case sem.GoType != nil && sem.JSONKind != 0:
		return Invalid(field, "must be %s, not %s", jsonKind(sem.GoType), kindName(sem.JSONKind))
	}
	return Invalid(field, "cannot be decoded")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "true or false"
	}
	return k.String()
}

// stackIsArray tells, for the i-th token of a pointer into what dec has
// read, whether it indexes an array.
func stackIsArray(dec *jsontext.Decoder) func(i int) (isArray, known bool) {
	return func(i int) (bool, bool) {
		if i+1 > dec.StackDepth() {
			return false, false
		}
		kind, _ := dec.StackIndex(i + 1)
		return kind == '[', true
	}
}

// fieldPath renders a JSON Pointer the way errors name fields:
// message.card.body[2].url. isArray tells whether a token indexes an
// array; where it does not know (nil, or past what it saw), a token of
// digits is taken for an index, as no request field is named by digits.
func fieldPath(root string, p jsontext.Pointer, isArray func(i int) (bool, bool)) string {
	b := []byte(root)
	i := 0
	for tok := range p.Tokens() {
		arr, known := false, false
		if isArray != nil {
			arr, known = isArray(i)
		}
		if !known {
			arr = tok != "" && strings.Trim(tok, "0123456789") == ""
		}
		if arr {
			b = append(append(append(b, '['), tok...), ']')
		} else {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, clip(tok)...)
		}
		i++
	}
	if len(b) == 0 {
		return "body"
	}
	return string(b)
}

func orBody(root string) string {
	if root == "" {
		return "body"
	}
	return root
}

// clipPath shortens a long path in a problem's text, keeping its end.
func clipPath(p string) string {
	if len(p) > 200 {
		return "…" + p[len(p)-200:]
	}
	return p
}
