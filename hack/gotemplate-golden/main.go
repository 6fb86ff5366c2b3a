// Command gotemplate-golden renders template cases with Ollama's own
// template package (github.com/ollama/ollama/template at the pinned
// version): stdin is a JSON list of {name, template, values}, stdout the
// same list with "output" or "error". Pasture's Go-template renderer is
// tested against these renderings (tests/runtime/gotemplate_golden.json).
package main

import (
	"bytes"
	"encoding/json"
	"os"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/template"
)

type values struct {
	Messages   []api.Message `json:"messages"`
	Tools      api.Tools     `json:"tools"`
	Prompt     string        `json:"prompt"`
	Suffix     string        `json:"suffix"`
	Think      bool          `json:"think"`
	ThinkLevel string        `json:"think_level"`
	IsThinkSet bool          `json:"is_think_set"`
}

type tcase struct {
	Name     string          `json:"name"`
	Template string          `json:"template"`
	Values   json.RawMessage `json:"values"`
	Output   *string         `json:"output,omitempty"`
	Error    *string         `json:"error,omitempty"`
}

func render(c *tcase) {
	var v values
	if err := json.Unmarshal(c.Values, &v); err != nil {
		panic(err)
	}
	t, err := template.Parse(c.Template)
	if err == nil {
		var b bytes.Buffer
		err = t.Execute(&b, template.Values{
			Messages: v.Messages, Tools: v.Tools, Prompt: v.Prompt, Suffix: v.Suffix,
			Think: v.Think, ThinkLevel: v.ThinkLevel, IsThinkSet: v.IsThinkSet,
		})
		if err == nil {
			s := b.String()
			c.Output = &s
			return
		}
	}
	s := err.Error()
	c.Error = &s
}

func main() {
	var cases []*tcase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	for _, c := range cases {
		render(c)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cases); err != nil {
		panic(err)
	}
}
