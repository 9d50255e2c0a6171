package broadcast

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
)

// The Adaptive Card versions accepted: Teams renders up to 1.5 in bot
// messages, on desktop, web and mobile.
var cardVersions = map[string]bool{"1.0": true, "1.1": true, "1.2": true, "1.3": true, "1.4": true, "1.5": true}

// The element and action types of Adaptive Cards up to 1.5 that Teams
// renders. A card with another type would show the user an error (or
// nothing) in place of the message, for every recipient.
var (
	cardElements = setOf("TextBlock", "RichTextBlock", "Image", "Media", "ActionSet", "Container", "ColumnSet",
		"FactSet", "ImageSet", "Table", "Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle", "Input.ChoiceSet")
	cardActions = setOf("Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute")
)

// Bounds of the walk: nesting beyond maxCardDepth is refused (no real card
// nests that deep), and at most maxCardProblems problems are listed.
const (
	maxCardDepth    = 32
	maxCardProblems = 20
)

func validateCard(raw []byte, v *ValidationError) {
	if len(raw) > MaxCardBytes {
		v.add("message.card", "too large: %d bytes, the whole message must stay under 80 KB", len(raw))
		return
	}
	trimmed := bytes.TrimSpace(raw)
	if bytes.Equal(trimmed, []byte("null")) {
		v.add("message.card", "must be an Adaptive Card object, not null")
		return
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		v.add("message.card", "must be a JSON object (an Adaptive Card)")
		return
	}
	// A card decoded with its request passed this scan already; one built
	// in Go did not. It bounds the walks below to MaxJSONDepth.
	if err := checkJSON(trimmed, "message.card"); err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			v.Problems = append(v.Problems, verr.Problems...)
		} else {
			v.add("message.card", "must be a JSON object (an Adaptive Card)")
		}
		return
	}
	var card map[string]any
	if err := json.Unmarshal(trimmed, &card); err != nil {
		v.add("message.card", "must be a JSON object (an Adaptive Card)")
		return
	}
	w := &cardWalker{v: v, start: len(v.Problems)}
	w.card("message.card", card, 0, true)
	w.at = append(w.at, "message.card"...)
	w.texts(card)
}

// cardWalker checks a decoded card, naming each problem by its JSON path.
type cardWalker struct {
	v     *ValidationError
	start int    // problems before the card's
	at    []byte // the path of the value texts is at
}

func (w *cardWalker) full() bool { return len(w.v.Problems)-w.start >= maxCardProblems }

func (w *cardWalker) add(field, format string, args ...any) {
	if w.full() {
		return
	}
	w.v.add(field, format, args...)
	if w.full() {
		w.v.add("message.card", "more problems not listed")
	}
}

// card checks an AdaptiveCard object: the message's own (top) or an
// Action.ShowCard's, whose version is optional.
func (w *cardWalker) card(path string, c map[string]any, depth int, top bool) {
	if c["type"] != "AdaptiveCard" {
		w.add(path+".type", `must be "AdaptiveCard"`)
	}
	switch ver, ok := c["version"].(string); {
	case !ok && top:
		w.add(path+".version", `required, an Adaptive Card schema version such as "1.5"`)
	case ok && !cardVersions[ver]:
		w.add(path+".version", "%q is not a version Teams renders: give 1.0 to 1.5", clip(ver))
	case !ok && c["version"] != nil:
		w.add(path+".version", `must be a string such as "1.5"`)
	}
	body, hasBody := c["body"]
	actions, hasActions := c["actions"]
	if !hasBody && !hasActions {
		w.add(path+".body", "the card has neither body nor actions: it would show nothing")
	}
	if hasBody {
		w.elements(path+".body", body, depth+1)
	}
	if hasActions {
		w.actions(path+".actions", actions, depth+1)
	}
	w.common(path, c, depth)
}

// common checks what cards, containers and columns share.
func (w *cardWalker) common(path string, o map[string]any, depth int) {
	if sa, ok := o["selectAction"]; ok {
		w.action(path+".selectAction", sa, depth+1, "a selectAction")
	}
	if bg, ok := o["backgroundImage"]; ok {
		switch b := bg.(type) {
		case string:
			w.imageURL(path+".backgroundImage", b)
		case map[string]any:
			url, _ := b["url"].(string)
			w.imageURL(path+".backgroundImage.url", url)
		default:
			w.add(path+".backgroundImage", "must be a URL or an object with a url")
		}
	}
}

func (w *cardWalker) deep(path string, depth int) bool {
	if depth > maxCardDepth {
		w.add(path, "nested more than %d levels deep", maxCardDepth)
		return true
	}
	return w.full()
}

func (w *cardWalker) elements(path string, raw any, depth int) {
	list, ok := raw.([]any)
	if !ok {
		w.add(path, "must be an array")
		return
	}
	if w.deep(path, depth) {
		return
	}
	for i, el := range list {
		w.element(fmt.Sprintf("%s[%d]", path, i), el, depth)
	}
}

