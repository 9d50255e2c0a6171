package broadcast

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func withMessage(m string) string { return `{"message":` + m + `,"audience":{"allUsers":true}}` }

func cardWithBody(body string) string {
	return `{"card":{"type":"AdaptiveCard","version":"1.5","body":[` + body + `]}}`
}

func cardWithActions(actions string) string {
	return `{"card":{"type":"AdaptiveCard","version":"1.5","body":[],"actions":[` + actions + `]}}`
}

func tmpl(fields string) string { return `{"template":{"title":"Hi",` + fields + `}}` }

// Every problem with a message is refused before anything is queued, with
// the field named by its JSON path and the problem said.
func TestMessageRejects(t *testing.T) {
	t.Parallel()
	buttons := func(n int) string {
		var b []string
		for i := 0; i < n; i++ {
			b = append(b, fmt.Sprintf(`{"title":"B%d","url":"https://contoso.example/%d"}`, i, i))
		}
		return strings.Join(b, ",")
	}
	cases := []struct {
		name, message, field, problem string
	}{
		// The form: exactly one of text (with an optional card), card, template.
		{"nothing", `{}`, "message", "required"},
		{"template and text", `{"text":"hi","template":{"title":"Hi"}}`, "message.template", "one of text, card or template"},
		{"template and card", `{"card":{"type":"AdaptiveCard","version":"1.5","body":[]},"template":{"title":"Hi"}}`, "message.template", "one of"},
		{"text too long", `{"text":"` + strings.Repeat("x", MaxTextBytes+1) + `"}`, "message.text", "too long"},

		// Placeholders: only the profile fields.
		{"unknown placeholder in text", `{"text":"Hi {{firstName}}"}`, "message.text", "unknown placeholder {{firstName}}"},
		{"unknown placeholder lists the known", `{"text":"Hi {{ manager }}"}`, "message.text", "{{displayName}}"},
		{"unknown placeholder in a card", cardWithBody(`{"type":"Container","items":[{"type":"TextBlock","text":"{{employeeId}}"}]}`), "message.card.body[0].items[0].text", "unknown placeholder {{employeeId}}"},
		{"unknown placeholder in a template", tmpl(`"summary":"Dear {{nickname}}"`), "message.template.summary", "{{nickname}}"},
		{"unknown placeholder in a button", tmpl(`"buttons":[{"title":"For {{boss}}","url":"https://contoso.example"}]`), "message.template.buttons[0].title", "{{boss}}"},
		{"placeholder in a URL", tmpl(`"buttons":[{"title":"Me","url":"https://contoso.example/u/{{mail}}"}]`), "message.template.buttons[0].url", "not allowed in URLs"},

		// Templates.
		{"template without title", `{"template":{"summary":"x"}}`, "message.template.title", "required"},
		{"template blank title", `{"template":{"title":"  "}}`, "message.template.title", "required"},
		{"template title too long", `{"template":{"title":"` + strings.Repeat("é", MaxTitleChars+1) + `"}}`, "message.template.title", "at most 256"},
		{"template author too long", tmpl(`"author":"` + strings.Repeat("a", MaxAuthorChars+1) + `"`), "message.template.author", "too long"},
		{"template blank summary", tmpl(`"summary":" \n "`), "message.template.summary", "white space"},
		{"seven buttons", tmpl(`"buttons":[` + buttons(7) + `]`), "message.template.buttons", "7 buttons, at most 6"},
		{"button without title", tmpl(`"buttons":[{"url":"https://contoso.example"}]`), "message.template.buttons[0].title", "required"},
		{"button title too long", tmpl(`"buttons":[{"title":"` + strings.Repeat("b", MaxButtonTitleChars+1) + `","url":"https://contoso.example"}]`), "message.template.buttons[0].title", "at most 64"},
		{"button without url", tmpl(`"buttons":[` + buttons(2) + `,{"title":"x"}]`), "message.template.buttons[2].url", "required"},
		{"button javascript url", tmpl(`"buttons":[{"title":"x","url":"javascript:alert(1)"}]`), "message.template.buttons[0].url", "https://"},
		{"button data url", tmpl(`"buttons":[{"title":"x","url":"data:text/html,<script>"}]`), "message.template.buttons[0].url", "https://"},
		{"button relative url", tmpl(`"buttons":[{"title":"x","url":"/intranet/page"}]`), "message.template.buttons[0].url", "https://"},
		{"button url without host", tmpl(`"buttons":[{"title":"x","url":"https:///path"}]`), "message.template.buttons[0].url", "with a host"},
		{"button url with space", tmpl(`"buttons":[{"title":"x","url":"https://contoso.example/a b"}]`), "message.template.buttons[0].url", "white space"},
		{"button mailto without address", tmpl(`"buttons":[{"title":"x","url":"mailto:hr"}]`), "message.template.buttons[0].url", "address"},
		{"button url too long", tmpl(`"buttons":[{"title":"x","url":"https://contoso.example/` + strings.Repeat("p", MaxURLChars) + `"}]`), "message.template.buttons[0].url", "too long"},
		{"image over http", tmpl(`"imageUrl":"http://contoso.example/a.png"`), "message.template.imageUrl", "https"},
		{"image data URI", tmpl(`"imageUrl":"data:image/png;base64,iVBORw0KGgo="`), "message.template.imageUrl", "https"},
		{"template unknown field", `{"template":{"title":"Hi","subtitle":"x"}}`, "message.template.subtitle", "unknown field"},
		{"template not an object", `{"template":"Hi"}`, "message.template", "object"},

		// Cards: structure, types Teams renders, versions, URLs.
		{"card version 1.6", `{"card":{"type":"AdaptiveCard","version":"1.6","body":[]}}`, "message.card.version", "give 1.0 to 1.5"},
		{"card version a number", `{"card":{"type":"AdaptiveCard","version":1.5,"body":[]}}`, "message.card.version", "required"},
		{"card actions not array", `{"card":{"type":"AdaptiveCard","version":"1.5","actions":{}}}`, "message.card.actions", "array"},
		{"element not object", cardWithBody(`"TextBlock"`), "message.card.body[0]", "must be an object"},
		{"element without type", cardWithBody(`{"text":"hi"}`), "message.card.body[0].type", "required"},
		{"unknown element", cardWithBody(`{"type":"TextBlock","text":"a"},{"type":"Carousel"}`), "message.card.body[1].type", `"Carousel" is not an element type`},
		{"unknown nested element", cardWithBody(`{"type":"ColumnSet","columns":[{"type":"Column","items":[{"type":"Video"}]}]}`), "message.card.body[0].columns[0].items[0].type", "Video"},
		{"column of another type", cardWithBody(`{"type":"ColumnSet","columns":[{"type":"Container"}]}`), "message.card.body[0].columns[0].type", `"Column"`},
		{"unknown action", cardWithActions(`{"type":"Action.Http","url":"https://contoso.example"}`), "message.card.actions[0].type", "Action.Http"},
		{"open url without url", cardWithActions(`{"type":"Action.OpenUrl","title":"Go"}`), "message.card.actions[0].url", "required"},
		{"open url javascript", cardWithActions(`{"type":"Action.OpenUrl","title":"Go","url":"JavaScript:alert(1)"}`), "message.card.actions[0].url", "https://"},
		{"open url in an action set", cardWithBody(`{"type":"ActionSet","actions":[{"type":"Action.OpenUrl","url":"file:///etc/passwd"}]}`), "message.card.body[0].actions[0].url", "https://"},
		{"select action url", cardWithBody(`{"type":"Container","items":[],"selectAction":{"type":"Action.OpenUrl","url":"vbscript:x"}}`), "message.card.body[0].selectAction.url", "https://"},
		{"show card as select action", cardWithBody(`{"type":"Container","items":[],"selectAction":{"type":"Action.ShowCard","card":{"type":"AdaptiveCard","body":[]}}}`), "message.card.body[0].selectAction.type", "cannot be a selectAction"},
		{"show card without card", cardWithActions(`{"type":"Action.ShowCard","title":"More"}`), "message.card.actions[0].card", "required"},
		{"show card's card", cardWithActions(`{"type":"Action.ShowCard","card":{"type":"AdaptiveCard","body":[{"type":"Action.OpenUrl"}]}}`), "message.card.actions[0].card.body[0].type", "not an element type"},
		{"image over http in a card", cardWithBody(`{"type":"Image","url":"http://contoso.example/a.png"}`), "message.card.body[0].url", "https"},
		{"image without url", cardWithBody(`{"type":"Image"}`), "message.card.body[0].url", "required"},
		{"image set of text", cardWithBody(`{"type":"ImageSet","images":[{"type":"TextBlock","text":"x"}]}`), "message.card.body[0].images[0]", "Image element"},
		{"background image data", `{"card":{"type":"AdaptiveCard","version":"1.5","body":[],"backgroundImage":"data:image/png;base64,AAAA"}}`, "message.card.backgroundImage", "https"},
		{"table cell element", cardWithBody(`{"type":"Table","rows":[{"type":"TableRow","cells":[{"type":"TableCell","items":[{"type":"Chart"}]}]}]}`), "message.card.body[0].rows[0].cells[0].items[0].type", "Chart"},
		{"rich text inline", cardWithBody(`{"type":"RichTextBlock","inlines":[{"type":"TextBlock","text":"x"}]}`), "message.card.body[0].inlines[0].type", "TextRun"},
		// Fallbacks: what Teams shows in place of an element or an action is
		// checked as it is.
		{"fallback link", cardWithBody(`{"type":"ActionSet","actions":[],"fallback":{"type":"ActionSet","actions":[{"type":"Action.OpenUrl","url":"javascript:alert(1)"}]}}`), "message.card.body[0].fallback.actions[0].url", "https://"},
		{"fallback unknown element", cardWithBody(`{"type":"TextBlock","text":"a","fallback":{"type":"Carousel"}}`), "message.card.body[0].fallback.type", `"Carousel" is not an element type`},
		{"fallback http image", cardWithBody(`{"type":"Container","items":[{"type":"TextBlock","text":"a","fallback":{"type":"Image","url":"http://contoso.example/a.png"}}]}`), "message.card.body[0].items[0].fallback.url", "https"},
		{"fallback of a fallback", cardWithBody(`{"type":"TextBlock","text":"a","fallback":{"type":"TextBlock","text":"b","fallback":{"type":"Image","url":"data:x"}}}`), "message.card.body[0].fallback.fallback.url", "https"},
		{"submit falls back to javascript", cardWithActions(`{"type":"Action.Submit","title":"Go","fallback":{"type":"Action.OpenUrl","title":"Go","url":"javascript:alert(1)"}}`), "message.card.actions[0].fallback.url", "https://"},
		{"select action falls back to a card", cardWithBody(`{"type":"Container","items":[],"selectAction":{"type":"Action.Submit","fallback":{"type":"Action.ShowCard","card":{"type":"AdaptiveCard","body":[]}}}}`), "message.card.body[0].selectAction.fallback.type", "cannot be a selectAction"},
		{"fallback neither drop nor object", cardWithBody(`{"type":"TextBlock","text":"a","fallback":"hide"}`), "message.card.body[0].fallback", `must be "drop" or an element`},
		{"column fallback", cardWithBody(`{"type":"ColumnSet","columns":[{"type":"Column","items":[],"fallback":{"type":"Column","items":[{"type":"Video"}]}}]}`), "message.card.body[0].columns[0].fallback.items[0].type", "Video"},
		{"fallbacks nested too deep", cardWithBody(strings.Repeat(`{"type":"TextBlock","text":"a","fallback":`, 40) + `"drop"` + strings.Repeat(`}`, 40)), "message.card.body[0]" + strings.Repeat(".fallback", 32), "nested more than 32"},

		// URLs that were checked late or never.
		{"media source javascript", cardWithBody(`{"type":"Media","sources":[{"mimeType":"video/mp4","url":"javascript:alert(1)"}]}`), "message.card.body[0].sources[0].url", "https"},
		{"media source http", cardWithBody(`{"type":"Media","sources":[{"mimeType":"video/mp4","url":"http://contoso.example/v.mp4"}]}`), "message.card.body[0].sources[0].url", "Teams loads media over https only"},
		{"media without sources", cardWithBody(`{"type":"Media","poster":"https://contoso.example/p.png"}`), "message.card.body[0].sources", "required"},
		{"media poster javascript", cardWithBody(`{"type":"Media","poster":"javascript:alert(1)","sources":[{"url":"https://contoso.example/v.mp4"}]}`), "message.card.body[0].poster", "https"},
		{"action icon javascript", cardWithActions(`{"type":"Action.Submit","title":"Go","iconUrl":"javascript:alert(1)"}`), "message.card.actions[0].iconUrl", "https"},
		{"inline action javascript", cardWithBody(`{"type":"Input.Text","id":"q","inlineAction":{"type":"Action.OpenUrl","url":"javascript:alert(1)"}}`), "message.card.body[0].inlineAction.url", "https://"},
		{"inline action shows a card", cardWithBody(`{"type":"Input.Text","id":"q","inlineAction":{"type":"Action.ShowCard","card":{"type":"AdaptiveCard","body":[]}}}`), "message.card.body[0].inlineAction.type", "cannot be an inlineAction"},

		// Markdown links, and a mailto: with one plain address.
		{"markdown link in text", `{"text":"Read [this](javascript:alert(1))"}`, "message.text", "a markdown link's target: must be an https://"},
		{"markdown link hidden by an entity", `{"text":"[x](javascript&#58;alert(1))"}`, "message.text", "markdown link"},
		{"markdown link in angle brackets", `{"text":"[x]( <javascript:alert(1)> )"}`, "message.text", "markdown link"},
		{"markdown autolink", `{"text":"see <javascript:alert(1)>"}`, "message.text", "markdown link"},
		{"markdown link in a summary", tmpl(`"summary":"[x](data:text/html,hi)"`), "message.template.summary", "markdown link"},
		{"markdown link in a title", `{"template":{"title":"[Hi](javascript:x)"}}`, "message.template.title", "markdown link"},
		{"markdown link in the author line", tmpl(`"author":"[HR](vbscript:x)"`), "message.template.author", "markdown link"},
		{"markdown link in a card", cardWithBody(`{"type":"TextBlock","text":"[x](javascript:alert(1))"}`), "message.card.body[0].text", "markdown link"},
		{"markdown link in a fact", cardWithBody(`{"type":"FactSet","facts":[{"title":"a","value":"[x](file:///c:/x)"}]}`), "message.card.body[0].facts[0].value", "markdown link"},
		{"markdown link with a placeholder", `{"text":"[me](https://contoso.example/{{mail}})"}`, "message.text", "placeholders are not allowed in URLs"},
		{"mailto with two addresses", tmpl(`"buttons":[{"title":"x","url":"mailto:hr@contoso.example,ceo@contoso.example"}]`), "message.template.buttons[0].url", "one plain address"},
		{"mailto with a display name", cardWithActions(`{"type":"Action.OpenUrl","url":"mailto:HR<hr@contoso.example>"}`), "message.card.actions[0].url", "one plain address"},
		{"mailto hiding a script", cardWithActions(`{"type":"Action.OpenUrl","url":"mailto:javascript:alert(1)//@contoso.example"}`), "message.card.actions[0].url", "one plain address"},
		{"mailto percent-encoded", `{"text":"[x](mailto:%68r@contoso.example)"}`, "message.text", "one plain address"},

		// Control characters: a line has none, text keeps tabs and line breaks.
		{"NUL in text", `{"text":"hi\u0000there"}`, "message.text", "control character U+0000 at character 3"},
		{"escape in text", `{"text":"\u001b[31mred"}`, "message.text", "U+001B"},
		{"C1 in text", `{"text":"a\u0085b"}`, "message.text", "U+0085"},
		{"NUL in a title", `{"template":{"title":"Hi\u0000"}}`, "message.template.title", "control character"},
		{"line break in a title", `{"template":{"title":"Hi\nthere"}}`, "message.template.title", "a one-line field allows none"},
		{"DEL in a button title", tmpl(`"buttons":[{"title":"Go\u007f","url":"https://contoso.example"}]`), "message.template.buttons[0].title", "U+007F"},
		{"NUL in a card", cardWithBody(`{"type":"TextBlock","text":"hi\u0000"}`), "message.card.body[0].text", "U+0000"},
		{"NUL in a card's key", cardWithBody(`{"type":"TextBlock","text":"hi","x\u0000":1}`), "message.card.body[0]", "U+0000"},

		{"too deep", cardWithBody(strings.Repeat(`{"type":"Container","items":[`, 40) + strings.Repeat(`]}`, 40)), "message.card.body[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items[0].items", "nested more than 32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeCreateRequest(strings.NewReader(withMessage(c.message)))
			require.Error(t, err)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr, "a validation error, got %v", err)
			var fields []string
			for _, p := range verr.Problems {
				fields = append(fields, p.Field)
				if p.Field == c.field && strings.Contains(p.Problem, c.problem) {
					return
				}
			}
			t.Fatalf("no problem %q reported for field %q; got %v (%v)", c.problem, c.field, fields, err)
		})
	}
}

