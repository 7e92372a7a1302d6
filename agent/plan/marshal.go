package plan

import (
	"bytes"
	"encoding/json"
)

// The plan document as written by MarshalJSON: every field in the order
// of spec/plan-format.md, defaults written out, so that the output is a
// canonical form of the plan.
type (
	jsonPlan struct {
		Name             string            `json:"name"`
		Product          string            `json:"product"`
		State            string            `json:"state"`
		Blacklist        []string          `json:"blacklist,omitempty"`
		Whitelist        []string          `json:"whitelist,omitempty"`
		Timezone         string            `json:"timezone"`
		Window           jsonWindow        `json:"window"`
		PushPeriod       *Period           `json:"push_period,omitempty"`
		Mode             string            `json:"mode"`
		AutoConfirm      []string          `json:"auto_confirm,omitempty"`
		PushActively     bool              `json:"push_actively"`
		RejectionMinutes int               `json:"rejection_minutes"`
		Strategy         jsonStrategy      `json:"strategy"`
		Components       []jsonComponent   `json:"components"`
		Texts            map[string]string `json:"texts,omitempty"`
	}
	jsonWindow struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	jsonStrategy struct {
		Retries      int  `json:"retries"`
		MinSignalDBm *int `json:"min_signal_dbm,omitempty"`
		MinBattery   *int `json:"min_battery,omitempty"`
	}
	jsonComponent struct {
		Type              string   `json:"type"`
		ID                string   `json:"id"`
		Package           string   `json:"package"`
		TargetVersion     string   `json:"target_version"`
		SourceVersion     string   `json:"source_version,omitempty"`
		SpecifiedVersions []string `json:"specified_versions,omitempty"`
		File              string   `json:"file"`
	}
)

// MarshalJSON writes p as a plan document that [Parse] reads back to the
// same plan: all fields, defaults included, in a fixed order, with the
// window in the plan's time zone. Source and Dir are not part of the
// document. It has a value receiver so that a Plan value marshals the same
// as a *Plan.
func (p Plan) MarshalJSON() ([]byte, error) {
	doc := jsonPlan{
		Name:        p.Name,
		Product:     p.Product,
		State:       p.State,
		Blacklist:   p.Blacklist,
		Whitelist:   p.Whitelist,
		Timezone:    p.Timezone,
		PushPeriod:  p.PushPeriod,
		Mode:        p.Mode,
		AutoConfirm: p.AutoConfirm,
		Window: jsonWindow{
			Start: formatWallTime(p.Window.Start, p.Location),
			End:   formatWallTime(p.Window.End, p.Location),
		},
		PushActively:     p.PushActively,
		RejectionMinutes: p.RejectionMinutes,
		Strategy: jsonStrategy{
			Retries:      p.Strategy.Retries,
			MinSignalDBm: p.Strategy.MinSignalDBm,
			MinBattery:   p.Strategy.MinBattery,
		},
		Components: make([]jsonComponent, 0, len(p.Components)),
		Texts:      p.Texts,
	}
	for _, c := range p.Components {
		doc.Components = append(doc.Components, jsonComponent(c))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