func (w *cardWalker) element(path string, raw any, depth int) {
	el, ok := raw.(map[string]any)
	if !ok {
		w.add(path, "must be an object (a card element)")
		return
	}
	typ, _ := el["type"].(string)
	if !cardElements[typ] {
		w.unknownType(path, typ, "element", cardElements)
		return
	}
	switch typ {
	case "TextBlock":
		w.markdown(path, ".text", el["text"])
	case "FactSet":
		w.facts(path+".facts", el["facts"])
	case "Image":
		url, _ := el["url"].(string)
		w.imageURL(path+".url", url)
	case "Media":
		w.media(path, el)
	case "Input.Text":
		if ia, ok := el["inlineAction"]; ok {
			w.action(path+".inlineAction", ia, depth+1, "an inlineAction")
		}
	case "Container":
		if items, ok := el["items"]; ok {
			w.elements(path+".items", items, depth+1)
		}
	case "ColumnSet":
		if cols, ok := el["columns"]; ok {
			w.columns(path+".columns", cols, depth+1)
		}
	case "ActionSet":
		w.actions(path+".actions", el["actions"], depth+1)
	case "ImageSet":
		w.images(path+".images", el["images"], depth+1)
	case "Table":
		w.rows(path+".rows", el["rows"], depth+1)
	case "RichTextBlock":
		w.inlines(path+".inlines", el["inlines"], depth+1)
	}
	w.common(path, el, depth)
	if fb, ok := el["fallback"]; ok {
		w.fallback(path+".fallback", fb, depth+1, "an element", w.element)
	}
}

// fallback checks what an element, a column or an action falls back to
// where Teams does not render it: "drop", or another one, checked as
// this one is (what the user sees is the fallback).
func (w *cardWalker) fallback(path string, raw any, depth int, what string, check func(string, any, int)) {
	if s, ok := raw.(string); ok {
		if s != "drop" {
			w.add(path, `must be "drop" or %s, got %q`, what, clip(s))
		}
		return
	}
	if !w.deep(path, depth) {
		check(path, raw, depth)
	}
}

// media checks a Media element's poster and sources: Teams loads both
// over https only.
func (w *cardWalker) media(path string, el map[string]any) {
	if p, ok := el["poster"]; ok {
		url, _ := p.(string)
		w.imageURL(path+".poster", url)
	}
	sources, ok := el["sources"].([]any)
	if !ok || len(sources) == 0 {
		w.add(path+".sources", "required: an array of media sources, each with a url")
		return
	}
	for i, src := range sources {
		p := fmt.Sprintf("%s.sources[%d]", path, i)
		o, ok := src.(map[string]any)
		if !ok {
			w.add(p, "must be an object with a url (a MediaSource)")
			continue
		}
		url, _ := o["url"].(string)
		if !w.full() {
			validateHTTPSURL(w.v, p+".url", url, "media")
		}
	}
}

// facts checks the markdown of a FactSet's titles and values.
func (w *cardWalker) facts(path string, raw any) {
	list, _ := raw.([]any)
	for i, f := range list {
		if o, ok := f.(map[string]any); ok {
			at := "[" + strconv.Itoa(i) + "]"
			w.markdown(path, at+".title", o["title"])
			w.markdown(path, at+".value", o["value"])
		}
	}
}

func (w *cardWalker) columns(path string, raw any, depth int) {
	list, ok := raw.([]any)
	if !ok {
		w.add(path, "must be an array")
		return
	}
	if w.deep(path, depth) {
		return
	}
	for i, c := range list {
		w.column(fmt.Sprintf("%s[%d]", path, i), c, depth)
	}
}

func (w *cardWalker) column(path string, raw any, depth int) {
	col, ok := raw.(map[string]any)
	if !ok {
		w.add(path, "must be an object (a Column)")
		return
	}
	if t, ok := col["type"]; ok && t != "Column" {
		w.add(path+".type", `must be "Column"`)
		return
	}
	if items, ok := col["items"]; ok {
		w.elements(path+".items", items, depth+1)
	}
	w.common(path, col, depth)
	if fb, ok := col["fallback"]; ok {
		w.fallback(path+".fallback", fb, depth+1, "a Column", w.column)
	}
}

func (w *cardWalker) images(path string, raw any, depth int) {
	list, ok := raw.([]any)
	if !ok {
		w.add(path, "required: an array of Image elements")
		return
	}
	for i, im := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if o, ok := im.(map[string]any); !ok || o["type"] != "Image" {
			w.add(p, "must be an Image element")
			continue
		}
		w.element(p, im, depth)
	}
}