// What Teams renders and what the rules allow is accepted as it is.
func TestMessageAccepts(t *testing.T) {
	t.Parallel()
	for _, m := range []string{
		`{"text":"Hi {{displayName}}, {{ givenName }} {{surname}} <{{mail}}> {{userPrincipalName}} {{jobTitle}} {{department}}"}`,
		`{"text":"literal {{ not a placeholder }} and {single}"}`,
		`{"text":"Read [the policy](https://contoso.example/policy) or [write](mailto:hr@contoso.example).\n\n\tThanks <{{mail}}>"}`,
		`{"text":"summary {{givenName}}","card":{"type":"AdaptiveCard","version":"1.0","body":[{"type":"TextBlock","text":"Hi {{displayName}}"}]}}`,
		`{"template":{"title":"Hi {{givenName}}"}}`,
		tmpl(`"summary":"**Read** <this>","imageUrl":"https://contoso.example/i.png","author":"HR","buttons":[` +
			`{"title":"1","url":"https://a.example"},{"title":"2","url":"http://intranet.contoso/x"},{"title":"3","url":"mailto:hr@contoso.example"},` +
			`{"title":"4","url":"https://a.example/4"},{"title":"5","url":"https://a.example/5"},{"title":"6","url":"HTTPS://A.EXAMPLE/6"}]`),
		`{"card":{"type":"AdaptiveCard","version":"1.5","body":[
			{"type":"Container","items":[{"type":"Image","url":"https://contoso.example/a.png","selectAction":{"type":"Action.OpenUrl","url":"https://contoso.example"}}],
			 "backgroundImage":{"url":"https://contoso.example/bg.png"}},
			{"type":"ColumnSet","columns":[{"items":[{"type":"FactSet","facts":[{"title":"{{department}}","value":"x"}]}]},{"type":"Column","items":[]}]},
			{"type":"ImageSet","images":[{"type":"Image","url":"https://contoso.example/b.png"}]},
			{"type":"Table","columns":[{"width":1}],"rows":[{"type":"TableRow","cells":[{"type":"TableCell","items":[{"type":"TextBlock","text":"c"}]}]}]},
			{"type":"RichTextBlock","inlines":["plain",{"type":"TextRun","text":"run","selectAction":{"type":"Action.Submit"}}]},
			{"type":"ActionSet","actions":[{"type":"Action.ToggleVisibility","targetElements":["x"]},{"type":"Action.Execute","verb":"ack"}]},
			{"type":"Input.Text","id":"c","inlineAction":{"type":"Action.Submit","iconUrl":"https://contoso.example/send.png"}},
			{"type":"Media","poster":"https://contoso.example/p.png","sources":[{"mimeType":"video/mp4","url":"https://contoso.example/v.mp4"}]},
			{"type":"TextBlock","text":"[site](https://contoso.example/a_(b)) [mail](<mailto:hr@contoso.example?subject=Hi%20there>) <https://contoso.example>\n\tok","fallback":"drop"},
			{"type":"FactSet","facts":[{"title":"**Where**","value":"[map](https://contoso.example/map \"Map\")"}]},
			{"type":"Container","items":[],"fallback":{"type":"TextBlock","text":"older clients"}}],
		 "actions":[{"type":"Action.ShowCard","title":"More","card":{"type":"AdaptiveCard","body":[{"type":"TextBlock","text":"more"}]}},
			{"type":"Action.Execute","verb":"ack","fallback":{"type":"Action.Submit","fallback":"drop"}},
			{"type":"Action.OpenUrl","url":"mailto:first.last+news@mail.contoso.example"}],
		 "msteams":{"width":"Full"}}}`,
	} {
		req, err := DecodeCreateRequest(strings.NewReader(withMessage(m)))
		require.NoError(t, err, m)
		require.NoError(t, req.Message.Validate())
	}
}