func (w *cardWalker) rows(path string, raw any, depth int) {
	if raw == nil {
		return
	}
	list, ok := raw.([]any)
	if !ok {
		w.add(path, "must be an array")
		return
	}
	if w.deep(path, depth) {
		return
	}
	for i, r := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		row, ok := r.(map[string]any)
		if !ok {
			w.add(p, "must be an object (a TableRow)")
			continue
		}
		cells, ok := row["cells"].([]any)
		if !ok {
			if row["cells"] != nil {
				w.add(p+".cells", "must be an array")
			}
			continue
		}
		for j, c := range cells {
			cp := fmt.Sprintf("%s.cells[%d]", p, j)
			cell, ok := c.(map[string]any)
			if !ok {
				w.add(cp, "must be an object (a TableCell)")
				continue
			}
			if items, ok := cell["items"]; ok {
				w.elements(cp+".items", items, depth+2)
			}
			w.common(cp, cell, depth+1)
		}
	}
}

func (w *cardWalker) inlines(path string, raw any, depth int) {
	list, ok := raw.([]any)
	if !ok {
		w.add(path, "required: an array of strings or TextRun objects")
		return
	}
	for i, in := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch o := in.(type) {
		case string:
		case map[string]any:
			if o["type"] != "TextRun" {
				w.add(p+".type", `must be "TextRun"`)
				continue
			}
			if sa, ok := o["selectAction"]; ok {
				w.action(p+".selectAction", sa, depth+1, "a selectAction")
			}
		default:
			w.add(p, "must be a string or a TextRun object")
		}
	}
}

func (w *cardWalker) actions(path string, raw any, depth int) {
	list, ok := raw.([]any)
	if !ok {
		w.add(path, "must be an array")
		return
	}
	if w.deep(path, depth) {
		return
	}
	for i, a := range list {
		w.action(fmt.Sprintf("%s[%d]", path, i), a, depth, "")
	}
}

// action checks an action of a list (role empty), or one that stands for
// an element's tap (role "a selectAction", "an inlineAction"), which
// cannot show a card.
func (w *cardWalker) action(path string, raw any, depth int, role string) {
	a, ok := raw.(map[string]any)
	if !ok {
		w.add(path, "must be an object (an action)")
		return
	}
	typ, _ := a["type"].(string)
	if !cardActions[typ] {
		w.unknownType(path, typ, "action", cardActions)
		return
	}
	switch typ {
	case "Action.OpenUrl":
		url, _ := a["url"].(string)
		w.link(path+".url", url)
	case "Action.ShowCard":
		if role != "" {
			w.add(path+".type", "Action.ShowCard cannot be %s", role)
			return
		}
		c, ok := a["card"].(map[string]any)
		if !ok {
			w.add(path+".card", "required: the Adaptive Card to show")
			break
		}
		if !w.deep(path+".card", depth+1) {
			w.card(path+".card", c, depth+1, false)
		}
	}
	if icon, ok := a["iconUrl"]; ok {
		url, _ := icon.(string)
		w.imageURL(path+".iconUrl", url)
	}
	if fb, ok := a["fallback"]; ok {
		w.fallback(path+".fallback", fb, depth+1, "an action", func(p string, fb any, d int) { w.action(p, fb, d, role) })
	}
}

func (w *cardWalker) unknownType(path, typ, what string, known map[string]bool) {
	if typ == "" {
		w.add(path+".type", "required: the %s's type, one of %s", what, list(known))
		return
	}
	w.add(path+".type", "%q is not an %s type Teams renders: use one of %s", clip(typ), what, list(known))
}

func (w *cardWalker) link(field, s string) {
	if !w.full() {
		validateLink(w.v, field, s)
	}
}

func (w *cardWalker) imageURL(field, s string) {
	if !w.full() {
		validateImageURL(w.v, field, s)
	}
}

// markdown checks the links of a property Teams renders as markdown, at
// path+key (joined only when it may have one).
func (w *cardWalker) markdown(path, key string, raw any) {
	if s, ok := raw.(string); ok && mayLink(s) && !w.full() {
		checkMarkdownLinks(w.v, path+key, s)
	}
}

// texts checks every string of the card, keys included (Personalize would
// fill a key too): its placeholders and control characters; the URLs'
// placeholders were refused on their own. The path of the value is kept
// in w.at and made a string only for a problem, so that the walk costs
// time and memory linear in the card's size; checkJSON bounded its depth.
func (w *cardWalker) texts(x any) {
	switch t := x.(type) {
	case string:
		w.text(t)
	case []any:
		for i, e := range t {
			if w.full() {
				return
			}
			n := len(w.at)
			w.at = append(strconv.AppendInt(append(w.at, '['), int64(i), 10), ']')
			w.texts(e)
			w.at = w.at[:n]
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // problems in a stable order
		for _, k := range keys {
			if w.full() {
				return
			}
			w.text(k)
			n := len(w.at)
			w.at = append(append(w.at, '.'), clip(k)...)
			w.texts(t[k])
			w.at = w.at[:n]
		}
	}
}

// text checks one string of the card at w.at.
func (w *cardWalker) text(s string) {
	if w.full() || !strings.Contains(s, "{{") && !hasControl(s, true) {
		return
	}
	field := string(w.at)
	checkControl(w.v, field, s, true)
	checkPlaceholders(w.v, field, s)
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func list(set map[string]bool) string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
